package chain_test

import (
	"errors"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/wire"
)

// Blocks that arrive before their parent wait in the orphan pool and are
// connected, in order, when it comes.
func TestOrphansConnectWhenParentArrives(t *testing.T) {
	src := chaintest.New(t, chain.Regtest)
	blocks := src.Mine(10)
	dst := chaintest.New(t, chain.Regtest)
	for i := len(blocks) - 1; i >= 1; i-- { // 10 down to 2: all orphans
		if _, err := dst.Chain.ProcessBlock(blocks[i], nil); err == nil {
			t.Fatalf("block %d accepted without its parent", i+1)
		}
	}
	if dst.Chain.Tip().Height != 0 {
		t.Fatal("orphans moved the tip")
	}
	if _, err := dst.Chain.ProcessBlock(blocks[0], nil); err != nil {
		t.Fatal(err)
	}
	if tip := dst.Chain.Tip(); tip.Height != 10 || tip.Hash != blocks[9].Hash() {
		t.Fatalf("tip %d after the parent arrived", tip.Height)
	}
}

func TestOrphanPoolBounded(t *testing.T) {
	src := chaintest.New(t, chain.Regtest)
	blocks := src.Mine(8)
	dst := chaintest.New(t, chain.Regtest, func(o *chain.Options) { o.MaxOrphans = 3 })
	for _, b := range blocks[1:] { // 7 orphans; only the last 3 are kept
		if _, err := dst.Chain.ProcessBlock(b, nil); !errors.Is(err, chain.ErrUnknownParent) {
			t.Fatalf("orphan: %v", err)
		}
	}
	if _, err := dst.Chain.ProcessBlock(blocks[0], nil); err != nil {
		t.Fatal(err)
	}
	if h := dst.Chain.Tip().Height; h != 1 {
		t.Fatalf("tip %d: the pool kept more orphans than its bound", h)
	}
}

func TestBitcoinRetarget(t *testing.T) {
	p := chain.Mainnet
	// A fake chain of 2016 blocks at difficulty 1 that took half the
	// intended time: the target halves (difficulty doubles), within bounds.
	var parent *chain.Node
	tests := []struct {
		name     string
		took     int64 // seconds for 2015 intervals
		wantBits uint32
	}{
		{"twice as fast", p.TargetTimespan / 2, 0x1c7fff80},
		{"four times slower: the limit clamps", p.TargetTimespan * 8, 0x1d00ffff},
		{"eight times faster: clamped to 4x", p.TargetTimespan / 8, 0x1c3fffc0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent = chaintest.FakeChain(p, 2015, 0x1d00ffff, tt.took)
			if got := p.NextBits(parent); got != tt.wantBits {
				t.Fatalf("bits %08x, want %08x", got, tt.wantBits)
			}
			// Between retargets the bits do not change.
			if got := p.NextBits(parent.Parent); got != 0x1d00ffff {
				t.Fatalf("mid-window bits %08x", got)
			}
		})
	}
}

func TestReindexChainstate(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	blocks := h.Mine(105)
	for i := range 3 {
		coin := chaintest.CoinbaseCoin(blocks[i])
		tx := chaintest.Spend(t, h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 1000, ScriptPubKey: h.Script})
		if _, err := h.Chain.ProcessBlock(h.Next(nil, 1000, tx), nil); err != nil {
			t.Fatal(err)
		}
	}
	want, err := h.Chain.UTXOStats()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Chain.ReindexChainstate(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, _ := h.Chain.UTXOStats()
	if got != want {
		t.Fatalf("after reindex: %+v, before: %+v", got, want)
	}
	h.Reopen()
	if again, _ := h.Chain.UTXOStats(); again != want {
		t.Fatal("reindexed state not durable")
	}
}

// A tip whose block body is corrupt on disk is rolled back on open (with its
// undo record, which does not need the body) and forgotten, so it is fetched
// again; the chain is then consistent one block lower.
func TestCorruptTipRolledBack(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	blocks := h.Mine(105)
	coin := chaintest.CoinbaseCoin(blocks[0])
	tx := chaintest.Spend(t, h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 1000, ScriptPubKey: h.Script})
	before, _ := h.Chain.UTXOStats()
	last := h.Next(nil, 1000, tx)
	if _, err := h.Chain.ProcessBlock(last, nil); err != nil {
		t.Fatal(err)
	}
	pos := h.Chain.Tip().Pos
	if err := h.Chain.Close(); err != nil {
		t.Fatal(err)
	}
	chaintest.CorruptBlockFile(t, h, pos)
	h.Chain = nil
	h.Reopen()
	got, _ := h.Chain.UTXOStats()
	if got != before {
		t.Fatalf("after rolling back: %+v, want %+v", got, before)
	}
	if n := h.Chain.NodeByHash(last.Hash()); n == nil || n.Status&chain.StatusHaveData != 0 {
		t.Fatal("the corrupt block should be in the index without data")
	}
	// Given the block again, the node connects it.
	if _, err := h.Chain.ProcessBlock(last, nil); err != nil {
		t.Fatal(err)
	}
	if h.Chain.Tip().Hash != last.Hash() {
		t.Fatal("block not reconnected")
	}
}

// While catching up (headers known far ahead of the tip), blocks are
// committed in batches; Flush and Close commit the rest. Either way a reopen
// finds everything the chain reported connected once flushed.
func TestSyncCommitsInBatches(t *testing.T) {
	src := chaintest.New(t, chain.Regtest)
	blocks := src.Mine(50)
	var headers []wire.Header
	for _, b := range blocks {
		headers = append(headers, b.Header)
	}
	dst := chaintest.New(t, chain.Regtest)
	if _, err := dst.Chain.ProcessHeaders(headers); err != nil {
		t.Fatal(err)
	}
	connected := 0
	dst.Chain.Subscribe(func(e chain.Event) {
		if e.Kind == chain.BlockConnected {
			connected++
		}
	})
	for _, b := range blocks[:40] {
		if _, err := dst.Chain.ProcessBlock(b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if dst.Chain.Tip().Height != 40 {
		t.Fatalf("tip %d in memory, want 40", dst.Chain.Tip().Height)
	}
	if connected != 0 {
		t.Fatalf("%d blocks reported before a commit; catching up should batch them", connected)
	}
	if err := dst.Chain.Flush(); err != nil {
		t.Fatal(err)
	}
	if connected != 40 {
		t.Fatalf("after Flush, %d blocks reported, want 40", connected)
	}
	// The last blocks are at the tip of the known headers: committed one by one.
	for _, b := range blocks[40:] {
		if _, err := dst.Chain.ProcessBlock(b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if connected != 50 {
		t.Fatalf("%d blocks reported at the tip, want 50", connected)
	}
	dst.Reopen()
	if dst.Chain.Tip().Height != 50 {
		t.Fatalf("after reopen, tip %d", dst.Chain.Tip().Height)
	}
}
