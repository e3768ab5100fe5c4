package mempool

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// fakeEntry is an entry of size bytes paying fee, spending an outpoint of
// its own: what insert and evict look at, with no chain behind it.
func fakeEntry(i int, size int, fee int64, added time.Time) *Entry {
	txid := sha256d.Sum(fmt.Appendf(nil, "tx %d", i))
	tx := &wire.Tx{Version: 1, Inputs: []wire.TxIn{{PrevOut: wire.OutPoint{Hash: sha256d.Sum(txid[:])}}}}
	return &Entry{Tx: tx, TxID: txid, Size: size, Fee: fee, Added: added}
}

// BenchmarkInsertWhenFull measures what a pool at its size bound pays to take
// one more transaction: the insertion and the eviction of the lowest fee rate
// (the validation, the same either way, is not included). Run with
//
//	go test -run '^$' -bench InsertWhenFull -count 6 ./chain/mempool/
func BenchmarkInsertWhenFull(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprintf("pool=%d", n), func(b *testing.B) {
			const size = 200
			rng := rand.New(rand.NewPCG(uint64(n), 9))
			p := &Pool{cfg: Config{MaxBytes: n * size}.withDefaults(), txs: map[sha256d.Hash]*Entry{},
				spends: map[wire.OutPoint]*Entry{}, orphans: newOrphans(1)}
			t0 := time.Unix(1_700_000_000, 0)
			for i := range n {
				p.insert(fakeEntry(i, size, 200+rng.Int64N(100_000), t0.Add(time.Duration(i))))
			}
			next := make([]*Entry, 4096)
			for i := range next {
				next[i] = fakeEntry(n+i, size, 200+rng.Int64N(100_000), t0.Add(time.Duration(n+i)))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e := next[i%len(next)]
				if _, in := p.txs[e.TxID]; in {
					continue // still in the pool from the last round
				}
				p.insert(e)
				if p.bytes > p.cfg.MaxBytes {
					p.evict()
				}
			}
			b.StopTimer()
			if len(p.txs) != n {
				b.Fatalf("pool holds %d entries, want %d", len(p.txs), n)
			}
		})
	}
}
