package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/wallet"
	"github.com/renga-p2p/renga/net/sock/nstest"
	"github.com/renga-p2p/renga/wire"
)

// TestCompactBlocksOnEightNodes (issue 13): eight `renga node` processes
// on a LAN, each connected to four others. A block of 2,000 payments whose
// transactions every node's mempool already holds reaches every node as a
// compact block, rebuilt (how many without a request is reported); then,
// in the same run, the nodes restarted with --compact-blocks=false relay
// another block of 2,000 whole, and the bytes each node received for the
// block are compared. Node 2 records the compact run (--capture): tshark
// with Renga's plugin decodes every compact-block message of it, with good
// checksums and no malformed packet or expert error, and reads the same
// messages as renga decode. In private namespaces.
func TestCompactBlocksOnEightNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: eight node processes relaying 2,000-transaction blocks")
	}
	if !nstest.Enter(t) {
		return
	}
	const nodes, payments = 8, 2000
	l := newLAN(t, nodes)
	for _, n := range l.nodes {
		n.network = "regtest"
	}
	pcapng := filepath.Join(t.TempDir(), "node2.pcapng")
	start := func(capture string, extra ...string) {
		for i, n := range l.nodes {
			args := []string{"--listen", ":18444", "--discover=false"}
			for _, d := range []int{1, 2} { // a ring with chords: four peers each
				args = append(args, "--addnode", l.node((i+d)%nodes+1).ip+":18444")
			}
			if i == 1 && capture != "" {
				args = append(args, "--capture", capture)
			}
			n.start(append(args, extra...)...)
		}
		for _, n := range l.nodes {
			waitRPCReady(t, n)
		}
	}
	stop := func() {
		for _, n := range l.nodes {
			n.stop()
		}
	}
	start(pcapng)
	miner := l.node(1)
	payTo := firstLine(t, miner, "wallet", "address")
	var hashes []string
	if err := miner.call(&hashes, "generatetoaddress", 110, payTo); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "every node at height 110", func() (bool, string) { return sameTip(l.nodes, 110) })

	// Two fan-outs of the first coinbases into 2,000 coins each.
	w, err := wallet.Open(filepath.Join(miner.dir, "regtest", "wallet.json"), chain.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	key := w.Keys()[0]
	coinbase := func(height int) chaintest.Coin {
		var hash string
		if err := miner.call(&hash, "getblockhash", height); err != nil {
			t.Fatal(err)
		}
		var raw string
		if err := miner.call(&raw, "getblock", hash, 0); err != nil {
			t.Fatal(err)
		}
		b := new(wire.Block)
		data, _ := hex.DecodeString(raw)
		if err := b.Decode(data); err != nil {
			t.Fatal(err)
		}
		return chaintest.CoinbaseCoin(b)
	}
	send := func(tx *wire.Tx) {
		t.Helper()
		raw, _ := tx.AppendBinary(nil)
		var txid string
		if err := miner.call(&txid, "sendrawtransaction", hex.EncodeToString(raw)); err != nil {
			t.Fatalf("sendrawtransaction: %v", err)
		}
	}
	var fanouts []*wire.Tx
	for _, h := range []int{1, 2} {
		cb := coinbase(h)
		each := (cb.Value - 1_000_000) / payments
		var outs []wire.TxOut
		for range payments {
			outs = append(outs, wire.TxOut{Value: each, ScriptPubKey: key.Script})
		}
		fan := chaintest.Spend(t, key.Private, []chaintest.Coin{cb}, outs...)
		send(fan)
		fanouts = append(fanouts, fan)
	}
	if err := miner.call(&hashes, "generatetoaddress", 1, payTo); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "every node at height 111", func() (bool, string) { return sameTip(l.nodes, 111) })

	// relay sends 2,000 payments from a fan-out to the miner, waits until
	// every mempool holds them, mines them and returns the bytes each node
	// received of block-carrying messages for that block.
	relay := func(fan *wire.Tx, height int32) []uint64 {
		t.Helper()
		id := fan.TxID()
		for i := range payments {
			coin := chaintest.Coin{OutPoint: wire.OutPoint{Hash: id, Index: uint32(i)}, Value: fan.Outputs[i].Value, Script: key.Script}
			send(chaintest.Spend(t, key.Private, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 1_000, ScriptPubKey: key.Script}))
		}
		waitFor(t, 3*time.Minute, "every mempool holds the 2,000 payments", func() (bool, string) {
			var sizes []int
			ok := true
			for _, n := range l.nodes {
				var info struct {
					Size int `json:"size"`
				}
				_ = n.call(&info, "getmempoolinfo")
				sizes = append(sizes, info.Size)
				ok = ok && info.Size >= payments
			}
			return ok, fmt.Sprint(sizes)
		})
		before := blockBytes(t, l.nodes)
		if err := miner.call(&hashes, "generatetoaddress", 1, payTo); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Minute, fmt.Sprintf("every node at height %d", height), func() (bool, string) { return sameTip(l.nodes, height) })
		after := blockBytes(t, l.nodes)
		var got []uint64
		for i := range after {
			got = append(got, after[i]-before[i])
		}
		return got
	}
	compactBytes := relay(fanouts[0], 112)
	var blockHex string
	if err := miner.call(&blockHex, "getblock", hashes[0], 0); err != nil {
		t.Fatal(err)
	}
	blockSize := len(blockHex) / 2
	var stats []map[string]float64
	for _, n := range l.nodes[1:] {
		stats = append(stats, compactMetrics(t, n))
	}
	stop()

	checkCompactCapture(t, l.node(2), pcapng, hashes[0], payments+1)

	start("", "--compact-blocks=false")
	fullBytes := relay(fanouts[1], 113)
	stop()

	var sumCompact, sumFull uint64
	for i := 1; i < nodes; i++ {
		sumCompact += compactBytes[i]
		sumFull += fullBytes[i]
	}
	perHopCompact, perHopFull := float64(sumCompact)/(nodes-1), float64(sumFull)/(nodes-1)
	rebuilt, asked, fellBack := 0.0, 0.0, 0.0
	for _, s := range stats {
		rebuilt += s["reconstructed"]
		asked += s["requested"]
		fellBack += s["fallback"]
	}
	t.Logf("block of %d payments, %d bytes: per receiving node %.0f bytes as compact blocks (%.2f%%), %.0f whole (%.2f×)",
		payments, blockSize, perHopCompact, 100*perHopCompact/float64(blockSize), perHopFull, perHopFull/float64(blockSize))
	t.Logf("compact blocks rebuilt: %.0f without a request, %.0f after a getblocktxn, %.0f asked for whole (share without a request %.0f%%)",
		rebuilt, asked, fellBack, 100*rebuilt/max(1, rebuilt+asked+fellBack))
	if rebuilt+asked == 0 {
		t.Fatal("no compact block was rebuilt")
	}
	if perHopCompact*5 > perHopFull {
		t.Fatalf("compact relay cost %.0f bytes per node, full relay %.0f: want at least 5× less", perHopCompact, perHopFull)
	}
}

// checkCompactCapture: tshark with the plugin reads in the node's capture
// the messages renga decode reads, every frame's checksum good, no
// malformed packet and no expert error, and the block's cmpctblock with its
// transactions all accounted for (short ids plus prefilled).
func checkCompactCapture(t *testing.T, n *lanNode, file, block string, txs int) {
	t.Helper()
	tshark := tsharkOn(t, file)
	if tshark == nil {
		return
	}
	out, err := n.renga("decode", file, "--json")
	if err != nil {
		t.Fatal(err)
	}
	decoded := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Command, Cmpr string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("decode printed %q: %v", line, err)
		}
		decoded[r.Command]++
	}
	read := map[string]int{}
	for _, c := range tsharkSequence(tshark) {
		read[c]++
	}
	if !maps.Equal(decoded, read) {
		t.Errorf("tshark read %v\nrenga decode read %v", read, decoded)
	}
	if decoded["cmpctblock"] == 0 || decoded["sendcmpct"] == 0 {
		t.Fatalf("the capture holds no compact block relay: %v", decoded)
	}
	statuses := strings.Fields(strings.ReplaceAll(tshark("-Y", "bitcoin", "-T", "fields", "-e", "renga.checksum.status"), ",", " "))
	good := 0
	for _, s := range statuses {
		if s == "1" {
			good++
		}
	}
	if total := sumValues(decoded); good != total || len(statuses) != total {
		t.Errorf("%d checksums verified good of %d statuses, %d messages", good, len(statuses), total)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(tshark("-Y", "renga.cmpctblock.block_hash", "-T", "fields", "-E", "separator=|",
		"-e", "renga.cmpctblock.block_hash", "-e", "renga.cmpctblock.shortid_count",
		"-e", "renga.cmpctblock.prefilled_count", "-e", "renga.cmpctblock.tx_count")), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 4 || f[0] != block {
			continue
		}
		ids, _ := strconv.Atoi(f[1])
		pre, _ := strconv.Atoi(f[2])
		all, _ := strconv.Atoi(f[3])
		if all != txs || ids+pre != txs || pre < 1 {
			t.Errorf("tshark: cmpctblock %s with %d short ids, %d prefilled, %d transactions; want %d in all, the coinbase prefilled", block, ids, pre, all, txs)
		}
		found = true
	}
	if !found {
		t.Errorf("tshark found no cmpctblock of block %s", block)
	}
	tsharkClean(t, tshark)
	t.Logf("capture of node 2: %d messages, %d cmpctblock, %d getblocktxn, %d blocktxn; tshark and renga decode agree",
		sumValues(decoded), decoded["cmpctblock"], decoded["getblocktxn"], decoded["blocktxn"])
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// blockBytes sums, per node, the bytes received of the messages that carry
// blocks (block, cmpctblock, blocktxn) from all its peers.
func blockBytes(t *testing.T, nodes []*lanNode) []uint64 {
	t.Helper()
	var out []uint64
	for _, n := range nodes {
		var peers []peerRecv
		if err := n.call(&peers, "getpeerinfo"); err != nil {
			t.Fatal(err)
		}
		out = append(out, blockRecv(peers))
	}
	return out
}

// peerRecv is what blockRecv reads of a getpeerinfo entry.
type peerRecv struct {
	Recv map[string]uint64 `json:"bytesrecv_per_msg"`
}

// blockRecv sums the bytes received of the messages that carry blocks
// (block, cmpctblock, blocktxn) over a node's peers.
func blockRecv(peers []peerRecv) uint64 {
	var sum uint64
	for _, p := range peers {
		sum += p.Recv["block"] + p.Recv["cmpctblock"] + p.Recv["blocktxn"]
	}
	return sum
}

// compactMetrics reads a node's compact block counters from /metrics.
func compactMetrics(t *testing.T, n *lanNode) map[string]float64 {
	t.Helper()
	body := n.metrics()
	out := map[string]float64{}
	for _, outcome := range []string{"reconstructed", "requested", "fallback"} {
		var v float64
		_, _ = fmt.Sscanf(metricLine(body, fmt.Sprintf("renga_compact_blocks_total{outcome=%q}", outcome)), "%g", &v)
		out[outcome] = v
	}
	return out
}

// metrics fetches the node's /metrics (in its namespace, with its cookie).
func (n *lanNode) metrics() string {
	n.t.Helper()
	cookie, err := os.ReadFile(filepath.Join(n.dir, n.network, ".cookie"))
	if err != nil {
		n.t.Fatal(err)
	}
	user, pass, _ := strings.Cut(string(cookie), ":")
	p, err := chain.NetworkByName(n.network)
	if err != nil {
		n.t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: n.ns.DialContext}}
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", p.RPCPort), nil)
	req.SetBasicAuth(user, pass)
	resp, err := client.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	return string(body)
}

// metricLine returns the value of the metric line that starts with name.
func metricLine(body, name string) string {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}
