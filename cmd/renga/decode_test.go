package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

var (
	regtest  = wire.Magic{0xfa, 0xbf, 0xb5, 0xda}
	nodeAddr = netip.MustParseAddrPort("10.1.0.1:40000")
	peerAddr = netip.MustParseAddrPort("10.1.0.2:18444")
	t0       = time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
)

// message is one step of a conversation: who sends what.
type message struct {
	fromClient bool
	msg        wire.Message
}

// shown is the command renga decode shows for m: a cmpr's inner command.
func (m message) shown() string {
	if c, ok := m.msg.(*wire.MsgCmpr); ok {
		return c.Inner
	}
	return m.msg.Command()
}

// compressed wraps msg in a cmpr really compressed with codec, as a peer
// does.
func compressed(codec wire.Codec, msg wire.Message) *wire.MsgCmpr {
	payload, err := msg.AppendBinary(nil)
	if err != nil {
		panic(err)
	}
	codecs, err := peer.NewCodecs()
	if err != nil {
		panic(err)
	}
	data, err := codecs.Compress(nil, codec, payload)
	if err != nil {
		panic(err)
	}
	return &wire.MsgCmpr{Inner: msg.Command(), Length: uint32(len(payload)), Codec: codec, Data: data}
}

// conversation is a realistic exchange, client (the node dialing out) first.
func conversation() []message {
	tx := wire.Tx{Version: 1,
		Inputs:  []wire.TxIn{{PrevOut: wire.OutPoint{Hash: sha256d.Sum([]byte("coin")), Index: 0}, ScriptSig: []byte{1, 2, 3}, Sequence: 0xffffffff}},
		Outputs: []wire.TxOut{{Value: 5000, ScriptPubKey: []byte{0x76, 0xa9}}},
	}
	block := &wire.Block{Header: wire.Header{Version: 1, Bits: 0x207fffff}}
	for range 200 { // about 13 kB: several segments
		block.Txs = append(block.Txs, tx)
	}
	header := block.Header
	version := &wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, Services: wire.SFNodeNetwork | wire.SFNodeCompress,
		UserAgent: "/renga:test/", StartHeight: 7, Relay: true}
	return []message{
		{true, version},
		{false, version},
		{false, &wire.MsgVerack{}},
		{true, &wire.MsgVerack{}},
		{true, &wire.MsgSendCmpr{Codecs: []wire.Codec{wire.CodecZstd}, MinSize: 256}},
		{true, &wire.MsgPing{Nonce: 99}},
		{false, &wire.MsgPong{Nonce: 99}},
		{false, &wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvTx, Hash: tx.TxID()}, {Type: wire.InvBlock, Hash: block.Hash()}}}},
		{true, &wire.MsgGetData{Inv: []wire.InvVect{{Type: wire.InvBlock, Hash: block.Hash()}}}},
		{false, &wire.MsgHeaders{Headers: []wire.Header{header}}},
		{false, block},
		{false, &tx},
		{true, compressed(wire.CodecZstd, block)},
		{false, compressed(wire.CodecS2, &wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvTx, Hash: tx.TxID()}}})},
	}
}

// commandsOf is the conversation's frames' commands (what tshark shows).
func commandsOf(conv []message) []string {
	var cmds []string
	for _, m := range conv {
		cmds = append(cmds, m.msg.Command())
	}
	return cmds
}

// shownOf is the commands renga decode shows.
func shownOf(conv []message) []string {
	var cmds []string
	for _, m := range conv {
		cmds = append(cmds, m.shown())
	}
	return cmds
}

func frameOf(t *testing.T, m wire.Message) []byte {
	t.Helper()
	f, err := wire.AppendFrame(nil, regtest, m)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// recordConversation writes the conversation and a beacon as a node's
// recording and returns the file and the commands renga decode shows, in
// order. Given a message capture, it records the conversation there too,
// through the same tap.
func recordConversation(t *testing.T, mc ...*capture.MessageCapture) (string, []string) {
	t.Helper()
	var buf bytes.Buffer
	r, err := capture.NewRecorder(&buf, capture.RecorderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	at := t0
	taps := []capture.Tap{r.Conn(at, nodeAddr, peerAddr, false)}
	for _, m := range mc {
		taps = append(taps, m.Conn(peerAddr, true))
	}
	c := capture.MultiTap(taps...)
	for _, m := range conversation() {
		at = at.Add(time.Millisecond)
		if m.fromClient {
			c.Sent(at, frameOf(t, m.msg))
		} else {
			c.Received(at, frameOf(t, m.msg))
		}
	}
	beacon := wire.AppendBeacon(nil, &wire.Beacon{Magic: regtest, Port: 18444, StartHeight: 7, Instance: 0xabc}, nil)
	r.Datagram(at.Add(time.Millisecond), capture.DirIn, netip.MustParseAddrPort("10.1.0.2:28334"), netip.MustParseAddrPort("239.255.28.34:28334"), beacon)
	c.Close(at.Add(2 * time.Millisecond))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "node.pcapng")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, append(shownOf(conversation()), "beacon")
}

// jsonRecords parses decode's JSON lines.
func jsonRecords(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func field(recs []map[string]any, name string) []string {
	var out []string
	for _, r := range recs {
		s, _ := r[name].(string)
		out = append(out, s)
	}
	return out
}

func TestDecodeText(t *testing.T) {
	file, want := recordConversation(t)
	out, errs, err := runCmd(t, "decode", file, "--utc")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines for %d messages:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		if f := strings.Fields(line); len(f) < 8 || f[6] != want[i] {
			t.Errorf("line %d: %q, want command %s", i, line, want[i])
		}
	}
	// One line in full: the columns line up and the summary says it all.
	wantLine := "2026-01-02 03:04:05.608000  10.1.0.2:18444        → 10.1.0.1:40000         in   inv                73  2 (tx 1, block 1)"
	if lines[7] != wantLine {
		t.Errorf("inv line:\n%q\nwant\n%q", lines[7], wantLine)
	}
	if !strings.Contains(errs, "14 messages, 1 beacons") || !strings.Contains(errs, "2 cmpr decompressed") {
		t.Errorf("stderr %q has no summary", errs)
	}
	// The compressed block, shown as the block, marked.
	if f := strings.Fields(lines[12]); len(f) < 12 || f[5] != "out" || f[6] != "block" || f[8] != "[cmpr" || f[9] != "zstd" ||
		!strings.HasSuffix(lines[12], "200 txs") {
		t.Errorf("cmpr line %q", lines[12])
	}
	// Wireshark sees the same messages in the same order (a cmpr as cmpr).
	tsharkCheck(t, file, append(commandsOf(conversation()), "beacon"))
}

func TestDecodeJSONAndFilters(t *testing.T) {
	file, want := recordConversation(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"all", nil, want},
		{"command", []string{"--command", "inv,getdata"}, []string{"inv", "getdata", "inv"}},
		{"a compressed block is a block", []string{"--command", "block"}, []string{"block", "block"}},
		{"cmpr selects what came compressed", []string{"--command", "cmpr"}, []string{"block", "inv"}},
		{"direction out", []string{"--direction", "out"}, []string{"version", "verack", "sendcmpr", "ping", "getdata", "block"}},
		{"peer port", []string{"--peer", "10.1.0.2:28334"}, []string{"beacon"}},
		{"peer prefix and command", []string{"--peer", "10.1.0.0/24", "--command", "pong"}, []string{"pong"}},
		{"peer elsewhere", []string{"--peer", "192.0.2.1"}, nil},
		{"flags before the file", []string{"--command", "tx", "FILE"}, []string{"tx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"decode", file, "--json"}
			if len(tc.args) > 0 && tc.args[len(tc.args)-1] == "FILE" {
				args = append([]string{"decode", "--json"}, append(tc.args[:len(tc.args)-1], file)...)
			} else {
				args = append(args, tc.args...)
			}
			out, _, err := runCmd(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			recs := jsonRecords(t, out)
			if got := field(recs, "command"); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("decoded %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		out, _, _ := runCmd(t, "decode", file, "--json", "--command", "cmpr", "--direction", "out")
		recs := jsonRecords(t, out)
		conv := conversation()
		cmpr := conv[12].msg.(*wire.MsgCmpr)
		block := conv[10].msg.(*wire.Block)
		wireSize := len(frameOf(t, cmpr)) - wire.FrameHeaderSize
		want := map[string]any{"time": "2026-01-02T03:04:05.613Z", "src": "10.1.0.1:40000", "dst": "10.1.0.2:18444",
			"proto": "tcp", "dir": "out", "kind": "message", "magic": "fabfb5da", "command": "block", "inner": nil,
			"cmpr": "zstd", "cmpr_size": float64(wireSize), "size": float64(cmpr.Length),
			"summary": block.Hash().String() + " 200 txs"}
		if len(recs) != 1 {
			t.Fatalf("%d records", len(recs))
		}
		for k, v := range want {
			if recs[0][k] != v {
				t.Errorf("%s = %v, want %v", k, recs[0][k], v)
			}
		}
	})
}

func TestDecodeBadInput(t *testing.T) {
	file, _ := recordConversation(t)
	good, _ := os.ReadFile(file)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := write("cut.pcapng", good[:len(good)-300])
	notCapture := write("notes.txt", []byte("these are not the packets you are looking for"))
	empty := write("empty.pcap", nil)
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
		says  []string
	}{
		{"missing file", []string{"decode", filepath.Join(dir, "nope.pcap")}, false, []string{"nope.pcap", "no such file"}},
		{"not a capture", []string{"decode", notCapture}, false, []string{"notes.txt", "neither pcap nor pcapng"}},
		{"empty", []string{"decode", empty}, false, []string{"empty.pcap", "file ends early"}},
		{"truncated", []string{"decode", truncated}, false, []string{"cut.pcapng", "pcapng", "cut short", "file ends early"}},
		{"no file", []string{"decode"}, true, nil},
		{"two files", []string{"decode", file, file}, true, nil},
		{"a directory without message capture", []string{"decode", dir}, false, []string{"no message-capture files"}},
		{"bad direction", []string{"decode", file, "--direction", "up"}, true, []string{"direction"}},
		{"bad magic", []string{"decode", file, "--magic", "xyz"}, true, []string{"magic"}},
		{"bad peer", []string{"decode", file, "--peer", "host.example"}, true, []string{"peer"}},
		{"bad port", []string{"decode", file, "--port", "70000"}, true, []string{"port"}},
		{"bad flag", []string{"decode", file, "--frobnicate"}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, errUsage) != tc.usage {
				t.Fatalf("error %v: usage error %v, want %v", err, errors.Is(err, errUsage), tc.usage)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	t.Run("truncated file still prints what came before", func(t *testing.T) {
		out, _, _ := runCmd(t, "decode", truncated, "--json")
		recs := jsonRecords(t, out)
		if len(recs) < 5 || recs[0]["command"] != "version" {
			t.Fatalf("printed %d records before the cut", len(recs))
		}
	})
	t.Run("help", func(t *testing.T) {
		_, errs, err := runCmd(t, "decode", "-h")
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errs, "example:") || !strings.Contains(errs, "renga decode node.pcapng") {
			t.Fatalf("-h: %v\n%s", err, errs)
		}
	})
}

func TestDecodeMagicMidStream(t *testing.T) {
	// A capture that starts after the handshake, of a network whose magic
	// neither Bitcoin nor the capture tells: --magic is what decodes it.
	devnet := wire.Magic{0x52, 0x45, 0x4e, 0x47}
	var buf bytes.Buffer
	r, _ := capture.NewRecorder(&buf, capture.RecorderConfig{})
	c := r.Conn(t0, nodeAddr, peerAddr, false)
	for i := range 5 {
		f, _ := wire.AppendFrame(nil, devnet, &wire.MsgPing{Nonce: uint64(i)})
		c.Sent(t0, f)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Drop the handshake and the first ping: the capture joins mid-stream.
	rd, err := capture.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var cut bytes.Buffer
	w, _ := capture.NewPcapngWriter(&cut, capture.PcapngOptions{})
	if _, err := w.AddInterface(capture.Interface{LinkType: capture.LinkRaw}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		p, err := rd.Next()
		if err != nil {
			break
		}
		if i >= 4 {
			if err := w.WritePacket(0, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "mid.pcapng")
	if err := os.WriteFile(file, cut.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCmd(t, "decode", file); err != nil || out != "" {
		t.Fatalf("without --magic: %q, %v", out, err)
	}
	out, _, err := runCmd(t, "decode", file, "--magic", "52454e47", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if got := field(jsonRecords(t, out), "command"); strings.Join(got, " ") != "ping ping ping ping" {
		t.Fatalf("with --magic: %v", got)
	}
}

// tsharkCheck reads a capture with tshark and the plugin: the same messages,
// no malformed packets, no expert errors.
func tsharkCheck(t *testing.T, file string, want []string) {
	t.Helper()
	tshark := tsharkOn(t, file)
	if tshark == nil {
		return
	}
	if seq := tsharkSequence(tshark); strings.Join(seq, " ") != strings.Join(want, " ") {
		t.Errorf("tshark decoded %v\nwant          %v", seq, want)
	}
	tsharkClean(t, tshark)
}

// tsharkOn returns a function that runs tshark with the Wireshark plugin on
// file and returns what it prints, or nil when tshark is not installed.
func tsharkOn(t *testing.T, file string) func(args ...string) string {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark is not installed (Debian package tshark): the capture file is not cross-checked")
		return nil
	}
	plugin := filepath.Join(t.TempDir(), "renga.lua")
	if err := os.WriteFile(plugin, []byte(capture.WiresharkPlugin()), 0o644); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, path, append([]string{"-n", "-X", "lua_script:" + plugin, "-r", file}, args...)...).Output()
		if err != nil {
			t.Fatalf("tshark %v: %v", args, err)
		}
		return string(out)
	}
}

// tsharkSequence is the Bitcoin commands and discovery beacons tshark finds,
// in the file's order.
func tsharkSequence(tshark func(args ...string) string) []string {
	var seq []string
	for _, line := range strings.Split(strings.TrimSpace(tshark("-T", "fields", "-E", "separator=|", "-e", "bitcoin.command", "-e", "renga.beacon.port")), "\n") {
		cmds, beacon, _ := strings.Cut(line, "|")
		if cmds != "" {
			seq = append(seq, strings.Split(cmds, ",")...)
		}
		if beacon != "" {
			seq = append(seq, "beacon")
		}
	}
	return seq
}

// tsharkClean fails t if tshark reports errors, malformed packets or errors
// of the plugin.
func tsharkClean(t *testing.T, tshark func(args ...string) string) {
	t.Helper()
	if expert := tshark("-q", "-z", "expert"); strings.Contains(expert, "Errors (") {
		t.Errorf("tshark reports errors:\n%s", expert)
	}
	if v := tshark("-V"); strings.Contains(v, "Malformed") || strings.Contains(v, "Lua Error") {
		t.Errorf("tshark reports a malformed packet")
	}
}

func TestDecodeMessageCapture(t *testing.T) {
	// The conversation recorded through one tap as pcapng and as Core's
	// message capture: renga decode reads the same messages from both.
	datadir := t.TempDir()
	mc := capture.NewMessageCapture(datadir, capture.MessageCaptureConfig{})
	pcapng, _ := recordConversation(t, mc)
	if err := mc.Close(); err != nil {
		t.Fatal(err)
	}
	peerDir := filepath.Join(datadir, "message_capture", "10.1.0.2_18444")
	for _, name := range []string{"msgs_sent.dat", "msgs_recv.dat"} {
		if _, err := os.Stat(filepath.Join(peerDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// What the two have in common: a message capture has neither beacons,
	// nor the node's own address, nor the magic, nor the cmpr a message came in.
	common := func(recs []map[string]any) []string {
		var out []string
		for _, r := range recs {
			if r["command"] == "beacon" {
				continue
			}
			peer := r["dst"]
			if r["dir"] == "in" {
				peer = r["src"]
			}
			out = append(out, fmt.Sprintf("%v %v %v %v %v %v %v", r["time"], r["dir"], peer, r["kind"], r["command"], r["size"], r["summary"]))
		}
		return out
	}
	out, _, err := runCmd(t, "decode", pcapng, "--json")
	if err != nil {
		t.Fatal(err)
	}
	want := common(jsonRecords(t, out))
	if len(want) != len(conversation()) {
		t.Fatalf("the pcapng holds %d messages", len(want))
	}
	for _, path := range []string{datadir, filepath.Join(datadir, "message_capture"), peerDir} {
		out, errs, err := runCmd(t, "decode", path, "--json")
		if err != nil {
			t.Fatal(err)
		}
		recs := jsonRecords(t, out)
		if got := common(recs); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("decode %s:\n%s\nthe pcapng:\n%s", path, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, r := range recs {
			if node := map[any]string{"in": "dst", "out": "src"}[r["dir"]]; r[node] != "" || r["magic"] != nil || r["cmpr"] != nil {
				t.Fatalf("a message-capture record names what the files do not hold: %v", r)
			}
		}
		if !strings.Contains(errs, "message capture, 2 files") || !strings.Contains(errs, "14 messages") {
			t.Errorf("stderr %q", errs)
		}
	}

	t.Run("text", func(t *testing.T) {
		out, _, err := runCmd(t, "decode", datadir, "--utc", "--command", "inv", "--direction", "in")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		want := "2026-01-02 03:04:05.608000  10.1.0.2:18444        → -                      in   inv                73  2 (tx 1, block 1)"
		if len(lines) != 2 || lines[0] != want {
			t.Fatalf("lines:\n%s\nwant first\n%s", out, want)
		}
	})
	t.Run("one file", func(t *testing.T) {
		out, _, err := runCmd(t, "decode", filepath.Join(peerDir, "msgs_recv.dat"), "--json")
		if err != nil {
			t.Fatal(err)
		}
		recs := jsonRecords(t, out)
		var wantIn []string
		for _, m := range conversation() {
			if !m.fromClient {
				wantIn = append(wantIn, m.shown())
			}
		}
		if got := field(recs, "command"); strings.Join(got, " ") != strings.Join(wantIn, " ") {
			t.Fatalf("decoded %v, want %v", got, wantIn)
		}
		for _, r := range recs {
			if r["dir"] != "in" || r["src"] != "10.1.0.2:18444" {
				t.Fatalf("record %v: not received from the peer of the directory", r)
			}
		}
	})
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--peer", "10.1.0.2"}, strings.Join(shownOf(conversation()), " ")},
			{[]string{"--peer", "10.1.0.1"}, ""}, // the node's own address is not in the files
			{[]string{"--command", "ping,pong"}, "ping pong"},
			{[]string{"--direction", "out", "--command", "block"}, "block"},
		} {
			out, _, err := runCmd(t, append([]string{"decode", datadir, "--json"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(field(jsonRecords(t, out), "command"), " "); got != tc.want {
				t.Errorf("%v: %q, want %q", tc.args, got, tc.want)
			}
		}
	})
	t.Run("a file cut short", func(t *testing.T) {
		cut := t.TempDir()
		dst := filepath.Join(cut, "10.1.0.2_18444")
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(peerDir, "msgs_recv.dat"))
		if err := os.WriteFile(filepath.Join(dst, "msgs_recv.dat"), b[:len(b)-5], 0o644); err != nil {
			t.Fatal(err)
		}
		out, _, err := runCmd(t, "decode", cut, "--json")
		if !errors.Is(err, capture.ErrTruncated) || !strings.Contains(err.Error(), "msgs_recv.dat") {
			t.Fatalf("error %v", err)
		}
		if recs := jsonRecords(t, out); len(recs) != 7 { // all but the last received
			t.Fatalf("printed %d records before the cut", len(recs))
		}
	})
}

func TestDecodeShowsCompressedMessages(t *testing.T) {
	// Every message of the conversation compressed with each codec: renga
	// decode prints each as if it had been sent plain, marked.
	var plain, packed []message
	for _, m := range conversation() {
		if _, ok := m.msg.(*wire.MsgCmpr); !ok {
			plain = append(plain, m)
		}
	}
	for i, m := range plain {
		codec := []wire.Codec{wire.CodecZstd, wire.CodecS2}[i%2]
		packed = append(packed, message{m.fromClient, compressed(codec, m.msg)})
	}
	write := func(conv []message) string {
		var buf bytes.Buffer
		r, _ := capture.NewRecorder(&buf, capture.RecorderConfig{})
		c := r.Conn(t0, nodeAddr, peerAddr, false)
		at := t0
		for _, m := range conv {
			at = at.Add(time.Millisecond)
			if m.fromClient {
				c.Sent(at, frameOf(t, m.msg))
			} else {
				c.Received(at, frameOf(t, m.msg))
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "c.pcapng")
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	decode := func(file string) []string {
		out, _, err := runCmd(t, "decode", file, "--utc")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(out), "\n")
	}
	want, got := decode(write(plain)), decode(write(packed))
	if len(got) != len(want) {
		t.Fatalf("%d lines for %d", len(got), len(want))
	}
	marker := regexp.MustCompile(`\[cmpr (zstd|s2) \d+ B\] `)
	for i := range want {
		if !marker.MatchString(got[i]) || marker.ReplaceAllString(got[i], "") != want[i] {
			t.Errorf("line %d:\n%s\nsent plain:\n%s", i, got[i], want[i])
		}
	}
}
