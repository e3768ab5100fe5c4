package capture

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/renga-p2p/renga/wire"
)

// BIP152's messages, checksums and network magics through tshark with the
// plugin.

// compactSteps is a compact-block exchange: negotiation both ways, a compact
// block with a prefilled coinbase and a prefilled witness transaction, the
// receiver's getblocktxn for what it lacks and the blocktxn answer.
func compactSteps(t testing.TB, magic wire.Magic) (steps []step, block *wire.Block, missing []uint16) {
	t.Helper()
	block = testBlock(40)
	witnessTx := legacyTx("w", 2)
	witnessTx.Inputs[0].Witness = wire.NewWitness(bytes.Repeat([]byte{1}, 71), bytes.Repeat([]byte{2}, 33))
	block.Txs[5] = witnessTx
	cmpct := &wire.MsgCmpctBlock{Header: block.Header, Nonce: 0x0102030405060708,
		Prefilled: []wire.PrefilledTx{{Index: 0, Tx: block.Txs[0]}, {Index: 5, Tx: block.Txs[5]}}}
	for i := range block.Txs {
		if i != 0 && i != 5 {
			cmpct.ShortIDs = append(cmpct.ShortIDs, wire.ShortID{byte(i), 2, 3, 4, 5, 6})
		}
	}
	missing = []uint16{1, 2, 7, 39}
	blocktxn := &wire.MsgBlockTxn{BlockHash: block.Hash()}
	for _, i := range missing {
		blocktxn.Txs = append(blocktxn.Txs, block.Txs[i])
	}
	f := func(m wire.Message) []byte { return mustFrame(t, magic, m) }
	return []step{
		{dir: DirOut, frame: f(&wire.MsgSendCmpct{Announce: true, Version: 2}), command: "sendcmpct"},
		{dir: DirIn, frame: f(&wire.MsgSendCmpct{Announce: false, Version: 2}), command: "sendcmpct"},
		{dir: DirIn, frame: f(cmpct), command: "cmpctblock"},
		{dir: DirOut, frame: f(&wire.MsgGetBlockTxn{BlockHash: block.Hash(), Indexes: missing}), command: "getblocktxn"},
		{dir: DirIn, frame: f(blocktxn), command: "blocktxn"},
		// The same exchange's messages compressed, as two Renga nodes send them.
		{dir: DirIn, frame: f(compress(t, wire.CodecZstd, cmpct)), command: "cmpctblock", wire: "cmpr"},
		{dir: DirIn, frame: f(compress(t, wire.CodecS2, blocktxn)), command: "blocktxn", wire: "cmpr"},
	}, block, missing
}

// recordSteps writes steps on one connection from local to remote.
func recordSteps(t testing.TB, steps []step, local, remote netip.AddrPort) []byte {
	t.Helper()
	var b bytes.Buffer
	r, err := NewRecorder(&b, RecorderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Conn(baseTime, local, remote, false)
	for _, s := range steps {
		if s.dir == DirOut {
			c.Sent(baseTime, s.frame)
		} else {
			c.Received(baseTime, s.frame)
		}
	}
	c.Close(baseTime)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func wireCommands(steps []step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.onWire())
	}
	return out
}

func TestTsharkCompactBlocks(t *testing.T) {
	needTshark(t)
	steps, block, _ := compactSteps(t, regtest)
	capture := recordSteps(t, steps, nodeAddr, peerAddr)
	file := writeTemp(t, "compact.pcapng", capture)

	if got, want := tsharkSequence(t, file), wireCommands(steps); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("tshark decoded %v\nrecorded      %v", got, want)
	}
	t.Run("no malformed packets or expert errors", func(t *testing.T) { expectClean(t, file) })
	t.Run("every checksum verified", func(t *testing.T) {
		out := tshark(t, file, "-Y", "bitcoin", "-T", "fields", "-e", "renga.checksum.status")
		var statuses []string
		for _, line := range strings.Fields(out) {
			statuses = append(statuses, strings.Split(line, ",")...)
		}
		if len(statuses) != len(steps) || strings.Count(strings.Join(statuses, ""), "1") != len(steps) {
			t.Fatalf("checksum statuses %v for %d frames, want all 1 (good)", statuses, len(steps))
		}
	})
	t.Run("fields", func(t *testing.T) {
		out := tshark(t, file, "-Y", "renga.bip152", "-T", "fields", "-E", "separator=|",
			"-e", "renga.sendcmpct.announce", "-e", "renga.sendcmpct.version",
			"-e", "renga.cmpctblock.block_hash", "-e", "renga.cmpctblock.nonce", "-e", "renga.cmpctblock.shortid_count",
			"-e", "renga.cmpctblock.prefilled_count", "-e", "renga.cmpctblock.prefilled.index", "-e", "renga.cmpctblock.tx_count",
			"-e", "renga.tx.witness.count",
			"-e", "renga.getblocktxn.block_hash", "-e", "renga.getblocktxn.index",
			"-e", "renga.blocktxn.block_hash", "-e", "renga.blocktxn.count", "-e", "renga.tx.in_count")
		hash := block.Hash().String()
		want := strings.Join([]string{
			"1|2||||||||||||",
			"0|2||||||||||||",
			"||" + hash + "|0x0102030405060708|38|2|0,5|40|2|||||1,1", // the prefilled transactions' inputs
			"|||||||||" + hash + "|1,2,7,39|||",
			"|||||||||||" + hash + "|4|1,1,1,1",
		}, "\n")
		if got := strings.TrimSpace(out); got != want {
			t.Fatalf("tshark fields:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("Renga's decoder", func(t *testing.T) {
		recs, d := decodeAll(t, capture, DecoderConfig{})
		var got []string
		for _, r := range recs {
			got = append(got, r.Command+" "+r.Summary)
		}
		hash := block.Hash().String()
		want := []string{
			"sendcmpct high-bandwidth version=2",
			"sendcmpct low-bandwidth version=2",
			"cmpctblock " + hash + " 40 txs: 38 shortids, 2 prefilled at 0,5 nonce=0102030405060708",
			"getblocktxn " + hash + " 4 indexes: 1,2,7,39",
			"blocktxn " + hash + " 4 txs",
			"cmpctblock " + hash + " 40 txs: 38 shortids, 2 prefilled at 0,5 nonce=0102030405060708",
			"blocktxn " + hash + " 4 txs",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("decoded:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if st := d.Stats(); st.Messages != len(steps) || st.Decompressed != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestTsharkFlagsBadCompactBlocks(t *testing.T) {
	needTshark(t)
	block := testBlock(3)
	hdr, _ := block.Header.AppendBinary(nil)
	base := append(append([]byte(nil), hdr...), 1, 2, 3, 4, 5, 6, 7, 8) // header, nonce
	coinbase, _ := (&wire.MsgBlockTxn{Txs: block.Txs[:1]}).AppendBinary(nil)
	coinbase = coinbase[33:] // the transaction alone
	hash := block.Hash()
	var b bytes.Buffer
	r, err := NewRecorder(&b, RecorderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var says []string
	for _, tc := range []struct {
		name, command string
		payload       []byte
		says          string
		wireOK        bool // well-formed bytes, invalid to BIP152 (Core's READ_STATUS_INVALID)
	}{
		{"prefilled index past the end", wire.CmdCmpctBlock,
			append(append(append([]byte(nil), base...), 1, 1, 2, 3, 4, 5, 6, 1, 2), coinbase...), "prefilled index 2 past the block's 2 transactions", true},
		{"short ids cut short", wire.CmdCmpctBlock, append(append([]byte(nil), base...), 3, 1, 2, 3), "3 short ids do not fit", false},
		{"getblocktxn index over 16 bits", wire.CmdGetBlockTxn,
			append(append([]byte(nil), hash[:]...), 2, 0xfd, 0xff, 0xff, 0x00), "index 2 overflows 16 bits", false},
		{"blocktxn trailing bytes", wire.CmdBlockTxn, append(append(append([]byte(nil), hash[:]...), 1), append(coinbase, 9)...), "1 bytes after the last transaction", false},
		{"sendcmpct short", wire.CmdSendCmpct, []byte{1, 2, 0, 0}, "expected 9 bytes", false},
	} {
		if _, err := wire.DecodeMessage(tc.command, tc.payload); (err == nil) != tc.wireOK {
			t.Fatalf("%s: the wire package says %v: not the case meant", tc.name, err)
		}
		// Each on a connection of its own, so that one cannot hide another.
		local := netip.AddrPortFrom(nodeAddr.Addr(), uint16(40200+len(says)))
		c := r.Conn(baseTime, local, peerAddr, false)
		c.Received(baseTime, wire.AppendRawFrame(nil, regtest, tc.command, tc.payload))
		c.Close(baseTime)
		says = append(says, tc.says)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	file := writeTemp(t, "bad.pcapng", b.Bytes())
	out := tshark(t, file, "-q", "-z", "expert,error")
	for _, want := range says {
		if !strings.Contains(out, want) {
			t.Errorf("tshark's expert errors do not say %q:\n%s", want, out)
		}
	}
	if v := tshark(t, file, "-V"); strings.Contains(v, "Lua Error") {
		t.Fatalf("the plugin raised a Lua error:\n%s", v)
	}
}

func TestTsharkChecksumMismatch(t *testing.T) {
	needTshark(t)
	good := mustFrame(t, regtest, &wire.MsgPing{Nonce: 1})
	bad := mustFrame(t, regtest, &wire.MsgPing{Nonce: 2})
	bad[wire.FrameHeaderSize] ^= 0xff // the payload no longer matches the checksum
	big := mustFrame(t, regtest, testBlock(60))
	bigBad := bytes.Clone(big)
	bigBad[20] ^= 0x01 // the checksum itself, of a frame over several segments
	steps := []step{
		{dir: DirOut, frame: good},
		{dir: DirIn, frame: bad},
		{dir: DirIn, frame: big},
		{dir: DirIn, frame: bigBad},
	}
	capture := recordSteps(t, steps, nodeAddr, peerAddr)
	file := writeTemp(t, "checksum.pcapng", capture)

	out := tshark(t, file, "-q", "-z", "expert,error")
	if n := strings.Count(out, "frame checksum"); n != 2 {
		t.Fatalf("%d checksum errors, want 2:\n%s", n, out)
	}
	for _, want := range []string{
		fmt.Sprintf("ping frame checksum %x", bad[20:24]),
		fmt.Sprintf("block frame checksum %x", bigBad[20:24]),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the expert errors do not say %q:\n%s", want, out)
		}
	}
	status := tshark(t, file, "-Y", "bitcoin", "-T", "fields", "-e", "bitcoin.command", "-e", "renga.checksum.status")
	if got := strings.Fields(status); strings.Join(got, " ") != "ping 1 ping 0 block 1 block 0" {
		t.Fatalf("checksum statuses %q", got)
	}
	if filtered := tshark(t, file, "-Y", "renga.checksum.bad", "-T", "fields", "-e", "bitcoin.command"); len(strings.Fields(filtered)) != 2 {
		t.Fatalf("the display filter renga.checksum.bad selects %q", filtered)
	}
	// Renga's decoder agrees.
	recs, _ := decodeAll(t, capture, DecoderConfig{})
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Command+":"+r.Kind.String())
	}
	if got := strings.Join(kinds, " "); got != "ping:message ping:malformed block:message block:malformed" {
		t.Fatalf("renga decoded %s", got)
	}
	t.Run("verification off", func(t *testing.T) {
		out := tshark(t, file, "-o", "renga.verify_checksums:FALSE", "-q", "-z", "expert,error")
		if strings.Contains(out, "frame checksum") {
			t.Fatalf("checksums verified with the preference off:\n%s", out)
		}
	})
}

func TestTsharkMagicPreference(t *testing.T) {
	needTshark(t)
	// Ports Wireshark knows nothing of: only the magic tells the stream.
	local := netip.MustParseAddrPort("10.0.0.1:41000")
	remote := netip.MustParseAddrPort("10.0.0.2:45000")
	own := wire.Magic{0x0b, 0xad, 0xca, 0xfe}
	steps := func(magic wire.Magic) []step {
		return []step{
			{dir: DirOut, frame: mustFrame(t, magic, &wire.MsgPing{Nonce: 1})},
			{dir: DirIn, frame: mustFrame(t, magic, testBlock(20))}, // several segments
			{dir: DirIn, frame: mustFrame(t, magic, &wire.MsgSendCmpct{Announce: true, Version: 2})},
		}
	}
	ownFile := writeTemp(t, "own.pcapng", recordSteps(t, steps(own), local, remote))
	devFile := writeTemp(t, "devnet.pcapng", recordSteps(t, steps(wire.Magic{0xd5, 0xe1, 0xb6, 0xa7}), local, remote))
	seq := func(file string, args ...string) string {
		out := tshark(t, file, append(args, "-T", "fields", "-e", "bitcoin.command")...)
		return strings.Join(strings.Fields(out), " ")
	}
	if got := seq(ownFile); got != "" {
		t.Fatalf("without the preference, tshark decodes a magic it does not know: %q", got)
	}
	if got := seq(ownFile, "-o", "renga.magics:0badcafe"); got != "ping block sendcmpct" {
		t.Fatalf("with renga.magics, tshark decoded %q", got)
	}
	if got := seq(devFile); got != "ping block sendcmpct" {
		t.Fatalf("devnet's magic is not among the defaults: %q", got)
	}
	if got := seq(ownFile, "-o", "renga.ports:45000"); got != "ping block sendcmpct" {
		t.Fatalf("with renga.ports, tshark decoded %q", got)
	}
	if got := seq(ownFile, "-o", "renga.magics:fabfb5da"); got != "" {
		t.Fatalf("with other magics, tshark decodes %q", got)
	}
	for _, f := range []string{ownFile, devFile} {
		args := []string{"-o", "renga.magics:0badcafe,d5e1b6a7"}
		if v := tshark(t, f, append(args, "-V")...); strings.Contains(v, "Malformed") || strings.Contains(v, "Lua Error") {
			t.Fatalf("%s: malformed or a Lua error", f)
		}
	}
}
