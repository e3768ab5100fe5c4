package peer

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/renga-p2p/renga/wire"
)

// Codecs compresses and decompresses cmpr payloads. One value serves every
// peer (its methods are safe for concurrent use); make it with NewCodecs.
type Codecs struct {
	zenc *zstd.Encoder
	zdec *zstd.Decoder
}

// NewCodecs prepares the codecs Renga implements (zstd and s2).
func NewCodecs() (*Codecs, error) {
	// As many peers as there are CPUs compress and decompress at once; one
	// coder shared by all of them serialized every peer behind the one
	// that was decoding.
	n := runtime.GOMAXPROCS(0)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(n))
	if err != nil {
		return nil, err
	}
	// WithDecodeAllCapLimit: DecodeAll writes no more than the capacity of
	// the buffer it is given, which is sized from the declared length.
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(n), zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(wire.MaxMessageSize+1))
	if err != nil {
		return nil, err
	}
	return &Codecs{zenc: enc, zdec: dec}, nil
}

// Supported lists the codecs, in order of preference.
func (c *Codecs) Supported() []wire.Codec { return []wire.Codec{wire.CodecZstd, wire.CodecS2} }

// Compress appends payload compressed with codec to dst.
func (c *Codecs) Compress(dst []byte, codec wire.Codec, payload []byte) ([]byte, error) {
	switch codec {
	case wire.CodecZstd:
		return c.zenc.EncodeAll(payload, dst), nil
	case wire.CodecS2:
		return append(dst, s2.Encode(nil, payload)...), nil
	}
	return dst, fmt.Errorf("peer: unknown codec %v", codec)
}

// errBomb: the data decompresses to more (or other) than it declared.
var errBomb = errors.New("decompressed size differs from the declared length")

// Decompress returns the payload of m, which must decompress to exactly
// m.Length bytes; decompression stops at that length.
func (c *Codecs) Decompress(m *wire.MsgCmpr) ([]byte, error) {
	out := make([]byte, 0, m.Length)
	switch m.Codec {
	case wire.CodecZstd:
		got, err := c.zdec.DecodeAll(m.Data, out)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if len(got) != int(m.Length) {
			return nil, fmt.Errorf("zstd: %w: %d bytes, declared %d", errBomb, len(got), m.Length)
		}
		return got, nil
	case wire.CodecS2:
		n, err := s2.DecodedLen(m.Data)
		if err != nil {
			return nil, fmt.Errorf("s2: %w", err)
		}
		if n != int(m.Length) {
			return nil, fmt.Errorf("s2: %w: %d bytes, declared %d", errBomb, n, m.Length)
		}
		return s2.Decode(out[:n], m.Data)
	}
	return nil, fmt.Errorf("unknown codec %v", m.Codec)
}
