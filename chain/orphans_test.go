package chain_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/wire"
)

// bigBlock builds a block on parent whose coinbase pays to an unspendable
// script of about size bytes, so tests can fill memory and disk with valid
// blocks.
func bigBlock(t testing.TB, p *chain.Params, parent *chain.Node, size int, tag uint64) *wire.Block {
	t.Helper()
	script := append([]byte{chain.OpReturn}, bytes.Repeat([]byte{0xee}, size)...)
	return chaintest.Block(t, p, parent, script, 0, tag)
}

// A block whose parent is unknown is checked before it is held: one that
// fails proof of work, the network's limit, the merkle root, the
// CVE-2012-2459 mutation or the size limit is refused with its rule
// (wrapping ErrInvalidBlock, so the p2p layer penalises the sender), and
// costs nothing afterwards.
func TestOrphanCheckedBeforeHeld(t *testing.T) {
	src := chaintest.New(t, chain.Regtest)
	src.Mine(1)
	parent := src.Chain.Tip() // not given to the chain under test
	fake := func(i byte) wire.Tx {
		return wire.Tx{Version: 1, Inputs: []wire.TxIn{{PrevOut: wire.OutPoint{Hash: [32]byte{i}}, Sequence: chain.SequenceFinal}},
			Outputs: []wire.TxOut{{Value: 1, ScriptPubKey: src.Script}}}
	}
	tests := []struct {
		name  string
		rule  chain.Rule
		build func(t *testing.T) *wire.Block
	}{
		{"proof of work misses its bits", chain.RuleHighHash, func(t *testing.T) *wire.Block {
			b := src.Next(parent, 0)
			target, _, _ := chain.CompactToTarget(b.Header.Bits)
			for b.Header.Nonce = 0; ; b.Header.Nonce++ {
				hash := b.Header.Hash()
				if v := chain.HashToInt(&hash); v.Gt(&target) {
					return b
				}
			}
		}},
		{"bits easier than the network's limit", chain.RuleBadBits, func(t *testing.T) *wire.Block {
			b := src.Next(parent, 0)
			b.Header.Bits = 0x2100ffff
			return resolve(t, b)
		}},
		{"merkle root of other transactions", chain.RuleBadMerkle, func(t *testing.T) *wire.Block {
			b := src.Next(parent, 0)
			b.Txs[0].Outputs[0].Value--
			chaintest.Solve(t, &b.Header)
			return b
		}},
		{"duplicated transactions (CVE-2012-2459)", chain.RuleMutated, func(t *testing.T) *wire.Block {
			tx1, tx2 := fake(1), fake(2)
			b := src.Next(parent, 0, &tx1, &tx2)
			b.Txs = append(b.Txs, b.Txs[2]) // same merkle root
			chaintest.Solve(t, &b.Header)
			return b
		}},
		{"over the size limit", chain.RuleBadLength, func(t *testing.T) *wire.Block {
			return bigBlock(t, chain.Regtest, parent, chain.MaxBlockWeight/chain.WitnessScale, 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := chaintest.New(t, chain.Regtest)
			b := tt.build(t)
			_, err := dst.Chain.ProcessBlock(b, nil)
			if !errors.Is(err, chain.ErrInvalidBlock) || chain.RuleOf(err) != tt.rule {
				t.Fatalf("error = %v, want rule %s wrapping ErrInvalidBlock", err, tt.rule)
			}
			if n, bytes := dst.Chain.Orphans(); n != 0 || bytes != 0 {
				t.Fatalf("the pool holds %d blocks (%d bytes) after a refused orphan", n, bytes)
			}
		})
	}
	t.Run("a valid orphan is held", func(t *testing.T) {
		dst := chaintest.New(t, chain.Regtest)
		if _, err := dst.Chain.ProcessBlock(src.Next(parent, 0), nil); !errors.Is(err, chain.ErrUnknownParent) {
			t.Fatalf("error = %v, want ErrUnknownParent", err)
		}
		if n, _ := dst.Chain.Orphans(); n != 1 {
			t.Fatalf("the pool holds %d blocks, want 1", n)
		}
	})
}

// The orphan pool is bounded in bytes: parentless blocks of ~1 MB (the most
// a block without witness can be) fill it to DefaultMaxOrphanBytes and no
// further, the oldest going first.
func TestOrphanPoolBoundedInBytes(t *testing.T) {
	src := chaintest.New(t, chain.Regtest)
	parentBlock := src.Mine(1)[0]
	parent := src.Chain.Tip()
	dst := chaintest.New(t, chain.Regtest, func(o *chain.Options) { o.MaxOrphans = 1000 })
	const size = 990_000
	const n = chain.DefaultMaxOrphanBytes/size + 10
	var orphans []*wire.Block
	for i := range n {
		b := bigBlock(t, chain.Regtest, parent, size, uint64(i))
		orphans = append(orphans, b)
		if _, err := dst.Chain.ProcessBlock(b, nil); !errors.Is(err, chain.ErrUnknownParent) {
			t.Fatalf("orphan %d: %v", i, err)
		}
		if _, held := dst.Chain.Orphans(); held > chain.DefaultMaxOrphanBytes {
			t.Fatalf("after orphan %d the pool holds %d bytes, over %d", i, held, chain.DefaultMaxOrphanBytes)
		}
	}
	count, held := dst.Chain.Orphans()
	if count >= n || held < chain.DefaultMaxOrphanBytes-2*size {
		t.Fatalf("%d of %d orphans held (%d bytes): not filled to the byte bound", count, n, held)
	}
	t.Logf("%d of %d orphans of %d bytes held, %d bytes", count, n, size, held)
	// The parent arrives: the newest orphans were kept and are processed,
	// the oldest were dropped.
	if _, err := dst.Chain.ProcessBlock(parentBlock, nil); err != nil {
		t.Fatal(err)
	}
	if dst.Chain.NodeByHash(orphans[n-1].Hash()) == nil {
		t.Fatal("the newest orphan was not kept")
	}
	if dst.Chain.NodeByHash(orphans[0].Hash()) != nil {
		t.Fatal("the oldest orphan was kept past the bound")
	}
	if c, b := dst.Chain.Orphans(); c != 0 || b != 0 {
		t.Fatalf("%d orphans (%d bytes) left after their parent came", c, b)
	}
}

// A block file whose blocks are out of order imports: a block whose parent
// has not been read waits in the orphan pool and connects when it is.
func TestImportOutOfOrder(t *testing.T) {
	src := chaintest.New(t, chain.Regtest)
	blocks := src.Mine(40)
	// Swap neighbours and reverse runs of five, as a parallel download writes
	// blocks: every block's parent is within a few records of it.
	order := make([]int, 0, len(blocks))
	for i := 0; i < len(blocks); i += 5 {
		for j := min(i+4, len(blocks)-1); j >= i; j-- {
			order = append(order, j)
		}
	}
	var file []byte
	for _, i := range order {
		raw, _ := blocks[i].AppendBinary(nil)
		file = append(file, chain.Regtest.Magic[:]...)
		file = binary.LittleEndian.AppendUint32(file, uint32(len(raw)))
		file = append(file, raw...)
	}
	dst := chaintest.New(t, chain.Regtest)
	st, err := dst.Chain.Import(t.Context(), bytes.NewReader(file), "shuffled.dat", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tip := dst.Chain.Tip(); tip.Hash != blocks[len(blocks)-1].Hash() {
		t.Fatalf("tip %d after importing out of order, want %d", tip.Height, len(blocks))
	}
	if st.Blocks != len(blocks) || st.Skipped != 0 || st.Orphans != 0 {
		t.Fatalf("progress %+v", st)
	}
	// Again: everything is known.
	st, err = dst.Chain.Import(t.Context(), bytes.NewReader(file), "shuffled.dat", nil)
	if err != nil || st.Skipped != len(blocks) {
		t.Fatalf("second import: %+v, %v", st, err)
	}
}
