package interop

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchTick is how often a benchmark looks at a syncing node's tip: the
// resolution of the times it reports.
const benchTick = 10 * time.Millisecond

// BenchmarkBtcdSync measures a fresh btcd and a fresh `renga node` each
// syncing the same 5,000-block chain (mined by btcd with `generate`) from a
// btcd source and from a Renga source, side by side in one run. The btcd
// source is the btcd that mined the chain; the Renga source is a `renga
// node` that synced it from that btcd before the timing starts. One
// iteration is one sync of each of the four pairs; the two sources take
// turns going first.
//
// Each sync is timed from the moment a relay in front of the source accepts
// the fresh node's connection to the first look (every benchTick) that
// finds the node at the chain's tip, so start-up of the program is not
// counted, and both sources sit behind the same kind of relay. Reported per
// iteration:
//
//	btcd-from-btcd-s, btcd-from-renga-s     seconds for a fresh btcd
//	renga-from-btcd-s, renga-from-renga-s   seconds for a fresh Renga
//	btcd-ratio    btcd-from-renga-s / btcd-from-btcd-s (the goal: at most 1.1)
//	renga-ratio   renga-from-renga-s / renga-from-btcd-s
//	disconnects   connections dropped during the four syncs (goal: 0), seen by
//	              the relay (a second connection, or one ended before the tip)
//	              or in the syncing node's log
//
// Sub-benchmarks: "empty" is the chain of coinbase-only blocks the issue
// measured; "full" has 12 blocks of about 860 KB among them (see fullChain).
//
//	cd fuzz && go test ./interop/ -run '^$' -bench BtcdSync -benchtime 1x -count 3 -timeout 30m
func BenchmarkBtcdSync(b *testing.B) {
	if testing.Short() {
		b.Skip("interop: builds and runs btcd and renga processes; skipped with -short")
	}
	for _, k := range []chainKind{emptyChain, fullChain} {
		b.Run(k.String(), func(b *testing.B) { benchSync(b, k) })
	}
}

// syncPair is a fresh node of one kind syncing from a source of a kind.
type syncPair struct{ node, source string }

func (p syncPair) String() string { return p.node + "-from-" + p.source }

// syncBench is the sources a benchmark's fresh nodes sync from.
type syncBench struct {
	btcdBin, rengaBin string
	dir, logDir       string // data directories; logs (see logDirFor)
	chain             *minedChain
	relays            map[string]*relay // by source kind
	procs             []*process        // the sources, which must not exit
	runs              int               // fresh nodes started, for their names
}

func benchSync(b *testing.B, k chainKind) {
	btcdBin, rengaBin := buildBinaries(b)
	dir := b.TempDir()
	e := &syncBench{btcdBin: btcdBin, rengaBin: rengaBin, dir: dir,
		logDir: logDirFor(b, dir, fmt.Sprintf("bench-%s-%d", k, time.Now().UnixNano()))}
	e.chain = mineChain(b, btcdBin, k, "btcd-source", filepath.Join(dir, "btcd-source"), filepath.Join(e.logDir, "btcd-source.log"), false)
	r := startRenga(b, rengaBin, rengaConfig{
		name: "renga-source", datadir: filepath.Join(dir, "renga-source"), listen: true,
		connect: e.chain.btcd.p2p, log: filepath.Join(e.logDir, "renga-source.log"),
	})
	dumpLogsOnFailure(b, r.log)
	e.procs = []*process{e.chain.btcd.process, r.process}
	awaitTip(b, "the renga source at the chain's tip", r, e.chain.tip, chainSyncTimeout, pollTick, e.procs...)
	e.relays = map[string]*relay{
		"btcd":  startRelay(b, e.chain.btcd.p2p, 0, 0),
		"renga": startRelay(b, r.p2p, 0, 0),
	}

	pairs := []syncPair{{"btcd", "btcd"}, {"btcd", "renga"}, {"renga", "renga"}, {"renga", "btcd"}}
	flip := func() { pairs[0], pairs[1], pairs[2], pairs[3] = pairs[1], pairs[0], pairs[3], pairs[2] }
	// With -benchtime 1x each call has one iteration: the calls of -count
	// take turns too.
	if shared.benchCalls.Add(1)%2 == 0 {
		flip()
	}
	took := make(map[syncPair][]time.Duration)
	disconnects := 0
	for b.Loop() {
		for _, p := range pairs {
			d, drops := e.syncOnce(b, p)
			took[p] = append(took[p], d)
			disconnects += drops
		}
		flip() // the other source first next time
	}

	mean := func(p syncPair) float64 {
		var sum time.Duration
		for _, d := range took[p] {
			sum += d
		}
		return sum.Seconds() / float64(len(took[p]))
	}
	for _, p := range []syncPair{{"btcd", "btcd"}, {"btcd", "renga"}, {"renga", "btcd"}, {"renga", "renga"}} {
		b.ReportMetric(mean(p), p.String()+"-s")
		b.Logf("%s chain, %v: %v", k, p, took[p])
	}
	b.ReportMetric(mean(syncPair{"btcd", "renga"})/mean(syncPair{"btcd", "btcd"}), "btcd-ratio")
	b.ReportMetric(mean(syncPair{"renga", "renga"})/mean(syncPair{"renga", "btcd"}), "renga-ratio")
	b.ReportMetric(float64(disconnects), "disconnects")
	b.ReportMetric(0, "ns/op") // the time of an iteration includes starting and stopping eight programs
}

// syncOnce starts a fresh node of kind p.node connecting only to the relay
// in front of source p.source, waits until it reaches the chain's tip,
// stops it, and returns how long it took from its connection and how many
// disconnects happened meanwhile.
func (e *syncBench) syncOnce(b *testing.B, p syncPair) (time.Duration, int) {
	b.Helper()
	rel := e.relays[p.source]
	before := len(rel.connections())
	e.runs++
	name := fmt.Sprintf("%v-%d", p, e.runs)
	home := filepath.Join(e.dir, name)
	log := filepath.Join(e.logDir, name+".log")
	dumpLogsOnFailure(b, log)

	var n node
	var proc *process
	var dropMarks []string
	switch p.node {
	case "btcd":
		bn := startBtcd(b, e.btcdBin, btcdConfig{name: name, home: home, connect: rel.addr(), log: log})
		n, proc, dropMarks = bn, bn.process, []string{"SYNC: Lost peer"} // the one of btcdDropMarks at info level
	case "renga":
		rn := startRenga(b, e.rengaBin, rengaConfig{name: name, datadir: home, connect: rel.addr(), log: log})
		n, proc, dropMarks = rn, rn.process, []string{rengaDropMark}
	}
	at := awaitTip(b, name+" at the chain's tip", n, e.chain.tip, chainSyncTimeout, benchTick, append([]*process{proc}, e.procs...)...)
	drops := len(logLines(b, log, dropMarks...))
	if p.node == "renga" {
		// Not a disconnect, but a wait of seconds that the time includes.
		if stalls := logLines(b, log, rengaStallMark); len(stalls) > 0 {
			b.Logf("%s took %v and logged:\n%s", name, at.Sub(rel.connections()[before].accepted), strings.Join(stalls, "\n"))
		}
	}
	proc.stop(b)

	conns := rel.connections()[before:]
	if len(conns) == 0 {
		b.Fatalf("interop: %s reached the tip with no connection through the relay to the %s source", name, p.source)
	}
	// Beyond the first connection, each is a reconnection after a drop;
	// and any that ended before the tip was dropped.
	relayDrops := len(conns) - 1
	for _, c := range conns {
		select {
		case <-c.ended:
			if c.endAt.Before(at) {
				relayDrops++
			}
		default:
		}
	}
	if relayDrops > 0 || drops > 0 {
		b.Logf("%s: %d connections through the relay, %d ended before the tip; %d drops in its log", name, len(conns), relayDrops-(len(conns)-1), drops)
	}
	return at.Sub(conns[0].accepted), max(relayDrops, drops)
}
