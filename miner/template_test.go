package miner

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// fakeEntry makes a pool entry (not a valid transaction: selection reads
// only txids, inputs, sizes, fees, lock times and scripts) spending the
// given parents' first outputs, or a made-up outpoint without parents. pad
// grows its output script to reach a size; sigOps puts that many
// OP_CHECKSIGs in it.
func fakeEntry(name string, fee int64, pad, sigOps int, parents ...*mempool.Entry) *mempool.Entry {
	tx := &wire.Tx{Version: 1}
	if len(parents) == 0 {
		tx.Inputs = []wire.TxIn{{PrevOut: wire.OutPoint{Hash: sha256d.Sum([]byte(name))}, Sequence: chain.SequenceFinal}}
	}
	for _, p := range parents {
		tx.Inputs = append(tx.Inputs, wire.TxIn{PrevOut: wire.OutPoint{Hash: p.TxID}, Sequence: chain.SequenceFinal})
	}
	script := append(bytes.Repeat([]byte{chain.OpCheckSig}, sigOps), bytes.Repeat([]byte{chain.Op1}, pad)...)
	tx.Outputs = []wire.TxOut{{Value: 1000, ScriptPubKey: script}}
	return &mempool.Entry{Tx: tx, TxID: tx.TxID(), Size: tx.SerializeSize(), Fee: fee}
}

func TestSelectTxs(t *testing.T) {
	// Sizes: a fake entry is 60 bytes plus its padding.
	a := fakeEntry("a", 1000, 40, 0)          // 100 bytes, rate 10,000/kB
	b := fakeEntry("b", 3000, 40, 0)          // 100 bytes, 30,000/kB
	c := fakeEntry("c", 2000, 40, 0)          // 100 bytes, 20,000/kB
	big := fakeEntry("big", 50_000, 940, 0)   // 1000 bytes, 50,000/kB
	parent := fakeEntry("parent", 100, 40, 0) // 100 bytes, 1,000/kB
	child := fakeEntry("child", 9000, 40, 0, parent)
	grandchild := fakeEntry("grandchild", 9000, 40, 0, child)
	sibling := fakeEntry("sibling", 9500, 40, 0, parent)
	both := fakeEntry("both", 9999, 40, 0, a, c) // two parents
	same1 := fakeEntry("same1", 1000, 40, 0)
	same2 := fakeEntry("same2", 1000, 40, 0)
	manySigOps := fakeEntry("sigops", 90_000, 0, 150)
	fewSigOps := fakeEntry("fewsigops", 100, 40, 10)
	locked := fakeEntry("locked", 90_000, 40, 0)
	locked.Tx.LockTime = 500 // a height above the block's
	locked.Tx.Inputs[0].Sequence = 0

	tests := []struct {
		name    string
		entries []*mempool.Entry
		size    int // size budget
		sigOps  int // sigop budget
		want    []*mempool.Entry
	}{
		{"highest fee rate first", []*mempool.Entry{a, b, c}, 10_000, 1000, []*mempool.Entry{b, c, a}},
		{"equal rates keep arrival order", []*mempool.Entry{same2, same1}, 10_000, 1000, []*mempool.Entry{same2, same1}},
		{"parents before children", []*mempool.Entry{parent, child, grandchild, b}, 10_000, 1000,
			[]*mempool.Entry{b, parent, child, grandchild}},
		{"children ranked once their parent is in", []*mempool.Entry{parent, child, sibling}, 10_000, 1000,
			[]*mempool.Entry{parent, sibling, child}},
		{"a child waits for all its parents", []*mempool.Entry{a, both, c}, 10_000, 1000, []*mempool.Entry{c, a, both}},
		{"a child listed before its parent", []*mempool.Entry{child, parent}, 10_000, 1000, []*mempool.Entry{parent, child}},
		{"what does not fit is skipped, not the rest", []*mempool.Entry{a, big, b, c}, 350, 1000, []*mempool.Entry{b, c, a}},
		{"exactly full", []*mempool.Entry{a, b, c}, 300, 1000, []*mempool.Entry{b, c, a}},
		{"a skipped parent takes its children", []*mempool.Entry{parent, child, a}, 150, 1000, []*mempool.Entry{a}},
		{"the sigop limit", []*mempool.Entry{manySigOps, fewSigOps, a}, 10_000, 100, []*mempool.Entry{a, fewSigOps}},
		{"not final", []*mempool.Entry{locked, a}, 10_000, 1000, []*mempool.Entry{a}},
		{"nothing", nil, 10_000, 1000, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fees, size, sigOps := selectTxs(tt.entries, 100, 0, tt.size, tt.sigOps)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("chose %v, want %v", names(got), names(tt.want))
			}
			var wantFees int64
			var wantSize, wantSigOps int
			for _, e := range tt.want {
				wantFees += e.Fee
				wantSize += e.Tx.BaseSize()
				wantSigOps += txLegacySigOps(e.Tx)
			}
			if fees != wantFees || size != wantSize || sigOps != wantSigOps {
				t.Fatalf("fees, size, sigops = %d, %d, %d; want %d, %d, %d", fees, size, sigOps, wantFees, wantSize, wantSigOps)
			}
			if size > tt.size || sigOps > tt.sigOps {
				t.Fatalf("over budget: %d bytes, %d sigops", size, sigOps)
			}
		})
	}
}

// names shows entries by their fee and size, which tell the fakes apart.
func names(es []*mempool.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%d/%dB", e.Fee, e.Size))
	}
	return out
}

func TestFakeEntrySizes(t *testing.T) {
	// The table above counts on these sizes.
	if s := fakeEntry("x", 0, 40, 0).Size; s != 100 {
		t.Fatalf("size %d, want 100", s)
	}
	if s := fakeEntry("x", 0, 940, 0).Size; s != 1002 && s != 1000 {
		t.Fatalf("size %d, want about 1000", s)
	}
}

func TestMerkleBranch(t *testing.T) {
	for n := 1; n <= 17; n++ {
		t.Run(fmt.Sprint(n, " leaves"), func(t *testing.T) {
			leaves := make([]sha256d.Hash, n)
			for i := range leaves {
				leaves[i] = sha256d.Sum([]byte{byte(i), byte(n)})
			}
			want, _ := wire.MerkleRoot(slices.Clone(leaves))
			h := leaves[0]
			for _, s := range merkleBranch(leaves) {
				h = sha256d.SumPair(&h, &s)
			}
			if h != want {
				t.Fatalf("branch folds to %s, root is %s", h, want)
			}
		})
	}
}

// poolEnv is a regtest chain with mature coins and a pool.
type poolEnv struct {
	h     *chaintest.Harness
	pool  *mempool.Pool
	coins []chaintest.Coin
}

func newPoolEnv(t testing.TB, mature int) *poolEnv {
	h := chaintest.New(t, chain.Regtest)
	blocks := h.Mine(100 + mature)
	e := &poolEnv{h: h, pool: mempool.New(h.Chain, mempool.Config{Now: func() time.Time { return h.Clock }})}
	for _, b := range blocks[:mature] {
		e.coins = append(e.coins, chaintest.CoinbaseCoin(b))
	}
	return e
}

// pay spends coins back to the harness's key, leaving fee.
func (e *poolEnv) pay(t testing.TB, fee int64, coins ...chaintest.Coin) *wire.Tx {
	var total int64
	for _, c := range coins {
		total += c.Value
	}
	return chaintest.Spend(t, e.h.Key, coins, wire.TxOut{Value: total - fee, ScriptPubKey: e.h.Script})
}

func (e *poolEnv) accept(t testing.TB, txs ...*wire.Tx) {
	t.Helper()
	for _, tx := range txs {
		if _, err := e.pool.Accept(tx); err != nil {
			t.Fatal(err)
		}
	}
}

func outCoin(tx *wire.Tx, i int) chaintest.Coin {
	return chaintest.Coin{OutPoint: wire.OutPoint{Hash: tx.TxID(), Index: uint32(i)}, Value: tx.Outputs[i].Value, Script: tx.Outputs[i].ScriptPubKey}
}

func TestTemplate(t *testing.T) {
	e := newPoolEnv(t, 3)
	parent := e.pay(t, 10_000, e.coins[0])
	child := e.pay(t, 50_000, outCoin(parent, 0))
	other := e.pay(t, 20_000, e.coins[1])
	e.accept(t, parent, child, other)

	tip := e.h.Chain.Tip()
	payout := []byte{chain.OpReturn}
	tmpl, err := newTemplate(chain.Regtest, tip, e.pool.Entries(), templateOptions{
		script: payout, tag: []byte("/test/"), maxWeight: chain.MaxBlockWeight, now: e.h.Clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	height := tip.Height + 1
	t.Run("header", func(t *testing.T) {
		if tmpl.Height != height || tmpl.Header.PrevBlock != tip.Hash || tmpl.Header.Version != 0x20000000 ||
			tmpl.Header.Bits != chain.Regtest.NextBits(tip) || int64(tmpl.MinTime) != tip.MedianTimePast()+1 {
			t.Fatalf("template %+v on tip %d %s", tmpl.Header, tip.Height, tip.Hash)
		}
		target, _, _ := chain.CompactToTarget(tmpl.Header.Bits)
		if got := chain.HashToInt(&tmpl.Target); !got.Eq(&target) {
			t.Fatalf("target %s, want %s", got.Hex(), target.Hex())
		}
	})
	t.Run("transactions", func(t *testing.T) {
		// other (20,000 for its size) outranks parent (10,000), whose child
		// comes right after it.
		want := []sha256d.Hash{other.TxID(), parent.TxID(), child.TxID()}
		var got []sha256d.Hash
		for _, x := range tmpl.Txs {
			got = append(got, x.TxID)
		}
		if !slices.Equal(got, want) || tmpl.Fees != 80_000 {
			t.Fatalf("txs %v fees %d, want %v and 80000", got, tmpl.Fees, want)
		}
	})
	t.Run("coinbase", func(t *testing.T) {
		cb := tmpl.Coinbase
		if !cb.IsCoinbase() || len(cb.Outputs) != 1 {
			t.Fatalf("coinbase %+v", cb)
		}
		script := cb.Inputs[0].ScriptSig
		if !bytes.HasPrefix(script, chain.PushInt(int64(height))) {
			t.Fatalf("script %x does not start with the height %d", script, height)
		}
		if !bytes.HasSuffix(script, chain.PushData([]byte("/test/"))) {
			t.Fatalf("script %x does not end with the tag", script)
		}
		if cb.Outputs[0].Value != chain.Regtest.Subsidy(height)+80_000 || tmpl.Reward != cb.Outputs[0].Value ||
			!bytes.Equal(cb.Outputs[0].ScriptPubKey, payout) {
			t.Fatalf("pays %d to %x, want subsidy %d + fees 80000", cb.Outputs[0].Value, cb.Outputs[0].ScriptPubKey, chain.Regtest.Subsidy(height))
		}
		if en, ok := Extranonce(&cb, height); !ok || en != 0 {
			t.Fatalf("template extranonce %d %v, want 0", en, ok)
		}
	})
	t.Run("extranonce", func(t *testing.T) {
		seen := map[sha256d.Hash]bool{}
		for _, en := range []uint64{0, 1, 0x0102030405060708, 1<<64 - 1} {
			b := tmpl.Block(en, tmpl.MinTime, 7)
			if got, ok := Extranonce(&b.Txs[0], height); !ok || got != en {
				t.Fatalf("block's extranonce %#x %v, want %#x", got, ok, en)
			}
			if want := binary.LittleEndian.AppendUint64(nil, en); !bytes.Contains(b.Txs[0].Inputs[0].ScriptSig, want) {
				t.Fatalf("extranonce %#x not in %x", en, b.Txs[0].Inputs[0].ScriptSig)
			}
			root, _ := b.MerkleRoot()
			if root != b.Header.MerkleRoot || root != tmpl.MerkleRoot(en) {
				t.Fatalf("extranonce %#x: header root %s, template %s, computed %s", en, b.Header.MerkleRoot, tmpl.MerkleRoot(en), root)
			}
			if seen[root] {
				t.Fatalf("extranonce %#x repeats a merkle root", en)
			}
			seen[root] = true
			if err := chain.CheckTransaction(&b.Txs[0]); err != nil {
				t.Fatal(err)
			}
		}
		// The template's own coinbase is untouched by the blocks made from it.
		if en, _ := Extranonce(&tmpl.Coinbase, height); en != 0 {
			t.Fatalf("making blocks changed the template's extranonce to %#x", en)
		}
	})
	t.Run("weight and sigops", func(t *testing.T) {
		b := tmpl.Block(5, tmpl.MinTime, 0)
		if w := b.SerializeSize() * chain.WitnessScale; w != tmpl.Weight {
			t.Fatalf("weight %d, block's %d", tmpl.Weight, w)
		}
		n := 0
		for i := range b.Txs {
			n += txLegacySigOps(&b.Txs[i])
		}
		if n != tmpl.SigOps {
			t.Fatalf("sigops %d, block's %d", tmpl.SigOps, n)
		}
	})
}

func TestTemplateWeightLimit(t *testing.T) {
	e := newPoolEnv(t, 3)
	small := e.pay(t, 10_000, e.coins[0])
	rich := e.pay(t, 90_000, e.coins[1], e.coins[2]) // two inputs: bigger, best rate
	e.accept(t, small, rich)
	tip := e.h.Chain.Tip()
	opts := templateOptions{script: e.h.Script, tag: []byte(DefaultTag), now: e.h.Clock}
	empty, err := newTemplate(chain.Regtest, tip, nil, templateOptions{script: e.h.Script, tag: []byte(DefaultTag), maxWeight: chain.MaxBlockWeight})
	if err != nil {
		t.Fatal(err)
	}
	// Room for the coinbase, the count and the small transaction only.
	opts.maxWeight = empty.Weight + 2*chain.WitnessScale + small.SerializeSize()*chain.WitnessScale
	tmpl, err := newTemplate(chain.Regtest, tip, e.pool.Entries(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl.Txs) != 1 || tmpl.Txs[0].TxID != small.TxID() {
		t.Fatalf("chose %d transactions, want only the small one", len(tmpl.Txs))
	}
	if tmpl.Weight > opts.maxWeight {
		t.Fatalf("weight %d over %d", tmpl.Weight, opts.maxWeight)
	}
	opts.maxWeight = empty.Weight - 100
	if _, err := newTemplate(chain.Regtest, tip, nil, opts); err == nil {
		t.Fatal("a limit below the coinbase's weight made a template")
	}
}
