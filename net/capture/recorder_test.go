package capture

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/renga-p2p/renga/wire"
)

func TestRecorderRoundTrip(t *testing.T) {
	steps := scenario(t, regtest)
	file := record(t, steps, RecorderConfig{})
	recs, d := decodeAll(t, file, DecoderConfig{})
	if len(recs) != len(steps) {
		for _, r := range recs {
			t.Log(string(r.AppendText(nil, nil)))
		}
		t.Fatalf("decoded %d records, recorded %d steps; stats %+v", len(recs), len(steps), d.Stats())
	}
	for i, r := range recs {
		t.Log(string(r.AppendText(nil, nil)))
		if r.Command != steps[i].command || r.Direction != steps[i].dir {
			t.Errorf("record %d: %s %s, want %s %s", i, r.Direction, r.Command, steps[i].dir, steps[i].command)
		}
		if r.Kind != KindMessage && r.Kind != KindBeacon {
			t.Errorf("record %d: kind %s: %s", i, r.Kind, r.Summary)
		}
	}
}

func TestRecorderFilters(t *testing.T) {
	steps := scenario(t, regtest)
	t.Run("commands", func(t *testing.T) {
		file := record(t, steps, RecorderConfig{Commands: []string{"ping", "block"}})
		recs, d := decodeAll(t, file, DecoderConfig{})
		// cmpr wraps a block, so it is kept too (and decoded as the block
		// it carries); sequence numbers stay continuous, so nothing is a gap.
		if got := strings.Join(commandsOf(recs), " "); got != "ping block block ping" || d.Stats().Gaps != 0 {
			t.Fatalf("recorded %q, stats %+v", got, d.Stats())
		}
	})
	t.Run("beacons only", func(t *testing.T) {
		recs, _ := decodeAll(t, record(t, steps, RecorderConfig{Commands: []string{"beacon"}}), DecoderConfig{})
		if len(recs) != 2 || recs[0].Kind != KindBeacon {
			t.Fatalf("records %v", recs)
		}
	})
	t.Run("peers", func(t *testing.T) {
		other := record(t, steps, RecorderConfig{Peers: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}})
		recs, _ := decodeAll(t, other, DecoderConfig{})
		if len(recs) != 0 {
			t.Fatalf("recorded %d records of a peer outside the filter", len(recs))
		}
		same := record(t, steps, RecorderConfig{Peers: []netip.Prefix{netip.PrefixFrom(peerAddr.Addr(), 32)}})
		// Everything but the node's own beacon to the group, which has no
		// end in the filter.
		if recs, _ := decodeAll(t, same, DecoderConfig{}); len(recs) != len(steps)-1 {
			t.Fatalf("recorded %d records of %d for the peer in the filter", len(recs), len(steps)-1)
		}
	})
	t.Run("small MSS", func(t *testing.T) {
		recs, _ := decodeAll(t, record(t, steps, RecorderConfig{MSS: 7}), DecoderConfig{})
		if len(recs) != len(steps) {
			t.Fatalf("%d records", len(recs))
		}
	})
}

func TestRecorderConcurrentConnections(t *testing.T) {
	// Many connections recording at once from two goroutines each (a peer's
	// read and write loops): every frame arrives intact and in order.
	var file bytes.Buffer
	r, err := NewRecorder(&file, RecorderConfig{MSS: 100})
	if err != nil {
		t.Fatal(err)
	}
	const conns, frames = 8, 50
	var wg sync.WaitGroup
	for i := range conns {
		c := r.Conn(baseTime, netip.AddrPortFrom(nodeAddr.Addr(), uint16(40000+i)), peerAddr, i%2 == 0)
		for _, dir := range []Direction{DirOut, DirIn} {
			wg.Go(func() {
				for n := range frames {
					f := mustFrame(t, regtest, &wire.MsgPing{Nonce: uint64(i*1000 + n)})
					f = append(f[:0:0], f...)
					if dir == DirOut {
						c.Sent(baseTime, f)
					} else {
						c.Received(baseTime, mustFrame(t, regtest, &wire.MsgHeaders{Headers: make([]wire.Header, n%5)}))
					}
				}
			})
		}
		defer c.Close(baseTime)
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	recs, d := decodeAll(t, file.Bytes(), DecoderConfig{})
	if len(recs) != conns*frames*2 || d.Stats().Messages != len(recs) {
		t.Fatalf("%d records (stats %+v), want %d messages", len(recs), d.Stats(), conns*frames*2)
	}
	next := map[netip.AddrPort]uint64{}
	for _, rec := range recs {
		if rec.Command != "ping" {
			continue
		}
		var nonce uint64
		if _, err := fmt.Sscanf(rec.Summary, "nonce=%x", &nonce); err != nil {
			t.Fatalf("ping summary %q: %v", rec.Summary, err)
		}
		if want := uint64(rec.Src.Port()-40000)*1000 + next[rec.Src]; nonce != want {
			t.Fatalf("%s: ping %d, want %d", rec.Src, nonce, want)
		}
		next[rec.Src]++
	}
}

func TestRecorderNilAndClosed(t *testing.T) {
	var r *Recorder
	c := r.Conn(baseTime, nodeAddr, peerAddr, false)
	c.Sent(baseTime, []byte("x"))
	c.Received(baseTime, []byte("x"))
	c.Close(baseTime)
	r.Datagram(baseTime, DirOut, beaconSrc, group, []byte("x"))
	if r.Close() != nil || r.Err() != nil {
		t.Fatal("a nil Recorder reported an error")
	}

	var file bytes.Buffer
	r, _ = NewRecorder(&file, RecorderConfig{})
	c = r.Conn(baseTime, nodeAddr, peerAddr, false)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	n := file.Len()
	c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgVerack{}))
	r.Datagram(baseTime, DirOut, beaconSrc, group, []byte("x"))
	if r.Conn(baseTime, nodeAddr, peerAddr, false) != nil || file.Len() != n {
		t.Fatal("a closed Recorder went on writing")
	}
}

// failingWriter fails from its n-th write on.
type failingWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n--; w.n < 0 {
		return 0, errDiskFull
	}
	return len(p), nil
}

func TestRecorderWriteError(t *testing.T) {
	if _, err := NewRecorder(&failingWriter{}, RecorderConfig{}); !errors.Is(err, errDiskFull) {
		t.Fatalf("header write error: %v", err)
	}
	var logged bytes.Buffer
	r, err := NewRecorder(&failingWriter{n: 2}, RecorderConfig{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Conn(baseTime, nodeAddr, peerAddr, false)
	c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgVerack{}))
	c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgVerack{}))
	c.Sent(baseTime, mustFrame(t, regtest, &wire.MsgVerack{}))
	if !errors.Is(r.Err(), errDiskFull) || !errors.Is(r.Close(), errDiskFull) {
		t.Fatalf("Err %v", r.Err())
	}
	if strings.Count(logged.String(), "disk full") != 1 {
		t.Fatalf("logged %q, want the error once", logged.String())
	}
}

func TestRecorderReceivedFrame(t *testing.T) {
	// A read loop's wire.Frame records exactly as the bytes it came from.
	frames := [][]byte{
		mustFrame(t, regtest, &wire.MsgPing{Nonce: 3}),
		mustFrame(t, regtest, testBlock(30)),
		mustFrame(t, regtest, &wire.MsgVerack{}),
		func() []byte { // a bad checksum is recorded as it was
			f := mustFrame(t, regtest, &wire.MsgPong{Nonce: 3})
			f[20] ^= 0xff
			return f
		}(),
	}
	recordWith := func(receive func(c *Conn, frame []byte)) []byte {
		var file bytes.Buffer
		r, err := NewRecorder(&file, RecorderConfig{MSS: 500})
		if err != nil {
			t.Fatal(err)
		}
		c := r.Conn(baseTime, nodeAddr, peerAddr, true)
		for _, f := range frames {
			receive(c, f)
		}
		return file.Bytes()
	}
	want := recordWith(func(c *Conn, frame []byte) { c.Received(baseTime, frame) })
	got := recordWith(func(c *Conn, frame []byte) {
		var h [wire.FrameHeaderSize]byte
		copy(h[:], frame)
		fh, err := wire.ParseFrameHeader(&h, regtest)
		if err != nil {
			t.Fatal(err)
		}
		c.ReceivedFrame(baseTime, wire.Frame{Header: fh, Payload: frame[wire.FrameHeaderSize:]})
	})
	if !bytes.Equal(got, want) {
		t.Fatal("ReceivedFrame recorded other bytes than Received")
	}
	recs, _ := decodeAll(t, got, DecoderConfig{})
	if got := strings.Join(commandsOf(recs), " "); got != "ping block verack [malformed]" {
		t.Fatalf("decoded %s", got)
	}
}
