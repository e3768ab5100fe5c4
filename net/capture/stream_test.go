package capture

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// A stream under test: the TCP frames of the scenario, node → peer, cut into
// segments that the tests reorder, repeat, drop and truncate.

const isn0 = 1_000_000

func streamFrames(t testing.TB, magic wire.Magic) (stream []byte, commands []string) {
	t.Helper()
	for _, s := range scenario(t, magic) {
		if !s.beacon {
			stream = append(stream, s.frame...)
			commands = append(commands, s.command)
		}
	}
	return stream, commands
}

// seg is a TCP segment of the test stream: bytes [off, off+n) of it.
type seg struct {
	off, n int
	flags  uint8
}

func tcpPacket(src, dst netip.AddrPort, seq uint32, flags uint8, payload []byte, at time.Time) Packet {
	b := appendTCPPacket(nil, src, dst, 1, tcpFields{seq: seq, flags: flags | TCPAck, window: 65535}, payload)
	return Packet{Time: at, LinkType: LinkRaw, Data: b, Length: len(b)}
}

// cut splits n bytes into segments of random sizes up to max.
func cut(rng *rand.Rand, n, maxSize int) []seg {
	var segs []seg
	for off := 0; off < n; {
		size := min(1+rng.IntN(maxSize), n-off)
		segs = append(segs, seg{off: off, n: size})
		off += size
	}
	return segs
}

// feedStream decodes a SYN, the segments of stream, and a FIN, all node → peer.
func feedStream(t testing.TB, d *Decoder, stream []byte, segs []seg, syn bool) []Record {
	t.Helper()
	var recs []Record
	at := baseTime
	if syn {
		recs = d.Feed(tcpPacket(nodeAddr, peerAddr, isn0-1, TCPSyn, nil, at), recs)
	}
	for _, s := range segs {
		at = at.Add(time.Millisecond)
		recs = d.Feed(tcpPacket(nodeAddr, peerAddr, uint32(isn0+s.off), s.flags, stream[s.off:s.off+s.n], at), recs)
	}
	recs = d.Feed(tcpPacket(nodeAddr, peerAddr, uint32(isn0+len(stream)), TCPFin, nil, at), recs)
	return d.Flush(recs)
}

func commandsOf(recs []Record) []string {
	var out []string
	for _, r := range recs {
		switch r.Kind {
		case KindMessage, KindUnknown:
			out = append(out, r.Command)
		case KindGap:
			out = append(out, "[gap]")
		case KindMalformed:
			out = append(out, "[malformed]")
		}
	}
	return out
}

func TestReassemblyOrdersSegments(t *testing.T) {
	stream, want := streamFrames(t, regtest)
	for _, tc := range []struct {
		name    string
		arrange func(rng *rand.Rand, segs []seg) []seg
	}{
		{"in order", func(rng *rand.Rand, segs []seg) []seg { return segs }},
		{"reversed", func(rng *rand.Rand, segs []seg) []seg {
			out := append([]seg(nil), segs...)
			for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
				out[i], out[j] = out[j], out[i]
			}
			return out
		}},
		{"shuffled", func(rng *rand.Rand, segs []seg) []seg {
			out := append([]seg(nil), segs...)
			rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			return out
		}},
		{"every segment twice", func(rng *rand.Rand, segs []seg) []seg {
			var out []seg
			for _, s := range segs {
				out = append(out, s, s)
			}
			return out
		}},
		{"retransmissions cut differently", func(rng *rand.Rand, segs []seg) []seg {
			// Each segment is followed by a resend of a random span that
			// overlaps what came before and after.
			var out []seg
			for _, s := range segs {
				out = append(out, s)
				start := max(0, s.off-rng.IntN(100))
				end := min(len(stream), s.off+s.n+rng.IntN(100))
				out = append(out, seg{off: start, n: end - start})
			}
			return out
		}},
		{"local reordering", func(rng *rand.Rand, segs []seg) []seg {
			out := append([]seg(nil), segs...)
			for i := 0; i+1 < len(out); i += 2 {
				if rng.IntN(2) == 0 {
					out[i], out[i+1] = out[i+1], out[i]
				}
			}
			return out
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 1))
				segs := tc.arrange(rng, cut(rng, len(stream), 1+rng.IntN(3000)))
				d := NewDecoder(DecoderConfig{})
				got := commandsOf(feedStream(t, d, stream, segs, true))
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("seed %d: got %v\nwant %v", seed, got, want)
				}
				if d.buffered != 0 || len(d.conns) != 0 {
					t.Fatalf("seed %d: %d bytes and %d streams still held", seed, d.buffered, len(d.conns))
				}
			}
		})
	}
}

func TestReassemblyGaps(t *testing.T) {
	stream, want := streamFrames(t, regtest)
	frameStart := func(i int) int { // offset of the i-th frame
		off := 0
		for k := 0; k < i; k++ {
			off += wire.FrameHeaderSize + int(leUint32(stream[off+16:]))
		}
		return off
	}
	block := indexOf(want, "block")
	for _, tc := range []struct {
		name string
		drop func(segs []seg) []seg
		want []string
	}{
		{
			// A hole inside the block's payload: the block is lost, the parser
			// skips exactly to its end and everything after decodes.
			name: "inside a frame",
			drop: func(segs []seg) []seg { return dropRange(segs, frameStart(block)+100, frameStart(block)+3000) },
			want: replace(want, block, "[gap]"),
		},
		{
			// A hole across the end of the block and the start of tx: both are
			// lost; the parser finds the next magic (cmpr).
			name: "across frames",
			drop: func(segs []seg) []seg { return dropRange(segs, frameStart(block)+100, frameStart(block+1)+30) },
			want: append(append(append([]string(nil), want[:block]...), "[gap]"), want[block+2:]...),
		},
		{
			// A hole exactly covering one frame: the next one is found by magic.
			name: "a whole frame",
			drop: func(segs []seg) []seg { return dropRange(segs, frameStart(1), frameStart(2)) },
			want: append(append(append([]string(nil), want[:1]...), "[gap]"), want[2:]...),
		},
		{
			name: "at the end",
			drop: func(segs []seg) []seg { return dropRange(segs, frameStart(len(want)-1)+10, len(stream)) },
			want: append(append([]string(nil), want[:len(want)-1]...), "[gap]"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			segs := tc.drop(cut(rand.New(rand.NewPCG(7, 7)), len(stream), 500))
			d := NewDecoder(DecoderConfig{})
			recs := feedStream(t, d, stream, segs, true)
			got := commandsOf(recs)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("got  %v\nwant %v", got, tc.want)
			}
			if d.Stats().Gaps == 0 || d.Stats().GapBytes == 0 {
				t.Fatalf("stats %+v report no gap", d.Stats())
			}
		})
	}
}

func leUint32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	panic("no " + s)
}

func replace(list []string, i int, s string) []string {
	out := append([]string(nil), list...)
	out[i] = s
	return out
}

// dropRange removes the bytes [from, to) from a segment list, splitting
// segments at its edges.
func dropRange(segs []seg, from, to int) []seg {
	var out []seg
	for _, s := range segs {
		end := s.off + s.n
		if s.off < from {
			out = append(out, seg{off: s.off, n: min(end, from) - s.off})
		}
		if end > to {
			start := max(s.off, to)
			out = append(out, seg{off: start, n: end - start})
		}
	}
	return out
}

func TestDecoderJunkAndMidStream(t *testing.T) {
	stream, want := streamFrames(t, regtest)
	http := []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n")

	t.Run("not Bitcoin on a Renga port", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{})
		junk := bytes.Repeat(http, 50)
		recs := feedStream(t, d, junk, cut(rand.New(rand.NewPCG(1, 1)), len(junk), 700), true)
		if len(recs) != 1 || recs[0].Kind != KindMalformed || recs[0].Size != len(junk) {
			t.Fatalf("records %+v, want one malformed record of %d bytes", recs, len(junk))
		}
	})
	t.Run("junk before frames", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{})
		s := append(append([]byte(nil), http...), stream...)
		got := commandsOf(feedStream(t, d, s, cut(rand.New(rand.NewPCG(2, 2)), len(s), 900), true))
		if strings.Join(got, " ") != "[malformed] "+strings.Join(want, " ") {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("joined mid-stream", func(t *testing.T) {
		// No SYN, the first segment starts inside the first frame: the decoder
		// finds the next magic quietly.
		d := NewDecoder(DecoderConfig{})
		segs := cut(rand.New(rand.NewPCG(3, 3)), len(stream), 900)
		got := commandsOf(feedStream(t, d, stream, dropRange(segs, 0, 10), false))
		if strings.Join(got, " ") != strings.Join(want[1:], " ") {
			t.Fatalf("got  %v\nwant %v", got, want[1:])
		}
	})
	t.Run("other traffic on another port is ignored", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{})
		a, b := netip.MustParseAddrPort("10.0.0.1:50000"), netip.MustParseAddrPort("10.0.0.2:80")
		recs := d.Feed(tcpPacket(a, b, 1, TCPPsh, http, baseTime), nil)
		recs = d.Flush(recs)
		if len(recs) != 0 || d.Stats().Ignored != 1 {
			t.Fatalf("records %v, stats %+v", recs, d.Stats())
		}
	})
}

func TestDecoderReportsBadFrames(t *testing.T) {
	ping := mustFrame(t, regtest, &wire.MsgPing{Nonce: 1})
	badSum := append([]byte(nil), ping...)
	badSum[len(badSum)-1] ^= 1
	unknown := wire.AppendRawFrame(nil, regtest, "futurecmd", []byte{1, 2, 3})
	badPayload := wire.AppendRawFrame(nil, regtest, wire.CmdPing, []byte{1, 2, 3})
	oversize := append([]byte(nil), ping...)
	oversize[16], oversize[17], oversize[18], oversize[19] = 0xff, 0xff, 0xff, 0x7f
	for _, tc := range []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"checksum mismatch", badSum, "[malformed] ping"},
		{"unknown command", unknown, "futurecmd ping"},
		{"payload does not decode", badPayload, "[malformed] ping"},
		{"oversize header", oversize, "[malformed] [malformed] ping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := append(append([]byte(nil), tc.bytes...), ping...)
			d := NewDecoder(DecoderConfig{})
			got := commandsOf(feedStream(t, d, s, []seg{{off: 0, n: len(s)}}, true))
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestDecoderMagics(t *testing.T) {
	stream, want := streamFrames(t, devnet)
	segs := cut(rand.New(rand.NewPCG(4, 4)), len(stream), 1400)
	t.Run("learned from the first frame", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{})
		got := commandsOf(feedStream(t, d, stream, segs, true))
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("given", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{Magics: []wire.Magic{devnet}})
		got := commandsOf(feedStream(t, d, stream, dropRange(segs, 0, 5), false))
		if strings.Join(got, " ") != strings.Join(want[1:], " ") {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("unknown mid-stream is not learned", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{})
		recs := feedStream(t, d, stream, dropRange(segs, 0, 5), false)
		if len(recs) != 0 {
			t.Fatalf("decoded %v from a stream of an unknown network joined mid-way", commandsOf(recs))
		}
	})
}

func TestDecoderMemoryBounds(t *testing.T) {
	stream, want := streamFrames(t, regtest)
	segs := cut(rand.New(rand.NewPCG(5, 5)), len(stream), 400)
	t.Run("out-of-order bytes per stream", func(t *testing.T) {
		// Everything but the first segment arrives before it: with room for
		// only 2 KiB, holes are declared gaps instead of buffering it all.
		d := NewDecoder(DecoderConfig{MaxStreamBuffer: 2048})
		arranged := append(append([]seg(nil), segs[1:]...), segs[0])
		recs := feedStream(t, d, stream, arranged, true)
		if d.Stats().Gaps == 0 {
			t.Fatalf("no gap declared: %v", commandsOf(recs))
		}
		if len(recs) >= len(want)+5 {
			t.Fatalf("%d records for %d frames", len(recs), len(want))
		}
	})
	t.Run("all bytes held", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{MaxBuffer: 4096})
		var recs []Record
		recs = d.Feed(tcpPacket(nodeAddr, peerAddr, isn0-1, TCPSyn, nil, baseTime), recs)
		for _, s := range segs {
			recs = d.Feed(tcpPacket(nodeAddr, peerAddr, uint32(isn0+s.off), 0, stream[s.off:s.off+s.n], baseTime), recs)
			if d.buffered > 4096 {
				t.Fatalf("%d bytes held, limit 4096", d.buffered)
			}
		}
		got := commandsOf(d.Flush(recs))
		if indexOf(got, "[gap]") != indexOf(want, "block") || d.Stats().FramesShed == 0 {
			t.Fatalf("got %v; the block should be shed", got)
		}
	})
	t.Run("streams", func(t *testing.T) {
		d := NewDecoder(DecoderConfig{MaxStreams: 3})
		ping := mustFrame(t, regtest, &wire.MsgPing{Nonce: 9})
		var recs []Record
		for i := range 10 {
			src := netip.AddrPortFrom(nodeAddr.Addr(), uint16(50000+i))
			recs = d.Feed(tcpPacket(src, peerAddr, 0, TCPSyn, nil, baseTime), recs)
			recs = d.Feed(tcpPacket(src, peerAddr, 1, 0, ping[:10], baseTime), recs)
			if len(d.conns) > 3 {
				t.Fatalf("%d streams followed, limit 3", len(d.conns))
			}
		}
		recs = d.Flush(recs)
		if d.Stats().StreamsEvicted != 7 || len(recs) != 10 {
			t.Fatalf("stats %+v, %d records (each stream ends inside its ping)", d.Stats(), len(recs))
		}
	})
}

func TestDecoderSnaplenCut(t *testing.T) {
	// A capture with a small snapshot length keeps the start of each segment
	// only: the rest of each is a gap, the frames it held are lost.
	stream, _ := streamFrames(t, regtest)
	d := NewDecoder(DecoderConfig{})
	var recs []Record
	recs = d.Feed(tcpPacket(nodeAddr, peerAddr, isn0-1, TCPSyn, nil, baseTime), recs)
	for _, s := range cut(rand.New(rand.NewPCG(6, 6)), len(stream), 1400) {
		p := tcpPacket(nodeAddr, peerAddr, uint32(isn0+s.off), 0, stream[s.off:s.off+s.n], baseTime)
		p.Data = p.Data[:min(len(p.Data), 40+64)]
		recs = d.Feed(p, recs)
	}
	recs = d.Flush(recs)
	if d.Stats().Gaps == 0 || d.Stats().BadPackets != 0 {
		t.Fatalf("stats %+v", d.Stats())
	}
	for _, r := range recs {
		if r.Kind == KindMessage && r.Command == "block" {
			t.Fatal("a block decoded from segments cut to 64 bytes")
		}
	}
}

func TestDirectionWithoutFlags(t *testing.T) {
	// Without epb_flags, a message to the side that got the SYN is "in".
	ping := mustFrame(t, regtest, &wire.MsgPing{Nonce: 1})
	pong := mustFrame(t, regtest, &wire.MsgPong{Nonce: 1})
	d := NewDecoder(DecoderConfig{})
	var recs []Record
	recs = d.Feed(tcpPacket(nodeAddr, peerAddr, 0, TCPSyn, nil, baseTime), recs)
	recs = d.Feed(tcpPacket(peerAddr, nodeAddr, 100, TCPSyn|TCPAck, nil, baseTime), recs)
	recs = d.Feed(tcpPacket(nodeAddr, peerAddr, 1, TCPPsh, ping, baseTime), recs)
	recs = d.Feed(tcpPacket(peerAddr, nodeAddr, 101, TCPPsh, pong, baseTime), recs)
	if len(recs) != 2 || recs[0].Direction != DirIn || recs[1].Direction != DirOut {
		t.Fatalf("records %+v", recs)
	}
}
