package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
)

// FuzzReader reads arbitrary bytes as a capture file and decodes whatever
// packets come out: nothing may panic, every error must be a format error,
// and the decoder's memory must stay within its bounds.
func FuzzReader(f *testing.F) {
	for _, file := range goodFiles(f) {
		f.Add(file)
	}
	f.Add(record(f, scenario(f, devnet)[:5], RecorderConfig{MSS: 60})) // small: the fuzzer minimizes what it finds
	b := &ngBuilder{o: binary.BigEndian}
	b.shb()
	b.idb(LinkLinuxSLL2, 0, b.opt(optIfTsresol, []byte{0x80 | 20}))
	b.epb(0, 1<<40, frame(LinkLinuxSLL2, appendUDPPacket(nil, beaconSrc, group, 1, []byte("..rnga"))))
	b.block(pcapngSPBType, []byte{0, 0, 0, 4, 1, 2, 3, 4})
	f.Add(b.buf)
	f.Fuzz(func(t *testing.T, file []byte) {
		rd, err := NewReader(bytes.NewReader(file))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("NewReader: %v does not wrap ErrFormat", err)
			}
			return
		}
		d := NewDecoder(DecoderConfig{MaxBuffer: 1 << 16, MaxStreamBuffer: 1 << 14, MaxStreams: 8})
		var recs []Record
		for {
			p, err := rd.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrFormat) {
					t.Fatalf("Next: %v wraps neither io.EOF nor ErrFormat", err)
				}
				break
			}
			if len(p.Data) > MaxPacketSize || p.Length < len(p.Data) {
				t.Fatalf("packet of %d bytes, length %d", len(p.Data), p.Length)
			}
			recs = d.Feed(p, recs[:0])
			if d.buffered > 1<<16 || len(d.conns) > 8 {
				t.Fatalf("decoder holds %d bytes in %d streams", d.buffered, len(d.conns))
			}
		}
		d.Flush(recs[:0])
		if d.buffered != 0 || len(d.conns) != 0 {
			t.Fatalf("after Flush, %d bytes in %d streams", d.buffered, len(d.conns))
		}
	})
}

// FuzzReassembly sends the scenario's stream as segments the fuzzer chooses
// — any offsets, lengths, order, repeats, holes and snapshot cuts — and
// checks that the decoder stays within its bounds and that the messages it
// decodes are, in order, some of the messages that were sent.
func FuzzReassembly(f *testing.F) {
	stream, commands := streamFrames(f, regtest)
	// Seeds: the stream in order in a few segment sizes, reversed, with a hole.
	for _, size := range []int{1, 100, 1460, 4000} {
		var ops []byte
		for off := 0; off < len(stream); off += size {
			ops = appendOp(ops, off, size, 0)
		}
		f.Add(byte(0), ops)
		if size == 1460 {
			var rev []byte
			for i := len(ops) - 4; i >= 0; i -= 4 {
				rev = append(rev, ops[i:i+4]...)
			}
			f.Add(byte(1), rev)
			f.Add(byte(2), append(append([]byte(nil), ops[:12]...), ops[20:]...))
		}
	}
	f.Fuzz(func(t *testing.T, mode byte, ops []byte) {
		cfg := DecoderConfig{}
		if mode&1 != 0 {
			cfg.MaxStreamBuffer = 3000
		}
		if mode&2 != 0 {
			cfg.MaxBuffer = 5000
		}
		d := NewDecoder(cfg)
		var recs []Record
		if mode&4 == 0 {
			recs = d.Feed(tcpPacket(nodeAddr, peerAddr, isn0-1, TCPSyn, nil, baseTime), recs)
		}
		for i := 0; i+4 <= len(ops) && i < 4*2000; i += 4 {
			off := int(binary.LittleEndian.Uint16(ops[i:])) % len(stream)
			n := min(1+int(ops[i+2])*16, len(stream)-off)
			flags := ops[i+3]
			p := tcpPacket(nodeAddr, peerAddr, uint32(isn0+off), 0, stream[off:off+n], baseTime)
			if flags&1 != 0 { // the capture kept only the first bytes
				p.Data = p.Data[:min(len(p.Data), 40+int(flags>>1))]
			}
			recs = d.Feed(p, recs)
			if cfg.MaxBuffer > 0 && d.buffered > cfg.MaxBuffer {
				t.Fatalf("decoder holds %d bytes, limit %d", d.buffered, cfg.MaxBuffer)
			}
		}
		recs = d.Flush(recs)
		var decoded []string
		for _, r := range recs {
			switch r.Kind {
			case KindMessage:
				decoded = append(decoded, r.Command)
			case KindUnknown:
				t.Fatalf("unknown command %q decoded from a stream of known ones", r.Command)
			}
		}
		if !isSubsequence(decoded, commands) {
			t.Fatalf("decoded %v, not in the order sent: %v", decoded, commands)
		}
		if d.buffered != 0 || len(d.conns) != 0 {
			t.Fatalf("after Flush, %d bytes in %d streams", d.buffered, len(d.conns))
		}
	})
}

func appendOp(ops []byte, off, n int, flags byte) []byte {
	ops = binary.LittleEndian.AppendUint16(ops, uint16(off))
	return append(ops, byte(min((n-1)/16, 255)), flags)
}

// isSubsequence reports whether sub appears in seq in order (not
// necessarily contiguously).
func isSubsequence(sub, seq []string) bool {
	for _, s := range sub {
		i := slices.Index(seq, s)
		if i < 0 {
			return false
		}
		seq = seq[i+1:]
	}
	return true
}
