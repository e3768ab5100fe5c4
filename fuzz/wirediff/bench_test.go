package wirediff

import (
	"testing"

	"github.com/renga-p2p/renga/fuzz/realdata"
	"github.com/renga-p2p/renga/wire"
)

// BenchmarkDecode574200 is for profiling Renga's decoder on a real block; the
// side-by-side comparison with btcd is `make compare`.
func BenchmarkDecode574200(b *testing.B) {
	raw := realdata.Block(b, realdata.Block574200)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	var blk wire.Block
	for b.Loop() {
		if err := blk.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}
