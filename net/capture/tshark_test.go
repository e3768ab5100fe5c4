package capture

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// The recorder's files and the Lua plugin, checked by an independent
// implementation: Wireshark's tshark (Debian package tshark).

func needTshark(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (Debian package tshark): skipping the cross-check with Wireshark")
	}
	return path
}

// tshark runs tshark with the plugin loaded and checksum validation on.
func tshark(t *testing.T, file string, args ...string) string {
	t.Helper()
	plugin := filepath.Join(t.TempDir(), "renga.lua")
	if err := os.WriteFile(plugin, []byte(WiresharkPlugin()), 0o644); err != nil {
		t.Fatal(err)
	}
	return tsharkRaw(t, file, append([]string{"-X", "lua_script:" + plugin}, args...)...)
}

func tsharkRaw(t *testing.T, file string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	all := append([]string{"-n", "-r", file,
		"-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"}, args...)
	cmd := exec.CommandContext(ctx, needTshark(t), all...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(all, " "), err, stderr.String())
	}
	if s := strings.ReplaceAll(stderr.String(), "Running as user \"root\" and group \"root\". This could be dangerous.\n", ""); strings.TrimSpace(s) != "" {
		t.Fatalf("tshark complained: %s", s)
	}
	return string(out)
}

// isoTimes rewrites the absolute times tshark prints in -T fields output
// ("Jan  1, 2026 00:00:00.123000000 UTC", as Wireshark 4.0 does) in ISO 8601
// form, which later versions print, so that a test can compare either.
func isoTimes(s string) string {
	return tsharkTime.ReplaceAllStringFunc(s, func(m string) string {
		t, err := time.Parse("Jan _2, 2006 15:04:05.999999999 MST", m)
		if err != nil {
			return m
		}
		return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
	})
}

var tsharkTime = regexp.MustCompile(`[A-Z][a-z]{2} [ \d]\d, \d{4} \d\d:\d\d:\d\d\.\d{9} UTC`)

// tsharkSequence returns the messages tshark decoded, in order: Bitcoin
// commands and "beacon" for discovery datagrams.
func tsharkSequence(t *testing.T, file string) []string {
	t.Helper()
	out := tshark(t, file, "-T", "fields", "-E", "separator=|", "-e", "bitcoin.command", "-e", "renga.beacon.port")
	var seq []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
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

// expectClean fails if tshark reports a malformed packet, an expert error or
// an expert warning anywhere in file.
func expectClean(t *testing.T, file string) {
	t.Helper()
	expert := tshark(t, file, "-q", "-z", "expert")
	for _, bad := range []string{"Errors (", "Warns ("} {
		if strings.Contains(expert, bad) {
			t.Errorf("tshark's expert infos show %s:\n%s", strings.TrimSuffix(bad, " ("), expert)
		}
	}
	verbose := tshark(t, file, "-V")
	for _, bad := range []string{"Malformed", "Expert Info (Error", "Expert Info (Warn", "Lua Error", "Bad checksum", "[incorrect"} {
		if strings.Contains(verbose, bad) {
			i := strings.Index(verbose, bad)
			t.Errorf("tshark -V says %q: …%s…", bad, verbose[max(0, i-300):min(len(verbose), i+200)])
		}
	}
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTsharkReadsRecording(t *testing.T) {
	needTshark(t)
	steps := scenario(t, regtest)
	var want []string
	for _, s := range steps {
		want = append(want, s.onWire())
	}
	file := writeTemp(t, "scenario.pcapng", record(t, steps, RecorderConfig{}))

	t.Run("sequence", func(t *testing.T) {
		got := tsharkSequence(t, file)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("tshark decoded %v\nrecorded      %v", got, want)
		}
		// And Renga's own decoder sees the same, a cmpr as what it carries.
		recs, _ := decodeAll(t, record(t, steps, RecorderConfig{}), DecoderConfig{})
		var ours []string
		for _, r := range recs {
			cmd := r.Command
			if r.Codec != 0 {
				cmd = wire.CmdCmpr
			}
			ours = append(ours, cmd)
		}
		if strings.Join(ours, " ") != strings.Join(got, " ") {
			t.Fatalf("renga decoded %v\ntshark       %v", ours, got)
		}
	})
	t.Run("no malformed packets or expert errors", func(t *testing.T) { expectClean(t, file) })
	t.Run("Renga's fields", func(t *testing.T) {
		out := tshark(t, file, "-Y", "renga.cmpr or renga.sendcmpr or renga.beacon", "-T", "fields", "-E", "separator=|",
			"-e", "renga.sendcmpr.codec", "-e", "renga.sendcmpr.min_size",
			"-e", "renga.cmpr.command", "-e", "renga.cmpr.length", "-e", "renga.cmpr.codec", "-e", "renga.cmpr.compressed_size",
			"-e", "renga.beacon.port", "-e", "renga.beacon.height", "-e", "renga.beacon.magic", "-e", "renga.beacon.instance",
			"-e", "renga.beacon.flags.query", "-e", "renga.beacon.flags.hmac", "-e", "renga.beacon.time", "-e", "renga.beacon.sequence",
			"-e", "frame.comment")
		lines := strings.Split(strings.TrimSpace(isoTimes(out)), "\n")
		want := []string{
			"||||||18444|5|0xfabfb5da|0xfeedfacecafebeef|1|0|2026-01-01T00:00:00.123000000Z|1|out beacon 10.0.0.1:28334 → 239.255.28.34:28334, 82 bytes",
			"1,2|512|||||||||||||out sendcmpr peer=10.0.0.2:18444",
			"1|1024|||||||||||||in sendcmpr peer=10.0.0.2:18444",
			"||||||18444|6|0xfabfb5da|0x0123456789abcdef|0|1|2026-01-01T00:00:01.500000000Z|7|in beacon 10.0.0.2:28334 → 239.255.28.34:28334, 114 bytes",
			// Two segments: the comment is on the first, the fields on
			// the second, which completes the frame.
			"||block|8985|1|1531|||||||||",
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Fatalf("tshark fields:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("built-in fields", func(t *testing.T) {
		out := tshark(t, file, "-Y", "bitcoin.command == \"version\" or bitcoin.command == \"block\"", "-T", "fields", "-E", "separator=|",
			"-e", "bitcoin.version.version", "-e", "bitcoin.string.value", "-e", "bitcoin.version.start_height",
			"-e", "bitcoin.block.num_transactions", "-e", "bitcoin.length")
		want := "70016|/renga:0.1.0/|5||99\n70016|/renga:0.1.0/|6||99\n|||40|8985"
		if strings.TrimSpace(out) != want {
			t.Fatalf("tshark fields:\n%s\nwant:\n%s", out, want)
		}
	})
}

func TestTsharkReadsEveryWriter(t *testing.T) {
	needTshark(t)
	// The recorder's packets rewritten through each writer and byte order,
	// and an IPv6 recording: tshark must see the same messages in each.
	steps := scenario(t, regtest)
	rd, _ := readAll(t, record(t, steps, RecorderConfig{}))
	want := strings.Join(tsharkSequence(t, writeTemp(t, "a.pcapng", record(t, steps, RecorderConfig{}))), " ")
	for _, tc := range []struct {
		name  string
		write func(ps []Packet) []byte
	}{
		{"pcap little-endian microseconds", func(ps []Packet) []byte { return pcapFile(t, ps, PcapOptions{LinkType: LinkRaw}) }},
		{"pcap big-endian nanoseconds", func(ps []Packet) []byte {
			return pcapFile(t, ps, PcapOptions{LinkType: LinkRaw, BigEndian: true, Nanosecond: true})
		}},
		{"pcapng big-endian", func(ps []Packet) []byte {
			var b strings.Builder
			w, _ := NewPcapngWriter(&b, PcapngOptions{BigEndian: true})
			if _, err := w.AddInterface(Interface{LinkType: LinkRaw}); err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if err := w.WritePacket(0, p); err != nil {
					t.Fatal(err)
				}
			}
			return []byte(b.String())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeTemp(t, "f", tc.write(rd))
			if got := strings.Join(tsharkSequence(t, file), " "); got != want {
				t.Fatalf("tshark decoded %s\nwant %s", got, want)
			}
			expectClean(t, file)
		})
	}
	t.Run("IPv6", func(t *testing.T) {
		var b strings.Builder
		r, _ := NewRecorder(&b, RecorderConfig{})
		c := r.Conn(baseTime, v6a, v6b, true)
		for _, s := range steps {
			if s.beacon {
				r.Datagram(baseTime, s.dir, netip.MustParseAddrPort("[fe80::1]:28334"), netip.MustParseAddrPort("[ff02::1]:28334"), s.frame)
			} else if s.dir == DirOut {
				c.Sent(baseTime, s.frame)
			} else {
				c.Received(baseTime, s.frame)
			}
		}
		c.Close(baseTime)
		file := writeTemp(t, "v6.pcapng", []byte(b.String()))
		if got := strings.Join(tsharkSequence(t, file), " "); got != want {
			t.Fatalf("tshark decoded %s\nwant %s", got, want)
		}
		expectClean(t, file)
	})
}

func pcapFile(t *testing.T, ps []Packet, opts PcapOptions) []byte {
	var b strings.Builder
	w, err := NewPcapWriter(&b, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	return []byte(b.String())
}

func TestTsharkDevnetPort(t *testing.T) {
	needTshark(t)
	// Devnet's magic is not one Wireshark's heuristic knows: the plugin's
	// port registration is what makes tshark decode it.
	devPeer := netip.AddrPortFrom(peerAddr.Addr(), PortDevnet)
	var b strings.Builder
	r, _ := NewRecorder(&b, RecorderConfig{})
	c := r.Conn(baseTime, nodeAddr, devPeer, false)
	c.Sent(baseTime, mustFrame(t, devnet, &wire.MsgPing{Nonce: 1}))
	c.Received(baseTime, mustFrame(t, devnet, &wire.MsgCmpr{Inner: wire.CmdTx, Length: 300, Codec: wire.CodecS2, Data: []byte{1, 2, 3}}))
	c.Close(baseTime)
	file := writeTemp(t, "devnet.pcapng", []byte(b.String()))
	if got := strings.Join(tsharkSequence(t, file), " "); got != "ping cmpr" {
		t.Fatalf("with the plugin, tshark decoded %q", got)
	}
	expectClean(t, file)
	if out := tsharkRaw(t, file, "-T", "fields", "-e", "bitcoin.command"); strings.TrimSpace(out) != "" {
		t.Fatalf("without the plugin tshark already decodes devnet on 28333: %q", out)
	}
}

func TestTsharkFlagsMalformedRengaMessages(t *testing.T) {
	needTshark(t)
	var b strings.Builder
	r, _ := NewRecorder(&b, RecorderConfig{})
	c := r.Conn(baseTime, nodeAddr, peerAddr, false)
	c.Sent(baseTime, wire.AppendRawFrame(nil, regtest, wire.CmdCmpr, []byte("short")))
	c.Sent(baseTime, wire.AppendRawFrame(nil, regtest, wire.CmdSendCmpr, []byte{5, 1}))
	c.Close(baseTime)
	beacon := wire.AppendBeacon(nil, &wire.Beacon{Magic: regtest, Port: 1}, nil)
	r.Datagram(baseTime, DirIn, beaconSrc, group, beacon[:40])
	file := writeTemp(t, "bad.pcapng", []byte(b.String()))
	out := tshark(t, file, "-q", "-z", "expert,error")
	for _, want := range []string{"cmpr payload of 5 bytes", "sendcmpr payload of 2 bytes", "beacon of 40 bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("tshark's expert errors do not mention %q:\n%s", want, out)
		}
	}
}

func TestTsharkWitnessTransactions(t *testing.T) {
	needTshark(t)
	// Wireshark's own dissector reads a BIP144 transaction's marker as an
	// empty input list; the plugin decodes witness transactions and blocks
	// holding them, and leaves legacy ones to the built-in dissector.
	witnessTx := legacyTx("w", 2)
	witnessTx.Inputs[0].Witness = wire.NewWitness(bytes.Repeat([]byte{1}, 71), bytes.Repeat([]byte{2}, 33))
	block := testBlock(3)
	block.Txs = append(block.Txs, witnessTx)
	legacy := legacyTx("l", 1)
	cutTx := mustFrame(t, regtest, &witnessTx)
	cutTx = wire.AppendRawFrame(nil, regtest, wire.CmdTx, cutTx[wire.FrameHeaderSize:len(cutTx)-40])

	var b strings.Builder
	r, _ := NewRecorder(&b, RecorderConfig{})
	c := r.Conn(baseTime, nodeAddr, peerAddr, false)
	c.Sent(baseTime, mustFrame(t, regtest, &witnessTx))
	c.Sent(baseTime, mustFrame(t, regtest, block))
	c.Sent(baseTime, mustFrame(t, regtest, &legacy))
	c.Sent(baseTime, mustFrame(t, regtest, testBlock(3)))
	c.Close(baseTime)
	file := writeTemp(t, "witness.pcapng", []byte(b.String()))
	expectClean(t, file)
	out := tshark(t, file, "-Y", "bitcoin", "-T", "fields", "-E", "separator=|", "-e", "bitcoin.command",
		"-e", "renga.tx.in_count", "-e", "renga.tx.witness.count", "-e", "renga.block.tx_count",
		"-e", "bitcoin.tx.input_count", "-e", "bitcoin.block.num_transactions")
	// Per-transaction fields of a block come comma-separated.
	want := strings.Join([]string{
		"tx|1|2|||",           // witness: the plugin
		"block|1,1,1,1|2|4||", // holding a witness tx: the plugin
		"tx||||1|",            // legacy: the built-in dissector
		"block||||1,1,1|3",    // legacy: the built-in dissector
	}, "\n")
	if got := strings.TrimSpace(out); got != want {
		t.Fatalf("tshark fields:\n%s\nwant:\n%s", got, want)
	}

	t.Run("cut short", func(t *testing.T) {
		var b strings.Builder
		r, _ := NewRecorder(&b, RecorderConfig{})
		c := r.Conn(baseTime, nodeAddr, peerAddr, false)
		c.Sent(baseTime, cutTx)
		file := writeTemp(t, "cut.pcapng", []byte(b.String()))
		if out := tshark(t, file, "-q", "-z", "expert,error"); !strings.Contains(out, "witness transaction cut short") {
			t.Fatalf("no expert error for a cut witness transaction:\n%s", out)
		}
	})
}
