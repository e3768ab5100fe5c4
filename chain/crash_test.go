package chain_test

import (
	"fmt"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/store/storetest"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// state is what a reopened chain must match: its tip and UTXO set.
type state struct {
	tip    sha256d.Hash
	digest sha256d.Hash
}

func stateOf(t *testing.T, h *chaintest.Harness) state {
	d, _, _ := chaintest.UTXODigest(t, h.Chain)
	return state{tip: h.Chain.Tip().Hash, digest: d}
}

// crashDuring runs op on a chain prepared by setup, with a crash clone taken
// before every write, and checks that every clone reopens at the state before
// op or the state after it, and then reaches the state after it when op is
// redone.
func crashDuring(t *testing.T, percent int, setup func(h *chaintest.Harness), op func(h *chaintest.Harness)) {
	crash := storetest.NewCrashFS(percent, uint64(percent))
	h := chaintest.OnFS(t, chain.Regtest, crash.FS(), "/chain")
	setup(h)
	before := stateOf(t, h)
	crash.Arm()
	op(h)
	// The last clone is a crash right after the operation returned: what it
	// did must be durable.
	clones := crash.Disarm()
	after := stateOf(t, h)
	if before == after {
		t.Fatal("the operation changed nothing")
	}
	if len(clones) < 3 {
		t.Fatalf("only %d writes recorded", len(clones))
	}
	sawBefore, sawAfter := 0, 0
	for k, clone := range clones {
		hk := chaintest.OnFS(t, chain.Regtest, clone.FS, "/chain")
		got := stateOf(t, hk)
		switch {
		case k == len(clones)-1 && got != after:
			t.Fatalf("crash after the operation returned: reopened at %s, not %s: a completed operation was lost", got.tip, after.tip)
		case got == before:
			sawBefore++
		case got == after:
			sawAfter++
		default:
			t.Fatalf("crash before write %d (%s): reopened at tip %s with an inconsistent UTXO set", k, clone.Op, got.tip)
		}
		// Redo the operation on the recovered chain: it must end where the
		// uninterrupted run did.
		if got == before {
			op(hk)
			if s := stateOf(t, hk); s != after {
				t.Fatalf("crash before write %d (%s): redoing the operation reached tip %s, not %s", k, clone.Op, s.tip, after.tip)
			}
		}
		if err := hk.Chain.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d crash points: %d reopened before the operation, %d after", len(clones), sawBefore, sawAfter)
	if sawBefore == 0 {
		t.Fatal("expected crash points before the commit")
	}
}

func TestCrashDuringConnect(t *testing.T) {
	var blocks []*wire.Block
	var next *wire.Block
	for _, percent := range []int{0, 50, 100} {
		t.Run(fmt.Sprintf("unsynced data kept %d%%", percent), func(t *testing.T) {
			crashDuring(t, percent,
				func(h *chaintest.Harness) {
					blocks = h.Mine(101)
					coin := chaintest.CoinbaseCoin(blocks[0])
					tx := chaintest.Spend(t, h.Key, []chaintest.Coin{coin},
						wire.TxOut{Value: coin.Value / 2, ScriptPubKey: h.Script},
						wire.TxOut{Value: coin.Value/2 - 1000, ScriptPubKey: h.Script})
					next = h.Next(nil, 1000, tx)
				},
				func(h *chaintest.Harness) {
					if _, err := h.Chain.ProcessBlock(next, nil); err != nil {
						t.Fatal(err)
					}
				})
		})
	}
}

func TestCrashDuringReorg(t *testing.T) {
	var branch []*wire.Block
	for _, percent := range []int{0, 50, 100} {
		t.Run(fmt.Sprintf("unsynced data kept %d%%", percent), func(t *testing.T) {
			crashDuring(t, percent,
				func(h *chaintest.Harness) {
					base := h.Mine(101)
					fork := h.Chain.Tip()
					// The active branch spends a coin in each of two blocks;
					// the other branch, one block longer, spends one of them
					// differently. Switching disconnects two blocks and
					// connects three, in one batch.
					c0, c1 := chaintest.CoinbaseCoin(base[0]), chaintest.CoinbaseCoin(base[1])
					pay := func(c chaintest.Coin, fee int64) *wire.Tx {
						return chaintest.Spend(t, h.Key, []chaintest.Coin{c}, wire.TxOut{Value: c.Value - fee, ScriptPubKey: h.Script})
					}
					a1 := h.Next(nil, 100, pay(c0, 100))
					if _, err := h.Chain.ProcessBlock(a1, nil); err != nil {
						t.Fatal(err)
					}
					a2 := h.Next(nil, 100, pay(c1, 100))
					if _, err := h.Chain.ProcessBlock(a2, nil); err != nil {
						t.Fatal(err)
					}
					b1 := h.Next(fork, 300, pay(c0, 300))
					if _, err := h.Chain.ProcessBlock(b1, nil); err != nil { // a side branch: stored, not connected
						t.Fatal(err)
					}
					b2 := chaintest.Block(t, chain.Regtest, h.Chain.NodeByHash(b1.Hash()), h.Script, 0, 77)
					if _, err := h.Chain.ProcessBlock(b2, nil); err != nil {
						t.Fatal(err)
					}
					branch = []*wire.Block{b1, b2}
					if h.Chain.Tip().Hash != a2.Hash() {
						t.Fatal("setup: the side branch took over too early")
					}
				},
				func(h *chaintest.Harness) {
					b3 := chaintest.Block(t, chain.Regtest, h.Chain.NodeByHash(branch[1].Hash()), h.Script, 0, 78)
					if _, err := h.Chain.ProcessBlock(b3, nil); err != nil {
						t.Fatal(err)
					}
				})
		})
	}
}
