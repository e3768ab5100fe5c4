package mempool

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Eviction follows the fee-rate order exactly (lowest first, newest first
// among equals) through any mix of insertions and removals.
func TestEvictionOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := &Pool{cfg: Config{MaxBytes: 1 << 40}.withDefaults(), txs: map[sha256d.Hash]*Entry{},
		spends: map[wire.OutPoint]*Entry{}, orphans: newOrphans(1)}
	t0 := time.Unix(1_700_000_000, 0)
	var live []*Entry
	for i := range 2000 {
		e := fakeEntry(i, 100+rng.IntN(200), int64(rng.IntN(50))*100, t0)
		e.rate = e.FeeRate()
		p.insert(e)
		live = append(live, e)
		if rng.IntN(3) == 0 { // remove one at random, as a mined transaction is
			k := rng.IntN(len(live))
			p.remove(live[k], false)
			live = slices.Delete(live, k, k+1)
		}
	}
	want := slices.Clone(live)
	slices.SortFunc(want, func(a, b *Entry) int {
		if a.rate != b.rate {
			return int(a.rate - b.rate)
		}
		return int(b.seq) - int(a.seq)
	})
	for i, w := range want {
		e := p.byRate[0]
		if e != w {
			t.Fatalf("eviction %d: rate %d seq %d, want rate %d seq %d", i, e.rate, e.seq, w.rate, w.seq)
		}
		p.remove(e, false)
	}
	if len(p.byRate) != 0 || len(p.txs) != 0 || p.bytes != 0 {
		t.Fatalf("%d in the heap, %d in the pool, %d bytes after evicting all", len(p.byRate), len(p.txs), p.bytes)
	}
}

func TestRecentRejectsBounded(t *testing.T) {
	const max = 100
	r := newRecentRejects(max)
	var first, last sha256d.Hash
	for i := range 5 * max {
		h := sha256d.Sum([]byte{byte(i), byte(i >> 8)})
		if i == 0 {
			first = h
		}
		last = h
		r.add(h)
		if n := r.len(); n > max {
			t.Fatalf("%d remembered, bound %d", n, max)
		}
	}
	if !r.has(last) || r.has(first) {
		t.Fatalf("has(last) = %v, has(first) = %v: want the newest kept, the oldest forgotten", r.has(last), r.has(first))
	}
	r.reset()
	if r.has(last) || r.len() != 0 {
		t.Fatal("reset kept something")
	}
}

// The scripts of a transaction are checked with the pool's lock free: a
// slow or failing validation holds up no one.
func TestScriptsCheckedWithoutTheLock(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	blocks := h.Mine(101)
	p := New(h.Chain, Config{})
	checked := 0
	p.testHookVerify = func() {
		checked++
		if !p.mu.TryLock() {
			t.Error("the pool's lock is held while scripts are checked")
			return
		}
		p.mu.Unlock()
	}
	coin := chaintest.CoinbaseCoin(blocks[0])
	tx := chaintest.Spend(t, h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 10_000, ScriptPubKey: h.Script})
	if _, err := p.Accept(tx); err != nil {
		t.Fatal(err)
	}
	bad := chaintest.Spend(t, h.Key, []chaintest.Coin{chaintest.CoinbaseCoin(blocks[1])},
		wire.TxOut{Value: coin.Value - 10_000, ScriptPubKey: h.Script})
	bad.Inputs[0].ScriptSig[10] ^= 1
	if _, err := p.Accept(bad); err == nil {
		t.Fatal("a bad signature was accepted")
	}
	if checked != 2 {
		t.Fatalf("scripts checked %d times, want 2", checked)
	}
}
