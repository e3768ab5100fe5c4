package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/sock/nstest"
)

// TestNodeCapture: two `renga node` processes on a LAN of namespaces, found
// by discovery; one records its traffic with --capture while blocks and a
// payment go between them. The messages in the file, read by `renga decode`
// and by tshark with the shipped plugin, are the messages the node's debug
// log says it sent and received, in the same order on each connection and
// direction; the discovery beacons it sent and heard are in the file too.
// Node 1 also writes Bitcoin Core's message-capture files from its start
// (--capturemessages), node 2 from when the RPC switches its peer on: what
// renga decode reads of them is the pcapng's conversation, whole for node 1
// and from the switch on for node 2.
func TestNodeCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: node processes")
	}
	if !nstest.Enter(t) {
		return
	}
	l := newLAN(t, 2)
	a, b := l.node(1), l.node(2)
	dir := t.TempDir()
	fileA, fileB := filepath.Join(dir, "node1.pcapng"), filepath.Join(dir, "node2.pcapng")
	for _, n := range l.nodes {
		n.network = "regtest"
		n.flags = []string{"--discover", "--compress"} // for Renga's own sendcmpr and cmpr
	}
	// Node 2 mines 101 blocks before node 1 starts: node 1's first sync
	// gets them in one headers message big enough to go compressed (cmpr).
	b.start("--capture", fileB, "--log-level", "debug")
	waitFor(t, 15*time.Second, "node 2 answering", func() (bool, string) {
		return b.peers() >= 0, "no answer"
	})
	payTo := firstLine(t, b, "wallet", "address")
	var hashes []string
	if err := b.call(&hashes, "generatetoaddress", 101, payTo); err != nil {
		t.Fatal(err)
	}
	a.start("--capture", fileA, "--log-level", "debug", "--capturemessages")
	waitFor(t, 15*time.Second, "the two nodes connected through discovery", func() (bool, string) {
		return a.peers() >= 1 && b.peers() >= 1, fmt.Sprintf("%d and %d connections", a.peers(), b.peers())
	})
	waitFor(t, 30*time.Second, "node 1 synced node 2's blocks", func() (bool, string) {
		return sameTip(l.nodes, 101)
	})
	// Node 2 records its peer from now on.
	var switched struct {
		Dir       string
		Capturing bool
		Peers     []string
	}
	if err := b.call(&switched, "setmessagecapture", true); err != nil {
		t.Fatal(err)
	}
	if !switched.Capturing || len(switched.Peers) != 1 || !strings.HasSuffix(switched.Dir, "message_capture") {
		t.Fatalf("setmessagecapture true answered %+v, want node 1 switched on", switched)
	}
	var info []struct {
		Addr      string
		Capturing bool `json:"capturing_messages"`
	}
	if err := b.call(&info, "getpeerinfo"); err != nil {
		t.Fatal(err)
	}
	if len(info) != 1 || !info[0].Capturing {
		t.Fatalf("getpeerinfo after setmessagecapture: %+v, want the peer capturing", info)
	}
	// A payment and a block from node 2 reach node 1.
	txid := firstLine(t, b, "wallet", "send", firstLine(t, a, "wallet", "address"), "3")
	waitFor(t, 30*time.Second, "node 1 accepted the payment", func() (bool, string) {
		return a.mempool()[txid], "not in its pool"
	})
	if err := b.call(&hashes, "generatetoaddress", 1, payTo); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "node 1 at node 2's tip", func() (bool, string) {
		return sameTip(l.nodes, 102)
	})
	a.stop()
	b.stop()
	t.Run("node 1", func(t *testing.T) { checkNodeCapture(t, a, fileA) })
	t.Run("node 2", func(t *testing.T) { checkNodeCapture(t, b, fileB) })
	t.Run("node 1 message capture", func(t *testing.T) { checkMessageCapture(t, a, fileA, false) })
	t.Run("node 2 message capture from the switch", func(t *testing.T) { checkMessageCapture(t, b, fileB, true) })
}

// checkMessageCapture: renga decode reads from the node's message-capture
// files (found from its data directory) the messages of its pcapng, per
// peer and direction, in order: all of them, or, if fromSwitch, a tail of
// each that holds no handshake and does hold the payment.
func checkMessageCapture(t *testing.T, n *lanNode, pcapng string, fromSwitch bool) {
	sequences := func(path string) map[string][]string {
		t.Helper()
		out, err := n.renga("decode", path, "--json")
		if err != nil {
			t.Fatal(err)
		}
		seqs := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct{ Src, Dst, Dir, Command string }
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("decode %s printed %q: %v", path, line, err)
			}
			if r.Command == "beacon" {
				continue // discovery is not a peer's message: message capture has none
			}
			peer := r.Dst
			if r.Dir == "in" {
				peer = r.Src
			}
			seqs[peer+" "+r.Dir] = append(seqs[peer+" "+r.Dir], r.Command)
		}
		return seqs
	}
	want := sequences(pcapng)
	got := sequences(n.dir) // the data directory: decode finds message_capture in it
	if !fromSwitch {
		compareSequences(t, "message capture", got, want)
		return
	}
	total, sawTx := 0, false
	for key, g := range got {
		w := want[key]
		if len(g) > len(w) || strings.Join(w[len(w)-len(g):], " ") != strings.Join(g, " ") {
			t.Errorf("message capture, %s: %v is not the end of the pcapng's %v", key, head(g), head(w))
		}
		total += len(g)
		sawTx = sawTx || slices.Contains(g, "tx")
		if slices.Contains(g, "version") {
			t.Errorf("message capture, %s: a version message, recorded before the switch", key)
		}
	}
	if total == 0 || !sawTx {
		t.Errorf("message capture after the switch: %d messages, payment seen %v: want the payment and what followed", total, sawTx)
	}
	t.Logf("message capture from the switch: %d messages on %d connection directions", total, len(got))
}

// checkNodeCapture: the node's capture file holds the messages its debug log
// says it sent and received, per connection and direction, in order, as
// renga decode and tshark read it, and discovery beacons both ways.
func checkNodeCapture(t *testing.T, a *lanNode, file string) {
	// What the log says, per connection and direction.
	fromLog := map[string][]string{}
	for _, e := range a.logEntries() {
		if e.Msg != "sent" && e.Msg != "received" {
			continue
		}
		peer, _ := e.Fields["peer"].(string)
		cmd, _ := e.Fields["command"].(string)
		dir := map[string]string{"sent": "out", "received": "in"}[e.Msg]
		fromLog[peer+" "+dir] = append(fromLog[peer+" "+dir], cmd)
	}
	if len(fromLog) == 0 {
		t.Fatal("the debug log holds no message")
	}
	seen := map[string]bool{}
	for _, cmds := range fromLog {
		for _, c := range cmds {
			seen[c] = true
		}
	}
	for _, want := range []string{"version", "verack", "ping", "pong", "inv", "getdata", "headers", "block", "tx", "sendcmpr", "cmpr"} {
		if !seen[want] {
			t.Errorf("no %s sent or received: the capture is not checked on it", want)
		}
	}

	// What renga decode reads in the file.
	out, err := a.renga("decode", file, "--json")
	if err != nil {
		t.Fatal(err)
	}
	fromDecode := map[string][]string{}
	beacons := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		var r struct {
			Src, Dst, Dir, Command, Proto, Cmpr string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("decode printed %q: %v", line, err)
		}
		if r.Command == "beacon" {
			beacons[r.Dir]++
			continue
		}
		if r.Cmpr != "" {
			r.Command = "cmpr" // decode shows what it carries; the log names the frame
		}
		peer := r.Dst
		if r.Dir == "in" {
			peer = r.Src
		}
		fromDecode[peer+" "+r.Dir] = append(fromDecode[peer+" "+r.Dir], r.Command)
	}
	compareSequences(t, "renga decode", fromDecode, fromLog)
	if beacons["out"] == 0 || beacons["in"] == 0 {
		t.Errorf("beacons in the capture: %v, want some sent and some heard", beacons)
	}

	// What tshark reads, with the plugin.
	tshark := tsharkOn(t, file)
	if tshark == nil {
		return
	}
	raw := tshark("-Y", "bitcoin", "-T", "fields", "-E", "separator=|", "-e", "ip.src", "-e", "tcp.srcport",
		"-e", "ip.dst", "-e", "tcp.dstport", "-e", "bitcoin.command")
	local := a.ip
	fromTshark := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(raw), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			t.Fatalf("tshark printed %q", line)
		}
		src, dst := f[0]+":"+f[1], f[2]+":"+f[3]
		peer, dir := dst, "out"
		if f[0] != local {
			peer, dir = src, "in"
		}
		fromTshark[peer+" "+dir] = append(fromTshark[peer+" "+dir], strings.Split(f[4], ",")...)
	}
	compareSequences(t, "tshark", fromTshark, fromLog)
}

// compareSequences fails t unless got and want hold the same commands in the
// same order for every connection and direction.
func compareSequences(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	total := 0
	for key, w := range want {
		total += len(w)
		if g := got[key]; strings.Join(g, " ") != strings.Join(w, " ") {
			t.Errorf("%s, %s: %d messages, the log says %d\n got %v\nwant %v", what, key, len(g), len(w), head(g), head(w))
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("%s: messages on %s, which the log does not have", what, key)
		}
	}
	t.Logf("%s: %d messages on %d connection directions match the log", what, total, len(want))
}

func head(s []string) []string { return s[:min(len(s), 12)] }
