package mempool_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/wire"
)

type env struct {
	h        *chaintest.Harness
	pool     *mempool.Pool
	coins    []chaintest.Coin // mature coinbases
	immature chaintest.Coin   // the tip's coinbase
}

func newEnv(t *testing.T, cfg mempool.Config) *env {
	h := chaintest.New(t, chain.Regtest)
	blocks := h.Mine(110)
	e := &env{h: h, pool: mempool.New(h.Chain, cfg), immature: chaintest.CoinbaseCoin(blocks[109])}
	for _, b := range blocks[:10] {
		e.coins = append(e.coins, chaintest.CoinbaseCoin(b))
	}
	return e
}

func (e *env) pay(t *testing.T, fee int64, coins ...chaintest.Coin) *wire.Tx {
	var total int64
	for _, c := range coins {
		total += c.Value
	}
	return chaintest.Spend(t, e.h.Key, coins, wire.TxOut{Value: total - fee, ScriptPubKey: e.h.Script})
}

func out(tx *wire.Tx, i int) chaintest.Coin {
	return chaintest.Coin{OutPoint: wire.OutPoint{Hash: tx.TxID(), Index: uint32(i)}, Value: tx.Outputs[i].Value, Script: tx.Outputs[i].ScriptPubKey}
}

func TestAcceptAndRefuse(t *testing.T) {
	e := newEnv(t, mempool.Config{})
	good := e.pay(t, 10_000, e.coins[0])
	var announced []*mempool.Entry
	e.pool.OnAccept(func(x *mempool.Entry) { announced = append(announced, x) })
	if _, err := e.pool.Accept(good); err != nil {
		t.Fatal(err)
	}
	if len(announced) != 1 || announced[0].Fee != 10_000 {
		t.Fatalf("announced %v", announced)
	}
	if by := e.pool.SpentBy(good.Inputs[0].PrevOut); by == nil || by.TxID != good.TxID() {
		t.Fatalf("SpentBy(the spent coin) = %v", by)
	}
	if by := e.pool.SpentBy(e.coins[1].OutPoint); by != nil {
		t.Fatalf("SpentBy(an unspent coin) = %v", by.TxID)
	}
	tests := []struct {
		name string
		tx   *wire.Tx
		want error
	}{
		{"the same again", good, mempool.ErrDuplicate},
		{"double spend of a pool input", e.pay(t, 20_000, e.coins[0]), mempool.ErrConflict},
		{"no fee", e.pay(t, 0, e.coins[1]), mempool.ErrLowFee},
		{"fee under the minimum", e.pay(t, 100, e.coins[1]), mempool.ErrLowFee},
		{"coinbase", &e.h.Next(nil, 0).Txs[0], mempool.ErrCoinbase},
		{"immature coinbase", e.pay(t, 10_000, e.immature), chain.ErrInvalidTx},
		{"unknown input", e.pay(t, 10_000, chaintest.CoinbaseCoin(e.h.Next(nil, 0))), mempool.ErrOrphan},
		{"dust output", chaintest.Spend(t, e.h.Key, []chaintest.Coin{e.coins[2]},
			wire.TxOut{Value: 100, ScriptPubKey: e.h.Script},
			wire.TxOut{Value: e.coins[2].Value - 20_000, ScriptPubKey: e.h.Script}), mempool.ErrNonStandard},
		{"non-standard output", chaintest.Spend(t, e.h.Key, []chaintest.Coin{e.coins[2]},
			wire.TxOut{Value: e.coins[2].Value - 20_000, ScriptPubKey: []byte{chain.Op1}}), mempool.ErrNonStandard},
		{"bad signature", func() *wire.Tx {
			tx := e.pay(t, 10_000, e.coins[3])
			tx.Inputs[0].ScriptSig[10] ^= 1
			return tx
		}(), chain.ErrInvalidTx},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.pool.Accept(tt.tx); !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
	if info := e.pool.Info(); info.Count != 1 {
		t.Fatalf("pool holds %d transactions, want 1", info.Count)
	}

	// A transaction already in the chain is a duplicate, and says so.
	mined := e.pay(t, 10_000, e.coins[4])
	if _, err := e.h.Chain.ProcessBlock(e.h.Next(nil, 10_000, mined), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Accept(mined); !errors.Is(err, mempool.ErrConfirmed) || !errors.Is(err, mempool.ErrDuplicate) {
		t.Fatalf("a confirmed transaction: error = %v, want ErrConfirmed and ErrDuplicate", err)
	}
	if _, err := e.pool.Accept(good); errors.Is(err, mempool.ErrConfirmed) {
		t.Fatalf("a pool duplicate said it was confirmed: %v", err)
	}
}

func TestPolicyStricterThanConsensus(t *testing.T) {
	// An extra item left on the stack: valid for consensus, refused by the
	// relay policy's clean-stack rule.
	e := newEnv(t, mempool.Config{})
	tx := e.pay(t, 10_000, e.coins[0])
	if err := chain.VerifyInput(tx, 0, e.coins[0].Script, chain.VerifyDERSig); err != nil {
		t.Fatal(err)
	}
	tx.Inputs[0].ScriptSig = append([]byte{chain.Op1}, tx.Inputs[0].ScriptSig...)
	if err := chain.VerifyInput(tx, 0, e.coins[0].Script, chain.VerifyDERSig); err != nil {
		t.Fatalf("consensus should accept an extra stack item: %v", err)
	}
	if _, err := e.pool.Accept(tx); !errors.Is(err, chain.ErrInvalidTx) {
		t.Fatalf("policy should refuse it: %v", err)
	}
}

func TestOrphans(t *testing.T) {
	e := newEnv(t, mempool.Config{MaxOrphans: 3})
	parent := e.pay(t, 10_000, e.coins[0])
	child := e.pay(t, 10_000, out(parent, 0))
	grandchild := e.pay(t, 10_000, out(child, 0))
	for _, tx := range []*wire.Tx{grandchild, child} {
		if _, err := e.pool.Accept(tx); !errors.Is(err, mempool.ErrOrphan) {
			t.Fatalf("error = %v, want ErrOrphan", err)
		}
	}
	if info := e.pool.Info(); info.Orphans != 2 || info.Count != 0 {
		t.Fatalf("info %+v", info)
	}
	// The parent arrives: the whole family is accepted, in order.
	if _, err := e.pool.Accept(parent); err != nil {
		t.Fatal(err)
	}
	if info := e.pool.Info(); info.Count != 3 || info.Orphans != 0 {
		t.Fatalf("after the parent: %+v", info)
	}
	entries := e.pool.Entries()
	if entries[0].TxID != parent.TxID() || entries[2].TxID != grandchild.TxID() {
		t.Fatal("entries are not in dependency order")
	}
	// The orphan pool is bounded: the oldest orphans go first.
	var ghosts []*wire.Tx
	for i := range 5 {
		ghost := chaintest.Coin{OutPoint: wire.OutPoint{Index: uint32(i)}, Value: 1e8, Script: e.h.Script}
		ghost.OutPoint.Hash[0] = 0xee
		ghosts = append(ghosts, e.pay(t, 10_000, ghost))
		if _, err := e.pool.Accept(ghosts[i]); !errors.Is(err, mempool.ErrOrphan) {
			t.Fatalf("ghost %d: %v, want ErrOrphan", i, err)
		}
	}
	if info := e.pool.Info(); info.Orphans != 3 {
		t.Fatalf("%d orphans kept, limit 3", info.Orphans)
	}
}

func TestEvictionByFeeRate(t *testing.T) {
	// Room for about three transactions of ~190 bytes.
	e := newEnv(t, mempool.Config{MaxBytes: 600})
	fees := []int64{30_000, 10_000, 50_000, 20_000}
	var txs []*wire.Tx
	for i, fee := range fees {
		tx := e.pay(t, fee, e.coins[i])
		txs = append(txs, tx)
		if _, err := e.pool.Accept(tx); err != nil && !errors.Is(err, mempool.ErrFull) {
			t.Fatal(err)
		}
	}
	// The 10,000 fee (lowest rate) was evicted to make room.
	if e.pool.Get(txs[1].TxID()) != nil {
		t.Fatal("the lowest fee rate survived")
	}
	for _, i := range []int{0, 2, 3} {
		if e.pool.Get(txs[i].TxID()) == nil {
			t.Fatalf("transaction with fee %d evicted", fees[i])
		}
	}
	// A new transaction paying less than everything there is refused.
	if _, err := e.pool.Accept(e.pay(t, 5_000, e.coins[5])); !errors.Is(err, mempool.ErrFull) {
		t.Fatalf("low payer: %v, want ErrFull", err)
	}
	if info := e.pool.Info(); info.Bytes > 600 {
		t.Fatalf("pool holds %d bytes, limit 600", info.Bytes)
	}
}

func TestRemovedWhenMined(t *testing.T) {
	e := newEnv(t, mempool.Config{})
	a := e.pay(t, 10_000, e.coins[0])
	b := e.pay(t, 10_000, out(a, 0))
	conflict := e.pay(t, 10_000, e.coins[1])
	for _, tx := range []*wire.Tx{a, b, conflict} {
		if _, err := e.pool.Accept(tx); err != nil {
			t.Fatal(err)
		}
	}
	// A block mines a, and another spend of conflict's coin.
	rival := e.pay(t, 30_000, e.coins[1])
	blk := e.h.Next(nil, 40_000, a, rival)
	if _, err := e.h.Chain.ProcessBlock(blk, nil); err != nil {
		t.Fatal(err)
	}
	if e.pool.Get(a.TxID()) != nil || e.pool.Get(conflict.TxID()) != nil {
		t.Fatal("mined or conflicting transaction still in the pool")
	}
	if e.pool.Get(b.TxID()) == nil {
		t.Fatal("the child of a mined transaction should stay")
	}
}

// A transaction refused for what it is is not validated again until the tip
// changes; missing parents and duplicates are not such refusals.
func TestRecentRejects(t *testing.T) {
	e := newEnv(t, mempool.Config{})
	bad := e.pay(t, 10_000, e.coins[0])
	bad.Inputs[0].ScriptSig[10] ^= 1
	if _, err := e.pool.Accept(bad); !errors.Is(err, chain.ErrInvalidTx) {
		t.Fatalf("bad signature: %v", err)
	}
	if !e.pool.RecentlyRejected(bad.TxID()) {
		t.Fatal("the refused transaction is not remembered")
	}
	before := e.h.Chain.SigCache().Stats()
	if _, err := e.pool.Accept(bad); !errors.Is(err, mempool.ErrRecentlyRejected) {
		t.Fatalf("again: %v, want ErrRecentlyRejected", err)
	}
	if after := e.h.Chain.SigCache().Stats(); after != before {
		t.Fatalf("refused again, but its signature was checked: %+v, then %+v", before, after)
	}
	orphan := e.pay(t, 10_000, chaintest.CoinbaseCoin(e.h.Next(nil, 0)))
	if _, err := e.pool.Accept(orphan); !errors.Is(err, mempool.ErrOrphan) || e.pool.RecentlyRejected(orphan.TxID()) {
		t.Fatalf("an orphan: %v, remembered as rejected: %v", err, e.pool.RecentlyRejected(orphan.TxID()))
	}
	good := e.pay(t, 10_000, e.coins[1])
	if _, err := e.pool.Accept(good); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Accept(good); !errors.Is(err, mempool.ErrDuplicate) {
		t.Fatalf("the same again: %v, want ErrDuplicate", err)
	}
	if e.pool.RecentlyRejected(good.TxID()) {
		t.Fatal("a duplicate is remembered as rejected")
	}
	// A new tip forgets: the transaction is judged (and refused) afresh.
	e.h.Mine(1)
	if e.pool.RecentlyRejected(bad.TxID()) {
		t.Fatal("still remembered after the tip changed")
	}
	if _, err := e.pool.Accept(bad); !errors.Is(err, chain.ErrInvalidTx) {
		t.Fatalf("after a new tip: %v, want ErrInvalidTx", err)
	}
}

// Transactions accepted concurrently keep the pool consistent: of several
// spends of one coin exactly one gets in, whichever wins.
func TestConcurrentAccept(t *testing.T) {
	e := newEnv(t, mempool.Config{})
	const rivals = 4
	var txs []*wire.Tx
	for _, c := range e.coins {
		for k := range rivals {
			txs = append(txs, e.pay(t, int64(10_000+k*1000), c))
		}
	}
	var wg sync.WaitGroup
	for g := range rivals {
		wg.Go(func() {
			for i := g; i < len(txs); i += rivals {
				_, err := e.pool.Accept(txs[i])
				if err != nil && !errors.Is(err, mempool.ErrConflict) {
					t.Errorf("tx %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	if info := e.pool.Info(); info.Count != len(e.coins) {
		t.Fatalf("%d transactions in the pool, want one per coin (%d)", info.Count, len(e.coins))
	}
	for _, c := range e.coins {
		by := e.pool.SpentBy(c.OutPoint)
		if by == nil || e.pool.Get(by.TxID) != by {
			t.Fatalf("coin %s: spent by %v", c.OutPoint, by)
		}
	}
}
