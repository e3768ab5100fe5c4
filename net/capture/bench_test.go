package capture

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkRecorder measures recording a block-sized frame: segmenting,
// checksums and pcapng framing, per byte of frame.
func BenchmarkRecorder(b *testing.B) {
	frame := mustFrame(b, regtest, testBlock(2000)) // about 450 kB
	r, err := NewRecorder(io.Discard, RecorderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	c := r.Conn(baseTime, nodeAddr, peerAddr, false)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		c.Received(baseTime, frame)
	}
}

// BenchmarkDecodeFile measures reading a recorded capture and decoding every
// message in it, per byte of file.
func BenchmarkDecodeFile(b *testing.B) {
	file := record(b, scenario(b, regtest), RecorderConfig{})
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		rd, err := NewReader(bytes.NewReader(file))
		if err != nil {
			b.Fatal(err)
		}
		d := NewDecoder(DecoderConfig{})
		var recs []Record
		for {
			p, err := rd.Next()
			if err != nil {
				break
			}
			recs = d.Feed(p, recs[:0])
		}
		d.Flush(recs[:0])
	}
}
