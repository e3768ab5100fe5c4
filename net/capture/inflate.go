package capture

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/renga-p2p/renga/wire"
)

// ErrDecompress is the class of a cmpr frame whose compressed bytes do not
// give exactly the payload its envelope declares: corrupt data, an unknown
// codec, or more or fewer bytes than the declared length.
var ErrDecompress = errors.New("capture: cmpr does not decompress")

// decompressor decompresses what cmpr frames carry, with the codecs net/peer's
// Codecs implement (zstd and s2). It is written here because net/capture may
// not import net/peer (cmd/layering_test.go). Whatever a capture or a peer
// claims, decompression stops at the declared length, which the wire package
// has already held to the inner command's limit (at most
// wire.MaxMessageSize): a few bytes declaring megabytes cost at most the
// declared megabytes, and a bomb costs nothing past them. Safe for concurrent
// use; the zstd decoder is made on first use, so a decompressor nobody uses
// costs nothing.
type decompressor struct {
	concurrency int // zstd decoders that may run at once (0: GOMAXPROCS)

	once sync.Once
	zdec *zstd.Decoder
	zerr error
}

func (d *decompressor) zstd() (*zstd.Decoder, error) {
	d.once.Do(func() {
		// WithDecodeAllCapLimit: DecodeAll writes no more than the capacity
		// of the buffer it is given, which is the declared length.
		d.zdec, d.zerr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(d.concurrency),
			zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(wire.MaxMessageSize+1))
	})
	return d.zdec, d.zerr
}

// decompress returns the payload m carries: exactly m.Length bytes, in a new
// slice, or an error wrapping [ErrDecompress].
func (d *decompressor) decompress(m *wire.MsgCmpr) ([]byte, error) {
	switch m.Codec {
	case wire.CodecZstd:
		z, err := d.zstd()
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrDecompress, err)
		}
		got, err := z.DecodeAll(m.Data, make([]byte, 0, m.Length))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrDecompress, err)
		}
		if len(got) != int(m.Length) {
			return nil, fmt.Errorf("%w: zstd gives %d bytes, %d declared", ErrDecompress, len(got), m.Length)
		}
		return got, nil
	case wire.CodecS2:
		n, err := s2.DecodedLen(m.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDecompress, err) // s2's errors say "s2: "
		}
		if n != int(m.Length) {
			return nil, fmt.Errorf("%w: s2 gives %d bytes, %d declared", ErrDecompress, n, m.Length)
		}
		got, err := s2.Decode(make([]byte, n), m.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDecompress, err)
		}
		return got, nil
	}
	return nil, fmt.Errorf("%w: unknown codec %v", ErrDecompress, m.Codec)
}
