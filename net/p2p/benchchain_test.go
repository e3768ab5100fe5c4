package p2p

import (
	"sync"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/wire"
)

// syncChain is the benchmarks' tx5000 chain: 5,000 regtest blocks in which,
// from height 101, every block spends the coinbase of the block 100 below it.
var (
	chainOnce   sync.Once
	chainBlocks []*wire.Block
)

func syncChain(tb testing.TB) []*wire.Block {
	chainOnce.Do(func() { chainBlocks = spendingChain(tb, 5000, 1) })
	return chainBlocks
}

// spendingChain builds n regtest blocks in which, from height 101, every
// every-th block spends the coinbase of the block 100 below it.
func spendingChain(tb testing.TB, n, every int) []*wire.Block {
	h := chaintest.New(tb, chain.Regtest)
	blocks := h.Mine(100)
	for len(blocks) < n {
		var txs []*wire.Tx
		if len(blocks)%every == 0 {
			coin := chaintest.CoinbaseCoin(blocks[len(blocks)-100])
			txs = append(txs, chaintest.Spend(tb, h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 1000, ScriptPubKey: h.Script}))
		}
		fees := int64(0)
		if len(txs) > 0 {
			fees = 1000
		}
		b := h.Next(nil, fees, txs...)
		if _, err := h.Chain.ProcessBlock(b, nil); err != nil {
			tb.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	return blocks
}
