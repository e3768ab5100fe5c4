package mempool_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/wire"
)

// BenchmarkReaderWaitDuringLargeAccept offers the pool ~100 KB transactions
// of 600 inputs whose last signature fails (each a different one, so none is
// refused as recently rejected) while another goroutine keeps reading the
// pool (Info), and reports how many reads got through per Accept (reads/op)
// and the 99th percentile and the longest of how long one took
// (p99_read_ms, max_read_ms; the machine's scheduling shows in these), beside the
// time an Accept takes (ns/op). A pool that validates under its write lock
// makes readers wait for whole validations: a few reads per Accept, each
// waiting up to an Accept's time.
//
//	go test -run '^$' -bench ReaderWaitDuringLargeAccept -count 6 ./chain/mempool/
func BenchmarkReaderWaitDuringLargeAccept(b *testing.B) {
	const inputs = 600
	h := chaintest.New(b, chain.Regtest)
	blocks := h.Mine(101)
	coin := chaintest.CoinbaseCoin(blocks[0])
	each := (coin.Value - 100_000) / inputs
	outs := make([]wire.TxOut, inputs)
	for i := range outs {
		outs[i] = wire.TxOut{Value: each, ScriptPubKey: h.Script}
	}
	fan := chaintest.Spend(b, h.Key, []chaintest.Coin{coin}, outs...)
	if _, err := h.Chain.ProcessBlock(h.Next(nil, coin.Value-each*inputs, fan), nil); err != nil {
		b.Fatal(err)
	}
	coins := make([]chaintest.Coin, inputs)
	for i := range coins {
		coins[i] = chaintest.Coin{OutPoint: wire.OutPoint{Hash: fan.TxID(), Index: uint32(i)}, Value: each, Script: h.Script}
	}
	big := chaintest.Spend(b, h.Key, coins, wire.TxOut{Value: each*inputs - 1_000_000, ScriptPubKey: h.Script})
	b.Logf("%d bytes, %d inputs", big.SerializeSize(), len(big.Inputs))
	pool := mempool.New(h.Chain, mempool.Config{})

	stop := make(chan struct{})
	var waits []time.Duration
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			pool.Info()
			waits = append(waits, time.Since(t0))
		}
	})
	i := 0
	for b.Loop() {
		bad := *big
		bad.Inputs = append([]wire.TxIn(nil), big.Inputs...)
		last := &bad.Inputs[inputs-1]
		last.ScriptSig = append([]byte(nil), last.ScriptSig...)
		last.ScriptSig[10] = byte(i) // a different failing signature each time
		last.ScriptSig[11] = byte(i >> 8)
		i++
		if _, err := pool.Accept(&bad); err == nil {
			b.Fatal("a bad signature was accepted")
		}
	}
	close(stop)
	wg.Wait()
	slices.Sort(waits)
	b.ReportMetric(float64(len(waits))/float64(b.N), "reads/op")
	b.ReportMetric(float64(waits[len(waits)*99/100])/float64(time.Millisecond), "p99_read_ms")
	b.ReportMetric(float64(waits[len(waits)-1])/float64(time.Millisecond), "max_read_ms")
}
