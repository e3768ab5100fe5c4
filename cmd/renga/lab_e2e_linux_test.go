package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/lab"
	"github.com/renga-p2p/renga/net/sock/nstest"
)

// runLab runs `renga devnet` with args (which must end within a couple of
// minutes) and returns its output; it fails the test if devnet fails.
func runLab(t *testing.T, limit time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	cmd := rengaCommand(args...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		err = <-done
		t.Fatalf("renga devnet did not end within %v (killed: %v):\n%s%s", limit, err, out.String(), errs.String())
	}
	if err != nil {
		t.Fatalf("renga devnet: %v\n%s%s", err, out.String(), errs.String())
	}
	if errs.Len() > 0 {
		t.Logf("renga devnet's stderr:\n%s", errs.String())
	}
	return out.String()
}

// labRecord is a line of the report's events.jsonl.
type labRecord struct {
	Node   int       `json:"node"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Hash   string    `json:"hash"`
	Height int32     `json:"height"`
	Detail string    `json:"detail"`
}

// arrivalLine is a line of the report's propagation.jsonl.
type arrivalLine struct {
	Kind     string   `json:"kind"`
	Hash     string   `json:"hash"`
	Origin   int      `json:"origin"`
	Node     int      `json:"node"`
	Bound    float64  `json:"bound_ms"`
	Hops     int      `json:"hops"`
	Delay    *float64 `json:"delay_ms"`
	Ratio    *float64 `json:"ratio"`
	Excluded string   `json:"excluded"`
}

// readJSONLines decodes every line of file into a T.
func readJSONLines[T any](t *testing.T, file string) []T {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read only
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v in %q", file, err, sc.Text())
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// finalChains replays each node's block-connected and block-disconnected
// events: the blocks on each node's active chain at the end, as far as its
// event stream told (a restarted node's stream misses what it did while
// no one was following it).
func finalChains(recs []labRecord) map[int]map[string]bool {
	chains := map[int]map[string]bool{}
	for _, r := range recs {
		if r.Node == 0 {
			continue
		}
		if chains[r.Node] == nil {
			chains[r.Node] = map[string]bool{}
		}
		switch r.Kind {
		case "block-connected":
			chains[r.Node][r.Hash] = true
		case "block-disconnected":
			delete(chains[r.Node], r.Hash)
		}
	}
	return chains
}

// lastTips is each node's last tip event (before until, if not zero).
func lastTips(recs []labRecord, until time.Time) map[int]labRecord {
	tips := map[int]labRecord{}
	for _, r := range recs {
		if r.Kind == "tip" && r.Node > 0 && (until.IsZero() || !r.Time.After(until)) {
			tips[r.Node] = r
		}
	}
	return tips
}

// checkPlots: every plot of the report is a PNG that decodes and an SVG
// that parses as XML with an svg root.
func checkPlots(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"cdf", "hops", "timeline"} {
		f, err := os.Open(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Error(err)
			continue
		}
		img, err := png.Decode(f)
		_ = f.Close() // read only
		if err != nil {
			t.Errorf("%s.png: %v", name, err)
		} else if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
			t.Errorf("%s.png is %dx%d", name, b.Dx(), b.Dy())
		}
		data, err := os.ReadFile(filepath.Join(dir, name+".svg"))
		if err != nil {
			t.Error(err)
			continue
		}
		dec := xml.NewDecoder(bytes.NewReader(data))
		root := ""
		for {
			tok, err := dec.Token()
			if err != nil {
				if root == "" || !errors.Is(err, io.EOF) {
					t.Errorf("%s.svg: %v (root %q)", name, err, root)
				}
				break
			}
			if se, ok := tok.(xml.StartElement); ok && root == "" {
				root = se.Name.Local
			}
		}
		if root != "svg" {
			t.Errorf("%s.svg: root element %q, want svg", name, root)
		}
	}
}

// shaping probes this kernel's traffic control from inside the test's
// namespace, to know which link conditions a run can have.
func shaping(t *testing.T) lab.Shaping {
	t.Helper()
	s, err := lab.ProbeShaping()
	if err != nil {
		t.Skip(err)
	}
	if !s.Netem {
		t.Logf("this kernel has no netem (CONFIG_NET_SCH_NETEM): the links carry no delay, jitter or loss, " +
			"and the lower bounds are half the measured round trips")
	}
	return s
}

// TestLabPropagation runs the propagation experiment: 16 node
// processes, each in its own namespace, joined as a random 4-regular
// graph whose every link is a veth pair with 20 ms ± 5 ms (netem, where
// the kernel has it); the lab mines a block on a random miner every
// second on average for 20 s; the report must show that every node
// connected every block of the final chain, that no arrival beat its
// lower bound (the shortest path by link delay, or by half the measured
// round trip), and it writes valid plots. The median of delay over bound
// is printed, not asserted.
func TestLabPropagation(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: 16 node processes for half a minute")
	}
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	nstest.RequireLinkType(t, "veth")
	sh := shaping(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "report")
	out := runLab(t, 3*time.Minute, "devnet", "--netns", "--topology", "random:degree=4", "--seed", "3", "-n", "16",
		"--delay", "20ms", "--jitter", "5ms", "--network", "regtest", "--miners", "16", "--block-interval", "1s",
		"--duration", "20s", "--tx-every", "0", "--dir", filepath.Join(dir, "nodes"), "--report", report)
	summary, err := os.ReadFile(filepath.Join(report, "summary.txt"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("summary.txt:\n%s", summary)

	recs := readJSONLines[labRecord](t, filepath.Join(report, "events.jsonl"))
	chains := finalChains(recs)
	var mined []labRecord
	for _, r := range recs {
		if r.Kind == lab.LabMined {
			mined = append(mined, r)
		}
	}
	if len(mined) < 5 {
		t.Fatalf("the lab mined %d blocks in 20 s, want 5 or more", len(mined))
	}
	onChain := map[string]bool{}
	stale := 0
	for _, m := range mined {
		if !chains[1][m.Hash] {
			stale++ // a block that lost a race: not every node connects it
			continue
		}
		onChain[m.Hash] = true
		for node := 1; node <= 16; node++ {
			if !chains[node][m.Hash] {
				t.Errorf("node %d did not connect block %s (height %d, mined by node %d)", node, m.Hash, m.Height, m.Node)
			}
		}
	}
	t.Logf("%d blocks mined, %d on the final chain, %d stale", len(mined), len(onChain), stale)

	lines := readJSONLines[arrivalLine](t, filepath.Join(report, "propagation.jsonl"))
	var ratios []float64
	arrivals := map[string]int{}
	for _, a := range lines {
		if a.Kind != "block" || !onChain[a.Hash] {
			continue
		}
		arrivals[a.Hash]++
		switch {
		case a.Excluded != "":
			t.Errorf("block %s at node %d: excluded from the report (%s)", a.Hash, a.Node, a.Excluded)
		case a.Delay == nil || a.Ratio == nil:
			t.Errorf("block %s at node %d: no delay or ratio in %+v", a.Hash, a.Node, a)
		case a.Bound <= 0 || a.Hops < 1:
			t.Errorf("block %s at node %d: bound %v ms over %d hops", a.Hash, a.Node, a.Bound, a.Hops)
		case *a.Delay < a.Bound:
			t.Errorf("block %s reached node %d after %.3f ms, sooner than its lower bound %.3f ms", a.Hash, a.Node, *a.Delay, a.Bound)
		default:
			ratios = append(ratios, *a.Ratio)
		}
		if sh.Netem && a.Bound < 15*float64(a.Hops) {
			t.Errorf("block %s at node %d: bound %.3f ms over %d hops of 20±5 ms links", a.Hash, a.Node, a.Bound, a.Hops)
		}
	}
	for h := range onChain {
		if arrivals[h] != 15 {
			t.Errorf("block %s: %d arrivals in the report, want 15 (every node but its miner)", h, arrivals[h])
		}
	}
	if len(ratios) > 0 {
		slices.Sort(ratios)
		q := func(p float64) float64 { return ratios[max(0, int(math.Ceil(p*float64(len(ratios))))-1)] }
		t.Logf("delay / lower bound over %d arrivals: p50 %.2f, p90 %.2f, p99 %.2f (netem %v)", len(ratios), q(0.5), q(0.9), q(0.99), sh.Netem)
	}
	if !strings.Contains(string(summary), "final: every node on one tip") {
		t.Errorf("the nodes did not end on one tip")
	}
	graph, err := os.ReadFile(filepath.Join(report, "topology.graphml"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := lab.ReadGraphML(bytes.NewReader(graph))
	if err != nil {
		t.Fatalf("topology.graphml: %v", err)
	}
	if len(top.Nodes) != 16 || len(top.Links) != 32 {
		t.Errorf("topology.graphml: %d nodes and %d links, want 16 and 32", len(top.Nodes), len(top.Links))
	}
	checkPlots(t, report)
}

// TestLabScenario plays the partition scenario on 16 node
// processes in namespaces (a ring lattice, each node linked to the two
// nearest on each side, so that either half stays connected without any
// one of its nodes): both halves mine while cut from each other, the
// second half stops first so the first has more work, a node of the
// second half is killed during the partition and restarted after the
// heal. Every node must end on the first half's branch (the one with more
// work at the heal), the report must give the heal's convergence time and
// list the second half's reorganizations, and the restarted node must
// catch up.
func TestLabScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: 16 node processes for 40 s")
	}
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	nstest.RequireLinkType(t, "veth")
	shaping(t)
	dir := t.TempDir()
	scenario := filepath.Join(dir, "split.toml")
	if err := os.WriteFile(scenario, []byte(splitScenario), 0o600); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report")
	out := runLab(t, 3*time.Minute, "devnet", "--netns", "--topology", "smallworld:k=4,p=0", "-n", "16",
		"--network", "regtest", "--miners", "0", "--block-interval", "500ms", "--tx-every", "0",
		"--scenario", scenario, "--dir", filepath.Join(dir, "nodes"), "--report", report)
	summary, err := os.ReadFile(filepath.Join(report, "summary.txt"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("summary.txt:\n%s", summary)
	recs := readJSONLines[labRecord](t, filepath.Join(report, "events.jsonl"))

	var heal time.Time
	for _, r := range recs {
		if r.Kind == lab.LabHealed {
			heal = r.Time
		}
	}
	if heal.IsZero() {
		t.Fatal("no heal in events.jsonl")
	}
	// The branch with more work at the heal: regtest blocks all weigh the
	// same, so the higher of the two halves' tips.
	atHeal := lastTips(recs, heal)
	a, b := atHeal[1], atHeal[9]
	t.Logf("at the heal: first half at height %d (%s), second at %d (%s)", a.Height, a.Hash, b.Height, b.Hash)
	if a.Hash == "" || b.Hash == "" || a.Hash == b.Hash {
		t.Fatalf("the halves did not diverge: tips %q and %q", a.Hash, b.Hash)
	}
	if a.Height == b.Height {
		t.Fatalf("both halves at height %d at the heal: no branch has more work", a.Height)
	}
	heavy, light := a, b
	if b.Height > a.Height {
		heavy, light = b, a
		t.Logf("the second half out-mined the first")
	}
	chains := finalChains(recs)
	final := lastTips(recs, time.Time{})
	for node := 1; node <= 16; node++ {
		if final[node].Hash != final[1].Hash {
			t.Errorf("node %d ends on %s at height %d, node 1 on %s at %d", node, final[node].Hash, final[node].Height, final[1].Hash, final[1].Height)
		}
		if node != 12 && (!chains[node][heavy.Hash] || chains[node][light.Hash]) {
			t.Errorf("node %d's chain: heavier branch's tip %v, lighter's %v; want only the heavier", node, chains[node][heavy.Hash], chains[node][light.Hash])
		}
	}
	s := string(summary)
	if !regexp.MustCompile(`heal \(\d+ links\): agreed after \d`).MatchString(s) {
		t.Errorf("the summary gives no convergence time for the heal")
	}
	if !regexp.MustCompile(`node 12 restarted: agreed after \d`).MatchString(s) {
		t.Errorf("the summary does not show node 12 catching up after its restart")
	}
	reorged := map[int]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+\+\S+\s+node (\d+) left (\d+) block`).FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(m[1])
		reorged[n] = true
	}
	m := regexp.MustCompile(`reorganizations: (\d+)`).FindStringSubmatch(s)
	if m == nil || m[1] == "0" {
		t.Errorf("the summary lists no reorganizations")
	}
	lightHalf := []int{9, 10, 11, 13, 14, 15, 16}
	if light == a {
		lightHalf = []int{1, 2, 3, 4, 5, 6, 7, 8}
	}
	for _, n := range lightHalf {
		if !reorged[n] {
			t.Errorf("node %d was on the lighter branch, but the summary lists no reorganization of it", n)
		}
	}
	checkPlots(t, report)
}

// splitScenario: nodes 1 and 9 mine, one on each side of the cut; the
// second half stops mining 6 s into the partition and the first goes on
// for 9 s more, so that the first half's branch has more work at the heal.
const splitScenario = `
duration = "30s"

[[event]]
at = "0s"
do = "mine"
nodes = [1, 9]

[[event]]
at = "2s"
do = "partition"
groups = [["1-8"], ["9-16"]]

[[event]]
at = "4s"
do = "kill"
node = 12

[[event]]
at = "8s"
do = "stop-mining"
node = 9

[[event]]
at = "17s"
do = "heal"

[[event]]
at = "19s"
do = "restart"
node = 12
`
