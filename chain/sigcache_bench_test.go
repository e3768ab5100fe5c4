package chain_test

import (
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/wire"
)

// mempoolBlock returns a chain, and a block on its tip of n P2PKH payments
// that its mempool has accepted (and so verified) first.
func mempoolBlock(tb testing.TB, n int) (*chaintest.Harness, *wire.Block) {
	h := chaintest.New(tb, chain.Regtest)
	blocks := h.Mine(101)
	coin := chaintest.CoinbaseCoin(blocks[0])
	each := (coin.Value - 100_000) / int64(n)
	outs := make([]wire.TxOut, n)
	for i := range outs {
		outs[i] = wire.TxOut{Value: each, ScriptPubKey: h.Script}
	}
	fan := chaintest.Spend(tb, h.Key, []chaintest.Coin{coin}, outs...)
	if _, err := h.Chain.ProcessBlock(h.Next(nil, coin.Value-each*int64(n), fan), nil); err != nil {
		tb.Fatal(err)
	}
	pool := mempool.New(h.Chain, mempool.Config{})
	txs := make([]*wire.Tx, n)
	const fee = 1000
	for i := range txs {
		c := chaintest.Coin{OutPoint: wire.OutPoint{Hash: fan.TxID(), Index: uint32(i)}, Value: each, Script: h.Script}
		txs[i] = chaintest.Spend(tb, h.Key, []chaintest.Coin{c}, wire.TxOut{Value: each - fee, ScriptPubKey: h.Script})
		if _, err := pool.Accept(txs[i]); err != nil {
			tb.Fatalf("payment %d: %v", i, err)
		}
	}
	return h, h.Next(nil, fee*int64(n), txs...)
}

// A block whose transactions the mempool accepted first costs no second
// ECDSA verification: every signature check is answered by the cache.
func TestMempoolBlockVerifiedOnce(t *testing.T) {
	const n = 200
	h, blk := mempoolBlock(t, n)
	before := h.Chain.SigCache().Stats()
	if _, err := h.Chain.ProcessBlock(blk, nil); err != nil {
		t.Fatal(err)
	}
	after := h.Chain.SigCache().Stats()
	if after.Misses != before.Misses || after.Hits != before.Hits+n {
		t.Fatalf("connecting the block: %d verifications, %d cache hits; want 0 and %d",
			after.Misses-before.Misses, after.Hits-before.Hits, n)
	}
	if h.Chain.Tip().Hash != blk.Hash() {
		t.Fatal("the block was not connected")
	}
}

// BenchmarkConnectMempoolBlock measures connecting (validating against the
// UTXO set and applying to a fresh view) a block of 1,000 P2PKH payments that
// the mempool accepted first, with the chain's signature cache and without
// any, in one run:
//
//	go test -run '^$' -bench ConnectMempoolBlock -count 6 ./chain/
func BenchmarkConnectMempoolBlock(b *testing.B) {
	h, blk := mempoolBlock(b, 1000)
	for _, bc := range []struct {
		name  string
		cache bool
	}{{"sigcache", true}, {"nocache", false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := chain.ConnectOnView(h.Chain, blk, bc.cache); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
