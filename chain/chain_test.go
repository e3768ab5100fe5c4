package chain_test

import (
	"errors"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/wire"
)

func TestGenesisHashes(t *testing.T) {
	for _, p := range chain.Networks {
		if got := p.Genesis.Hash(); got != p.GenesisHash {
			t.Errorf("%s: genesis hashes to %s, params say %s", p.Name, got, p.GenesisHash)
		}
		if err := chain.CheckBlock(p.Genesis, p); err != nil {
			t.Errorf("%s: genesis fails CheckBlock: %v", p.Name, err)
		}
	}
}

// On disk, with real fsyncs: mine, spend, reopen.
func TestMineSpendReopen(t *testing.T) {
	h := chaintest.OnDisk(t, chain.Regtest)
	blocks := h.Mine(101)
	if tip := h.Chain.Tip(); tip.Height != 101 || tip.Hash != blocks[100].Hash() {
		t.Fatalf("tip = %d %s", tip.Height, tip.Hash)
	}
	// The first coinbase is mature at height 101 + 1.
	coin := chaintest.CoinbaseCoin(blocks[0])
	recipient := chaintest.P2PKH(chaintest.Key(t, 2))
	tx := chaintest.Spend(t, h.Key, []chaintest.Coin{coin},
		wire.TxOut{Value: 30 * chain.Coin, ScriptPubKey: recipient},
		wire.TxOut{Value: coin.Value - 30*chain.Coin - 1000, ScriptPubKey: h.Script})
	b := h.Next(nil, 1000, tx)
	if _, err := h.Chain.ProcessBlock(b, nil); err != nil {
		t.Fatalf("block with a spend: %v", err)
	}
	if _, err := h.Chain.Coin(coin.OutPoint); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("spent coin still there: %v", err)
	}
	got, err := h.Chain.Coin(wire.OutPoint{Hash: tx.TxID(), Index: 0})
	if err != nil || got.Value != 30*chain.Coin || got.Height != 102 || got.Coinbase {
		t.Fatalf("new coin = %+v, %v", got, err)
	}
	digest, count, total := chaintest.UTXODigest(t, h.Chain)
	// 102 coinbases, minus the one spent, plus two outputs.
	if count != 103 {
		t.Fatalf("%d coins, want 103", count)
	}
	h.Reopen()
	if tip := h.Chain.Tip(); tip.Height != 102 || tip.Hash != b.Hash() {
		t.Fatalf("after reopen: tip %d %s", tip.Height, tip.Hash)
	}
	d2, c2, t2 := chaintest.UTXODigest(t, h.Chain)
	if d2 != digest || c2 != count || t2 != total {
		t.Fatal("UTXO set differs after reopen")
	}
	if n := h.Chain.NodeAt(50); n == nil || n.Hash != blocks[49].Hash() {
		t.Fatal("active chain not rebuilt on reopen")
	}
	// The block can be read back.
	back, err := h.Chain.Block(h.Chain.Tip())
	if err != nil || back.Hash() != b.Hash() || len(back.Txs) != 2 {
		t.Fatalf("read back: %v", err)
	}
}

func TestOtherNetworkRefused(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	if err := h.Chain.Close(); err != nil {
		t.Fatal(err)
	}
	o := h.Options()
	if _, err := chain.Open(h.Dir, chain.Devnet, o); err == nil {
		t.Fatal("opened a regtest directory as devnet")
	}
	h.Chain = nil
	h.Reopen()
}
