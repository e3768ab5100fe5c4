package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renga-p2p/renga/wire"
)

func TestMessageCaptureName(t *testing.T) {
	for _, tc := range []struct {
		peer, name string
		back       string // the address parsed back, when not peer
	}{
		{"10.0.0.2:18444", "10.0.0.2_18444", ""},
		{"[2001:db8::1]:8333", "[2001_db8__1]_8333", ""},
		{"[::1]:28333", "[__1]_28333", ""},
		{"[2001:db8:0:1:1:1:1:1]:1", "[2001_db8_0_1_1_1_1_1]_1", ""}, // one zero group is not shortened (RFC 5952, as Core)
		{"[::ffff:10.0.0.2]:18444", "10.0.0.2_18444", "10.0.0.2:18444"},
		{"[fe80::1%eth0]:18444", "[fe80__1%eth0]_18444", ""},
	} {
		t.Run(tc.peer, func(t *testing.T) {
			peer := netip.MustParseAddrPort(tc.peer)
			if got := MessageCaptureName(peer); got != tc.name {
				t.Fatalf("name %q, want %q", got, tc.name)
			}
			want := tc.back
			if want == "" {
				want = tc.peer
			}
			if back, ok := ParseMessageCaptureName(tc.name); !ok || back.String() != want {
				t.Fatalf("parsed back %v %v, want %s", back, ok, want)
			}
		})
	}
	for _, bad := range []string{"", "10.0.0.2", "10.0.0.2_", "10.0.0.2_70000", "[10.0.0.2]_1", "2001_db8__1_8333",
		"abcdefghijklmnop.onion_8333", "[nonsense]_1"} {
		if ap, ok := ParseMessageCaptureName(bad); ok {
			t.Errorf("%q parses as %v", bad, ap)
		}
	}
	// A zone that would be a path is left out.
	if got := MessageCaptureName(netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone("a/../b"), 1)); got != "[fe80__1]_1" {
		t.Errorf("name %q", got)
	}
}

// record reads a message-capture file's bytes the way Core's parser does,
// independently of MessageReader.
type coreRecord struct {
	micros  uint64
	command [12]byte
	payload []byte
}

func parseCoreFile(t *testing.T, b []byte) []coreRecord {
	t.Helper()
	var out []coreRecord
	for len(b) > 0 {
		if len(b) < 24 {
			t.Fatalf("%d bytes left: not a record header", len(b))
		}
		var r coreRecord
		r.micros = binary.LittleEndian.Uint64(b)
		copy(r.command[:], b[8:20])
		n := int(binary.LittleEndian.Uint32(b[20:24]))
		if len(b) < 24+n {
			t.Fatalf("record of %d bytes, %d left", n, len(b)-24)
		}
		r.payload = b[24 : 24+n]
		out = append(out, r)
		b = b[24+n:]
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMessageCaptureFormat(t *testing.T) {
	dir := t.TempDir()
	m := NewMessageCapture(dir, MessageCaptureConfig{})
	c := m.Conn(peerAddr, true)
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897123, time.UTC) // nanoseconds: Core keeps microseconds
	ping := mustFrame(t, regtest, &wire.MsgPing{Nonce: 0x1122334455667788})
	block := mustFrame(t, regtest, testBlock(40)) // past the small-record buffer
	c.Sent(at, ping)
	c.Received(at.Add(time.Second), block)
	c.Received(at.Add(2*time.Second), mustFrame(t, regtest, &wire.MsgVerack{}))
	c.Close(at)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	peerDir := filepath.Join(dir, "message_capture", "10.0.0.2_18444")
	sent := readFile(t, filepath.Join(peerDir, "msgs_sent.dat"))
	want := binary.LittleEndian.AppendUint64(nil, uint64(at.UnixMicro()))
	want = append(want, "ping\x00\x00\x00\x00\x00\x00\x00\x00"...)
	want = binary.LittleEndian.AppendUint32(want, 8)
	want = append(want, ping[24:]...)
	if !bytes.Equal(sent, want) {
		t.Fatalf("msgs_sent.dat:\n%x\nwant\n%x", sent, want)
	}
	recv := parseCoreFile(t, readFile(t, filepath.Join(peerDir, "msgs_recv.dat")))
	if len(recv) != 2 || string(recv[0].command[:]) != "block\x00\x00\x00\x00\x00\x00\x00" || !bytes.Equal(recv[0].payload, block[24:]) ||
		recv[0].micros != uint64(at.Add(time.Second).UnixMicro()) || string(recv[1].command[:6]) != "verack" || len(recv[1].payload) != 0 {
		t.Fatalf("msgs_recv.dat: %d records", len(recv))
	}
}

func TestMessageCaptureRecordsCmprAsWhatItCarries(t *testing.T) {
	dir := t.TempDir()
	m := NewMessageCapture(dir, MessageCaptureConfig{})
	c := m.Conn(peerAddr, true)
	block := testBlock(30)
	plain, _ := block.AppendBinary(nil)
	broken := compress(t, wire.CodecZstd, block)
	broken.Data = broken.Data[:len(broken.Data)/2]
	brokenFrame := mustFrame(t, regtest, broken)
	c.Received(baseTime, mustFrame(t, regtest, compress(t, wire.CodecZstd, block)))
	c.Sent(baseTime, mustFrame(t, regtest, compress(t, wire.CodecS2, block)))
	c.Received(baseTime, brokenFrame)
	c.Close(baseTime)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	peerDir := filepath.Join(dir, "message_capture", MessageCaptureName(peerAddr))
	recv := parseCoreFile(t, readFile(t, filepath.Join(peerDir, "msgs_recv.dat")))
	sent := parseCoreFile(t, readFile(t, filepath.Join(peerDir, "msgs_sent.dat")))
	if len(recv) != 2 || len(sent) != 1 {
		t.Fatalf("%d records received, %d sent", len(recv), len(sent))
	}
	for i, r := range []coreRecord{recv[0], sent[0]} {
		if commandField(r.command[:]) != "block" || !bytes.Equal(r.payload, plain) {
			t.Errorf("record %d: %q of %d bytes, want the block decompressed", i, r.command, len(r.payload))
		}
	}
	if commandField(recv[1].command[:]) != "cmpr" || !bytes.Equal(recv[1].payload, brokenFrame[24:]) {
		t.Errorf("a cmpr that does not decompress is recorded as %q", recv[1].command)
	}
}

func TestMessageCaptureEnable(t *testing.T) {
	dir := t.TempDir()
	m := NewMessageCapture(dir, MessageCaptureConfig{})
	c := m.Conn(peerAddr, false)
	c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgPing{Nonce: 1}))
	if _, err := os.Stat(filepath.Join(dir, "message_capture")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a disabled connection created files: %v", err)
	}
	c.SetEnabled(true)
	if !c.Enabled() {
		t.Fatal("not enabled")
	}
	c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgPing{Nonce: 2}))
	c.SetEnabled(false)
	c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgPing{Nonce: 3}))
	c.SetEnabled(true)
	c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgPing{Nonce: 4}))
	c.Close(baseTime)
	c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgPing{Nonce: 5})) // after Close: nothing
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var nonces []uint64
	for _, r := range parseCoreFile(t, readFile(t, filepath.Join(dir, "message_capture", "10.0.0.2_18444", "msgs_sent.dat"))) {
		nonces = append(nonces, binary.LittleEndian.Uint64(r.payload))
	}
	if fmt.Sprint(nonces) != "[2 4]" {
		t.Fatalf("recorded pings %v, want [2 4]", nonces)
	}
	if _, err := os.Stat(filepath.Join(dir, "message_capture", "10.0.0.2_18444", "msgs_recv.dat")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a direction with nothing recorded has a file: %v", err)
	}
}

func TestMessageCaptureNil(t *testing.T) {
	var m *MessageCapture
	c := m.Conn(peerAddr, true)
	c.Sent(baseTime, []byte("x"))
	c.Received(baseTime, []byte("x"))
	c.SetEnabled(true)
	c.Close(baseTime)
	if c != nil || c.Enabled() || m.Err() != nil || m.Close() != nil || m.Dir() != "" {
		t.Fatal("a nil MessageCapture did something")
	}
	if NewMessageCapture(t.TempDir(), MessageCaptureConfig{}).Conn(netip.AddrPort{}, true) != nil {
		t.Fatal("a connection without an address got a tap")
	}
	// Frames shorter than a header are not frames.
	dir := t.TempDir()
	m = NewMessageCapture(dir, MessageCaptureConfig{})
	m.Conn(peerAddr, true).Sent(baseTime, make([]byte, 23))
	if _, err := os.Stat(filepath.Join(dir, "message_capture")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a short frame was recorded: %v", err)
	}
}

func TestMessageCaptureConcurrent(t *testing.T) {
	// Connections to one address overlapping (one closing while the next
	// begins) and each one's read and write loops at once: every record
	// whole, each direction's in order.
	dir := t.TempDir()
	m := NewMessageCapture(dir, MessageCaptureConfig{})
	const conns, msgs = 4, 200
	var wg sync.WaitGroup
	for i := range conns {
		c := m.Conn(peerAddr, true)
		for _, send := range []func(time.Time, []byte){c.Sent, c.Received} {
			wg.Go(func() {
				for j := range msgs {
					send(baseTime, mustFrame(t, regtest, &wire.MsgPing{Nonce: uint64(i<<32 | j)}))
				}
			})
		}
		defer c.Close(baseTime)
	}
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"msgs_sent.dat", "msgs_recv.dat"} {
		next := map[uint64]uint64{}
		recs := parseCoreFile(t, readFile(t, filepath.Join(dir, "message_capture", "10.0.0.2_18444", name)))
		if len(recs) != conns*msgs {
			t.Fatalf("%s: %d records, want %d", name, len(recs), conns*msgs)
		}
		for _, r := range recs {
			n := binary.LittleEndian.Uint64(r.payload)
			if n&0xffffffff != next[n>>32] {
				t.Fatalf("%s: connection %d's ping %d after %d", name, n>>32, n&0xffffffff, next[n>>32])
			}
			next[n>>32]++
		}
	}
}

func TestMessageCaptureWriteError(t *testing.T) {
	// A data directory that cannot hold message_capture: the first record
	// fails, the error is kept and logged once, and nothing more is tried.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "message_capture"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	m := NewMessageCapture(dir, MessageCaptureConfig{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	a, b := m.Conn(peerAddr, true), m.Conn(nodeAddr, true)
	a.Sent(baseTime, mustFrame(t, regtest, &wire.MsgVerack{}))
	b.Sent(baseTime, mustFrame(t, regtest, &wire.MsgVerack{}))
	a.Received(baseTime, mustFrame(t, regtest, &wire.MsgVerack{}))
	if err := m.Err(); err == nil || !errors.Is(m.Close(), err) {
		t.Fatalf("Err %v", err)
	}
	if n := strings.Count(logged.String(), "message capture stopped"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logged.String())
	}

	t.Run("a file closed under a writer", func(t *testing.T) {
		dir := t.TempDir()
		m := NewMessageCapture(dir, MessageCaptureConfig{})
		c := m.Conn(peerAddr, true)
		c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgVerack{}))
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgVerack{})) // the node shut capture down first
		c.Close(baseTime)
		if m.Err() != nil {
			t.Fatalf("Err %v", m.Err())
		}
	})
}

func TestMultiTap(t *testing.T) {
	if MultiTap() != nil || MultiTap(nil, (*Conn)(nil), (*MessageConn)(nil)) != nil {
		t.Fatal("MultiTap of nothing is not nil")
	}
	dir := t.TempDir()
	m := NewMessageCapture(dir, MessageCaptureConfig{})
	mc := m.Conn(peerAddr, true)
	if MultiTap(nil, mc) != Tap(mc) {
		t.Fatal("MultiTap of one tap is not that tap")
	}
	var png bytes.Buffer
	r, _ := NewRecorder(&png, RecorderConfig{})
	tap := MultiTap(r.Conn(baseTime, nodeAddr, peerAddr, false), nil, mc)
	steps := scenario(t, regtest)
	at := baseTime
	for _, s := range steps {
		// Distinct times: Core's files, one per direction, order messages
		// only by their microseconds.
		at = at.Add(time.Millisecond)
		switch {
		case s.beacon:
		case s.dir == DirOut:
			tap.Sent(at, s.frame)
		default:
			tap.Received(at, s.frame)
		}
	}
	tap.Close(at)
	if err := errors.Join(r.Close(), m.Close()); err != nil {
		t.Fatal(err)
	}
	pcapng, _ := decodeAll(t, png.Bytes(), DecoderConfig{})
	dat := readMessageCapture(t, dir)
	if got, want := recordLines(dat), recordLines(pcapng); got != want {
		t.Fatalf("message capture:\n%s\npcapng:\n%s", got, want)
	}
	if len(dat) != len(steps)-2 {
		t.Fatalf("%d records for %d frames", len(dat), len(steps)-2)
	}
}

// readMessageCapture decodes every record of a message capture in time order.
func readMessageCapture(t *testing.T, path string) []Record {
	t.Helper()
	r, err := OpenMessageCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }() // read-only
	d := NewDecoder(DecoderConfig{})
	var recs []Record
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, d.Message(m))
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// recordLines is what a message capture and a pcapng of one conversation
// share: time, direction, the peer's end, command, size and summary (a
// message-capture file has neither the node's address, nor the magic, nor
// the cmpr a message came in).
func recordLines(recs []Record) string {
	var b strings.Builder
	for _, r := range recs {
		peer := r.Dst
		if r.Direction == DirIn {
			peer = r.Src
		}
		fmt.Fprintf(&b, "%s %s %s %s %d %s\n", r.Time.UTC().Format(time.RFC3339Nano), r.Direction, peer, r.Command, r.Size, r.Summary)
	}
	return b.String()
}

func TestMessageCaptureRoundTrip(t *testing.T) {
	// The scenario recorded as pcapng and as message capture, at distinct
	// times: read back, the same messages in the same order.
	steps := scenario(t, regtest)
	var png bytes.Buffer
	r, _ := NewRecorder(&png, RecorderConfig{})
	dir := t.TempDir()
	m := NewMessageCapture(dir, MessageCaptureConfig{})
	at := baseTime
	tap := MultiTap(r.Conn(at, nodeAddr, peerAddr, false), m.Conn(peerAddr, true))
	for _, s := range steps {
		at = at.Add(1500 * time.Microsecond)
		switch {
		case s.beacon:
		case s.dir == DirOut:
			tap.Sent(at, s.frame)
		default:
			tap.Received(at, s.frame)
		}
	}
	tap.Close(at)
	if err := errors.Join(r.Close(), m.Close()); err != nil {
		t.Fatal(err)
	}
	pcapng, _ := decodeAll(t, png.Bytes(), DecoderConfig{})
	for _, path := range []string{dir, filepath.Join(dir, "message_capture"), filepath.Join(dir, "message_capture", "10.0.0.2_18444")} {
		dat := readMessageCapture(t, path)
		if got, want := recordLines(dat), recordLines(pcapng); got != want {
			t.Fatalf("%s:\n%s\npcapng:\n%s", path, got, want)
		}
	}
	// The cmpr: shown as the block in both, marked only in the pcapng.
	for _, rec := range pcapng {
		if rec.Codec != 0 && (rec.Command != "block" || rec.Compressed == 0) {
			t.Fatalf("pcapng cmpr record %+v", rec)
		}
	}
}

func TestMessageReaderBadFiles(t *testing.T) {
	record := func(cmd string, payload []byte, micros uint64) []byte {
		b := binary.LittleEndian.AppendUint64(nil, micros)
		var c [12]byte
		copy(c[:], cmd)
		b = append(b, c[:]...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
		return append(b, payload...)
	}
	ping := record("ping", []byte{1, 2, 3, 4, 5, 6, 7, 8}, 1_000_000)
	huge := binary.LittleEndian.AppendUint32(record("block", nil, 1)[:20], wire.MaxMessageSize+1)
	for _, tc := range []struct {
		name      string
		file      []byte
		good      int
		truncated bool
		says      string
	}{
		{"empty", nil, 0, false, ""},
		{"whole", append(bytes.Clone(ping), ping...), 2, false, ""},
		{"cut in a header", append(bytes.Clone(ping), ping[:10]...), 1, true, "record header at byte 32 cut short"},
		{"cut in a payload", append(bytes.Clone(ping), ping[:30]...), 1, true, "ping record of 8 bytes at byte 32 cut short"},
		{"over the message limit", append(bytes.Clone(ping), huge...), 1, false, "block record of 4000001 bytes, over the 4000000-byte message limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewMessageReader(bytes.NewReader(tc.file))
			n := 0
			var err error
			for {
				var m MessageRecord
				m, err = r.Next()
				if err != nil {
					break
				}
				if m.Command != "ping" || m.Time != time.UnixMicro(1_000_000) || len(m.Payload) != 8 {
					t.Fatalf("record %+v", m)
				}
				n++
			}
			if n != tc.good {
				t.Fatalf("%d good records, want %d", n, tc.good)
			}
			if tc.says == "" {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("ends with %v, want EOF", err)
				}
				return
			}
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) || errors.Is(err, ErrTruncated) != tc.truncated ||
				!strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %v, want one saying %q (truncated %v)", err, tc.says, tc.truncated)
			}
		})
	}
	t.Run("a claim over the limit allocates no payload", func(t *testing.T) {
		var ms runtimeMem
		ms.start()
		r := NewMessageReader(bytes.NewReader(huge))
		if _, err := r.Next(); !errors.Is(err, ErrFormat) {
			t.Fatalf("error %v", err)
		}
		if n := ms.allocated(); n > 256<<10 { // the 64 KiB read buffer and change
			t.Fatalf("%d bytes allocated", n)
		}
	})

	t.Run("one bad file among good ones", func(t *testing.T) {
		dir := t.TempDir()
		write := func(peer, name string, b []byte) {
			p := filepath.Join(dir, "message_capture", peer)
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(p, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("10.0.0.2_18444", "msgs_sent.dat", append(record("ping", make([]byte, 8), 10), record("ping", make([]byte, 8), 30)...))
		write("10.0.0.2_18444", "msgs_recv.dat", append(record("pong", make([]byte, 8), 20), ping[:30]...))
		write("[2001_db8__1]_8333", "msgs_recv.dat", record("verack", nil, 25))
		write("not-a-peer", "notes.txt", []byte("ignored"))
		r, err := OpenMessageCapture(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.Close() }() // read-only
		if len(r.Files()) != 3 {
			t.Fatalf("files %v", r.Files())
		}
		var got []string
		for {
			m, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%d %s %s %s", m.Time.UnixMicro(), m.Direction, m.Peer, m.Command))
		}
		want := "10 out 10.0.0.2:18444 ping|20 in 10.0.0.2:18444 pong|25 in [2001:db8::1]:8333 verack|30 out 10.0.0.2:18444 ping"
		if strings.Join(got, "|") != want {
			t.Fatalf("read %q\nwant %q", strings.Join(got, "|"), want)
		}
		if err := r.Err(); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "msgs_recv.dat") {
			t.Fatalf("Err %v", err)
		}
	})
	t.Run("no files", func(t *testing.T) {
		if _, err := OpenMessageCapture(t.TempDir()); !errors.Is(err, errNotMessageCapture) {
			t.Fatalf("error %v", err)
		}
		if _, err := OpenMessageCapture(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("error %v", err)
		}
	})
}

func TestDecompressor(t *testing.T) {
	block := testBlock(30)
	plain, _ := block.AppendBinary(nil)
	d := &decompressor{concurrency: 1}
	for _, codec := range []wire.Codec{wire.CodecZstd, wire.CodecS2} {
		t.Run(codec.String(), func(t *testing.T) {
			good := compress(t, codec, block)
			got, err := d.decompress(good)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("decompressed %d bytes, %v", len(got), err)
			}
			for _, tc := range []struct {
				name   string
				mutate func(m *wire.MsgCmpr)
			}{
				{"declares less than it holds", func(m *wire.MsgCmpr) { m.Length-- }},
				{"declares more than it holds", func(m *wire.MsgCmpr) { m.Length++ }},
				{"declares nothing", func(m *wire.MsgCmpr) { m.Length = 0 }},
				{"cut short", func(m *wire.MsgCmpr) { m.Data = m.Data[:len(m.Data)/2] }},
				{"unknown codec", func(m *wire.MsgCmpr) { m.Codec = 9 }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					m := *good
					tc.mutate(&m)
					if out, err := d.decompress(&m); !errors.Is(err, ErrDecompress) {
						t.Fatalf("decompressed %d bytes, %v", len(out), err)
					}
				})
			}
		})
	}
	t.Run("a bomb costs the declared length", func(t *testing.T) {
		// 4 MB of zeros in a few hundred bytes, declared as 1 KB.
		bomb := compress(t, wire.CodecZstd, &wire.MsgBlockTxn{Txs: []wire.Tx{{Outputs: []wire.TxOut{{ScriptPubKey: make([]byte, 3_900_000)}}}}})
		bomb.Length = 1000
		var ms runtimeMem
		ms.start()
		if _, err := d.decompress(bomb); !errors.Is(err, ErrDecompress) {
			t.Fatalf("error %v", err)
		}
		if n := ms.allocated(); n > 1<<20 {
			t.Fatalf("decompressing a bomb allocated %d bytes", n)
		}
	})
	t.Run("empty", func(t *testing.T) {
		m := compress(t, wire.CodecZstd, &wire.MsgVerack{})
		if out, err := d.decompress(m); err != nil || len(out) != 0 {
			t.Fatalf("%d bytes, %v", len(out), err)
		}
	})
}

func TestDecoderCmpr(t *testing.T) {
	block := testBlock(30)
	good := compress(t, wire.CodecS2, block)
	bad := *good
	bad.Data = bad.Data[:10]
	unknown := &wire.MsgCmpr{Inner: "futurecmd", Length: 4_000_000, Codec: wire.CodecZstd, Data: []byte{1}}
	inner := compress(t, wire.CodecZstd, &wire.MsgPing{Nonce: 1})
	inner.Inner = wire.CmdPong // the envelope names the command: a ping's 8 bytes make a good pong
	wrongSize := compress(t, wire.CodecZstd, &wire.MsgVerack{})
	wrongSize.Inner = wire.CmdPing // an empty ping: malformed once decompressed
	steps := []step{
		{dir: DirIn, frame: mustFrame(t, regtest, good)},
		{dir: DirIn, frame: mustFrame(t, regtest, &bad)},
		{dir: DirIn, frame: mustFrame(t, regtest, unknown)},
		{dir: DirIn, frame: mustFrame(t, regtest, inner)},
		{dir: DirIn, frame: mustFrame(t, regtest, wrongSize)},
	}
	recs, d := decodeAll(t, recordSteps(t, steps, nodeAddr, peerAddr), DecoderConfig{})
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s %s inner=%q codec=%d %d/%d %s", r.Kind, r.Command, r.Inner, r.Codec, r.Size, r.Compressed, r.Summary))
	}
	plain, _ := block.AppendBinary(nil)
	want := []string{
		fmt.Sprintf(`message block inner="" codec=2 %d/%d %s 30 txs`, len(plain), len(steps[0].frame)-24, block.Hash()),
		fmt.Sprintf(`malformed cmpr inner="block" codec=0 %d/0 inner=block %d→10 s2: capture: cmpr does not decompress: s2: corrupt input`, len(steps[1].frame)-24, len(plain)),
		`unknown cmpr inner="futurecmd" codec=0 19/0 inner=futurecmd 4000000→1 zstd: unknown inner command`,
		fmt.Sprintf(`message pong inner="" codec=1 8/%d nonce=0000000000000001`, len(steps[3].frame)-24),
		fmt.Sprintf(`malformed ping inner="" codec=1 0/%d wire: malformed ping`, len(steps[4].frame)-24),
	}
	for i := range want {
		if i >= len(got) || !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("decoded:\n%s\nwant (prefixes):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if st := d.Stats(); st.Decompressed != 3 || st.Messages != 2 || st.Malformed != 2 || st.Unknown != 1 {
		t.Fatalf("stats %+v", st)
	}
	line := string(recs[0].AppendText(nil, nil))
	if !strings.Contains(line, " block ") || !strings.Contains(line, fmt.Sprintf("[cmpr s2 %d B] %s 30 txs", len(steps[0].frame)-24, block.Hash())) {
		t.Fatalf("text %q", line)
	}
	j, _ := recs[0].MarshalJSON()
	if !strings.Contains(string(j), `"command":"block"`) || !strings.Contains(string(j), `"cmpr":"s2"`) ||
		!strings.Contains(string(j), fmt.Sprintf(`"cmpr_size":%d`, len(steps[0].frame)-24)) {
		t.Fatalf("JSON %s", j)
	}
	for _, tc := range []struct {
		commands []string
		want     int
	}{{[]string{"cmpr"}, 5}, {[]string{"block"}, 2}, {[]string{"pong"}, 1}, {[]string{"futurecmd"}, 1}} {
		f := Filter{Commands: tc.commands}
		n := 0
		for i := range recs {
			if f.Match(&recs[i]) {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("--command %v selects %d records, want %d", tc.commands, n, tc.want)
		}
	}
}

// runtimeMem measures the bytes allocated between start and allocated.
type runtimeMem struct{ before uint64 }

func (m *runtimeMem) start() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.before = s.TotalAlloc
}

func (m *runtimeMem) allocated() uint64 {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.TotalAlloc - m.before
}
