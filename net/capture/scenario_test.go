package capture

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// The scenario every end-to-end test of this package records: a realistic
// handshake and exchange between a node and one peer on regtest, with the
// node's discovery beacons around it.

var (
	regtest   = wire.Magic{0xfa, 0xbf, 0xb5, 0xda}
	devnet    = wire.Magic{0x72, 0x6e, 0x67, 0x61} // a stand-in for Renga's own
	nodeAddr  = netip.MustParseAddrPort("10.0.0.1:40112")
	peerAddr  = netip.MustParseAddrPort("10.0.0.2:18444")
	group     = netip.MustParseAddrPort("239.255.28.34:28334")
	beaconSrc = netip.MustParseAddrPort("10.0.0.1:28334")
	baseTime  = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)
)

// step is one thing the recorder is told.
type step struct {
	dir     Direction
	beacon  bool
	frame   []byte // a whole frame, or a beacon datagram
	command string // what Renga's decoder should report
	wire    string // the frame's command, when not command (a cmpr, which the decoder shows as what it carries)
}

// onWire is the frame's command, as tshark reports it.
func (s step) onWire() string {
	if s.wire != "" {
		return s.wire
	}
	return s.command
}

// compress returns msg wrapped in a cmpr with codec, its payload really
// compressed.
func compress(t testing.TB, codec wire.Codec, msg wire.Message) *wire.MsgCmpr {
	t.Helper()
	payload, err := msg.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	switch codec {
	case wire.CodecZstd:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		data = enc.EncodeAll(payload, nil)
	case wire.CodecS2:
		data = s2.Encode(nil, payload)
	default:
		t.Fatalf("codec %v", codec)
	}
	return &wire.MsgCmpr{Inner: msg.Command(), Length: uint32(len(payload)), Codec: codec, Data: data}
}

func mustFrame(t testing.TB, magic wire.Magic, msg wire.Message) []byte {
	t.Helper()
	f, err := wire.AppendFrame(nil, magic, msg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func hashOf(s string) sha256d.Hash { return sha256d.Sum([]byte(s)) }

// legacyTx is a P2PKH-style transaction without witness (the serialization
// Wireshark's built-in dissector understands).
func legacyTx(seed string, nOut int) wire.Tx {
	tx := wire.Tx{Version: 1}
	tx.Inputs = []wire.TxIn{{PrevOut: wire.OutPoint{Hash: hashOf(seed), Index: 1},
		ScriptSig: bytes.Repeat([]byte{0x47}, 106), Sequence: 0xffffffff}}
	for i := range nOut {
		script := append([]byte{0x76, 0xa9, 0x14}, bytes.Repeat([]byte{byte(i)}, 20)...)
		script = append(script, 0x88, 0xac)
		tx.Outputs = append(tx.Outputs, wire.TxOut{Value: int64(1000 * (i + 1)), ScriptPubKey: script})
	}
	return tx
}

func coinbase(height int) wire.Tx {
	return wire.Tx{Version: 1,
		Inputs: []wire.TxIn{{PrevOut: wire.OutPoint{Index: 0xffffffff},
			ScriptSig: []byte{0x01, byte(height), 0x00}, Sequence: 0xffffffff}},
		Outputs: []wire.TxOut{{Value: 50e8, ScriptPubKey: append([]byte{0x41}, bytes.Repeat([]byte{4}, 65)...)}},
	}
}

// testBlock is a block with n transactions, large enough to span many segments.
func testBlock(n int) *wire.Block {
	b := &wire.Block{Header: wire.Header{Version: 4, PrevBlock: hashOf("prev"), Time: 1700000000, Bits: 0x207fffff, Nonce: 7}}
	b.Txs = append(b.Txs, coinbase(6))
	for i := 1; i < n; i++ {
		b.Txs = append(b.Txs, legacyTx(string(rune(i)), 2))
	}
	ids := b.TxIDs(nil)
	b.Header.MerkleRoot, _ = wire.MerkleRoot(ids)
	return b
}

func scenario(t testing.TB, magic wire.Magic) []step {
	t.Helper()
	version := func(agent string, height int32) *wire.MsgVersion {
		return &wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion,
			Services:  wire.SFNodeNetwork | wire.SFNodeWitness | wire.SFNodeCompress,
			Timestamp: baseTime.Unix(), AddrRecv: wire.NetAddr{Services: 1, Addr: peerAddr},
			AddrFrom: wire.NetAddr{Services: 1, Addr: nodeAddr}, Nonce: 0x1122334455667788,
			UserAgent: agent, StartHeight: height, Relay: true}
	}
	block := testBlock(40)
	var headers wire.MsgHeaders
	for i := range 3 {
		h := block.Header
		h.Nonce = uint32(i)
		headers.Headers = append(headers.Headers, h)
	}
	tx := legacyTx("spend", 2)
	cmpr := compress(t, wire.CodecZstd, block)
	beacon := wire.AppendBeacon(nil, &wire.Beacon{Query: true, Magic: magic, Genesis: hashOf("genesis"),
		Instance: 0xfeedfacecafebeef, Port: 18444, Services: wire.SFNodeNetwork, StartHeight: 5,
		Time: 1767225600123, Sequence: 1}, nil)
	beacon2 := wire.AppendBeacon(nil, &wire.Beacon{Magic: magic, Genesis: hashOf("genesis"),
		Instance: 0x0123456789abcdef, Port: 18444, Services: wire.SFNodeNetwork, StartHeight: 6,
		Time: 1767225601500, Sequence: 7}, []byte("lan secret"))
	f := func(m wire.Message) []byte { return mustFrame(t, magic, m) }
	return []step{
		{dir: DirOut, beacon: true, frame: beacon, command: "beacon"},
		{dir: DirOut, frame: f(version("/renga:0.1.0/", 5)), command: "version"},
		{dir: DirIn, frame: f(version("/renga:0.1.0/", 6)), command: "version"},
		{dir: DirIn, frame: f(&wire.MsgVerack{}), command: "verack"},
		{dir: DirOut, frame: f(&wire.MsgVerack{}), command: "verack"},
		{dir: DirOut, frame: f(&wire.MsgSendCmpr{Codecs: []wire.Codec{wire.CodecZstd, wire.CodecS2}, MinSize: 512}), command: "sendcmpr"},
		{dir: DirIn, frame: f(&wire.MsgSendCmpr{Codecs: []wire.Codec{wire.CodecZstd}, MinSize: 1024}), command: "sendcmpr"},
		{dir: DirOut, frame: f(&wire.MsgPing{Nonce: 42}), command: "ping"},
		{dir: DirIn, frame: f(&wire.MsgPong{Nonce: 42}), command: "pong"},
		{dir: DirIn, frame: f(&wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvTx, Hash: tx.TxID()},
			{Type: wire.InvTx, Hash: hashOf("t2")}, {Type: wire.InvBlock, Hash: block.Hash()}}}), command: "inv"},
		{dir: DirOut, frame: f(&wire.MsgGetData{Inv: []wire.InvVect{{Type: wire.InvTx, Hash: tx.TxID()},
			{Type: wire.InvBlock, Hash: block.Hash()}}}), command: "getdata"},
		{dir: DirIn, frame: f(&headers), command: "headers"},
		{dir: DirIn, frame: f(block), command: "block"},
		{dir: DirIn, frame: f(&tx), command: "tx"},
		{dir: DirIn, beacon: true, frame: beacon2, command: "beacon"},
		{dir: DirIn, frame: f(cmpr), command: "block", wire: "cmpr"},
		{dir: DirOut, frame: f(&wire.MsgPing{Nonce: 43}), command: "ping"},
		{dir: DirIn, frame: f(&wire.MsgPong{Nonce: 43}), command: "pong"},
	}
}

// record writes a scenario with a Recorder and returns the file.
func record(t testing.TB, steps []step, cfg RecorderConfig) []byte {
	t.Helper()
	var file bytes.Buffer
	r, err := NewRecorder(&file, cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := baseTime
	tick := func() time.Time { now = now.Add(1500 * time.Microsecond); return now }
	c := r.Conn(tick(), nodeAddr, peerAddr, false)
	for _, s := range steps {
		switch {
		case s.beacon && s.dir == DirOut:
			r.Datagram(tick(), DirOut, beaconSrc, group, s.frame)
		case s.beacon:
			r.Datagram(tick(), DirIn, netip.AddrPortFrom(peerAddr.Addr(), 28334), group, s.frame)
		case s.dir == DirOut:
			c.Sent(tick(), s.frame)
		default:
			c.Received(tick(), s.frame)
		}
	}
	c.Close(tick())
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return file.Bytes()
}

// decodeAll reads a capture file and decodes every record.
func decodeAll(t testing.TB, file []byte, cfg DecoderConfig) ([]Record, *Decoder) {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(cfg)
	var recs []Record
	for {
		p, err := rd.Next()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("reading: %v", err)
			}
			break
		}
		recs = d.Feed(p, recs)
	}
	return d.Flush(recs), d
}
