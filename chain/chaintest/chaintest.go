// Package chaintest builds valid chains for tests: a chain opened in a test's
// temporary directory, blocks mined on any parent (instantly on regtest), and
// signed P2PKH spends. It is for tests only.
package chaintest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/chain/store/storetest"
	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/crypto/secp"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Key returns a deterministic private key for seed.
func Key(tb testing.TB, seed uint64) *secp.PrivateKey {
	tb.Helper()
	k, err := secp.GenerateKeyFrom(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 0xc4}))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// P2PKH returns the P2PKH script paying to key's compressed public key.
func P2PKH(key *secp.PrivateKey) []byte {
	return chain.PayToPubKeyHashScript(address.Hash160(key.PublicKey().Compressed()))
}

// Coinbase returns a coinbase for height paying value to script; tag makes
// otherwise identical coinbases differ.
func Coinbase(height int32, script []byte, value int64, tag uint64) wire.Tx {
	extra := binary.LittleEndian.AppendUint64(nil, tag)
	return wire.Tx{
		Version: 1,
		Inputs: []wire.TxIn{{
			PrevOut:   wire.OutPoint{Index: 0xffffffff},
			ScriptSig: chain.CoinbaseScript(height, chain.PushData(extra)),
			Sequence:  chain.SequenceFinal,
		}},
		Outputs: []wire.TxOut{{Value: value, ScriptPubKey: script}},
	}
}

// Solve finds a nonce for a header whose target is easy (regtest's); it fails
// the test after 2^24 tries.
func Solve(tb testing.TB, h *wire.Header) {
	tb.Helper()
	target, _, _ := chain.CompactToTarget(h.Bits)
	for nonce := uint32(0); nonce < 1<<24; nonce++ {
		h.Nonce = nonce
		hash := h.Hash()
		if v := chain.HashToInt(&hash); !v.Gt(&target) {
			return
		}
	}
	tb.Fatalf("no nonce under 2^24 for bits %08x", h.Bits)
}

// Block builds and solves a block on parent with a coinbase paying subsidy
// plus fees to script, then txs. Time is parent's plus one second.
func Block(tb testing.TB, p *chain.Params, parent *chain.Node, script []byte, fees int64, tag uint64, txs ...*wire.Tx) *wire.Block {
	tb.Helper()
	height := parent.Height + 1
	b := &wire.Block{Header: wire.Header{
		Version:   4,
		PrevBlock: parent.Hash,
		Time:      parent.Header.Time + 1,
		Bits:      p.NextBits(parent),
	}}
	b.Txs = append(b.Txs, Coinbase(height, script, p.Subsidy(height)+fees, tag))
	for _, tx := range txs {
		b.Txs = append(b.Txs, *tx)
	}
	b.Header.MerkleRoot, _ = b.MerkleRoot()
	Solve(tb, &b.Header)
	return b
}

// Coin is an output a test can spend.
type Coin struct {
	OutPoint wire.OutPoint
	Value    int64
	Script   []byte
}

// Spend builds a transaction spending coins (all locked to key) to outputs and
// signs every input.
func Spend(tb testing.TB, key *secp.PrivateKey, coins []Coin, outputs ...wire.TxOut) *wire.Tx {
	tb.Helper()
	tx := &wire.Tx{Version: 1, Outputs: outputs}
	for _, c := range coins {
		tx.Inputs = append(tx.Inputs, wire.TxIn{PrevOut: c.OutPoint, Sequence: chain.SequenceFinal})
	}
	for i, c := range coins {
		if err := chain.SignInput(tx, i, c.Script, key, chain.SigHashAll); err != nil {
			tb.Fatal(err)
		}
	}
	return tx
}

// CoinbaseCoin returns the coinbase output of b as a spendable Coin.
func CoinbaseCoin(b *wire.Block) Coin {
	cb := &b.Txs[0]
	return Coin{OutPoint: wire.OutPoint{Hash: cb.TxID(), Index: 0}, Value: cb.Outputs[0].Value, Script: cb.Outputs[0].ScriptPubKey}
}

// Harness is a chain under test with a key that mining pays to.
type Harness struct {
	T      testing.TB
	Params *chain.Params
	Chain  *chain.Chain
	Dir    string
	Key    *secp.PrivateKey
	Script []byte
	// Clock is what the chain takes for now; tests move it.
	Clock time.Time
	// FS holds the chain's files: in memory unless the harness was made with
	// OnDisk (it survives Reopen either way).
	FS  store.FS
	tag uint64
}

// New opens a fresh chain for p, in memory.
func New(tb testing.TB, p *chain.Params, opts ...func(*chain.Options)) *Harness {
	tb.Helper()
	return newHarness(tb, p, storetest.MemFS(), "/chain", opts...)
}

// OnDisk opens a fresh chain for p in a temporary directory on disk, with real
// fsyncs.
func OnDisk(tb testing.TB, p *chain.Params, opts ...func(*chain.Options)) *Harness {
	tb.Helper()
	return newHarness(tb, p, store.DiskFS(), tb.TempDir(), opts...)
}

// OnFS opens a fresh chain for p in dir on the given file system (a crashable
// one, for crash tests).
func OnFS(tb testing.TB, p *chain.Params, fs store.FS, dir string, opts ...func(*chain.Options)) *Harness {
	tb.Helper()
	return newHarness(tb, p, fs, dir, opts...)
}

func newHarness(tb testing.TB, p *chain.Params, fs store.FS, dir string, opts ...func(*chain.Options)) *Harness {
	h := &Harness{T: tb, Params: p, Dir: dir, FS: fs, Key: Key(tb, 1)}
	h.Script = P2PKH(h.Key)
	h.Clock = time.Unix(int64(p.Genesis.Header.Time), 0).Add(365 * 24 * time.Hour)
	h.Reopen(opts...)
	return h
}

// Options returns the chain options the harness uses (its clock and file
// system), with opts applied.
func (h *Harness) Options(opts ...func(*chain.Options)) chain.Options {
	o := chain.Options{Now: func() time.Time { return h.Clock }}
	o.Store.FS = h.FS
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Reopen closes the chain (if open) and opens it again from its directory.
func (h *Harness) Reopen(opts ...func(*chain.Options)) {
	h.T.Helper()
	if h.Chain != nil {
		if err := h.Chain.Close(); err != nil {
			h.T.Fatal(err)
		}
	}
	c, err := chain.Open(h.Dir, h.Params, h.Options(opts...))
	if err != nil {
		h.T.Fatal(err)
	}
	h.Chain = c
	h.T.Cleanup(func() {
		if err := c.Close(); err != nil {
			h.T.Error(err)
		}
	})
}

// Next builds a block on parent (the tip if nil) paying the harness's key.
func (h *Harness) Next(parent *chain.Node, fees int64, txs ...*wire.Tx) *wire.Block {
	h.T.Helper()
	if parent == nil {
		parent = h.Chain.Tip()
	}
	h.tag++
	return Block(h.T, h.Params, parent, h.Script, fees, h.tag, txs...)
}

// Mine extends the tip by n blocks and returns them.
func (h *Harness) Mine(n int) []*wire.Block {
	h.T.Helper()
	var out []*wire.Block
	for range n {
		b := h.Next(nil, 0)
		if _, err := h.Chain.ProcessBlock(b, nil); err != nil {
			h.T.Fatalf("mine block %d: %v", h.Chain.Tip().Height+1, err)
		}
		out = append(out, b)
	}
	return out
}

// UTXODigest returns the committed UTXO set's digest, size and total value.
func UTXODigest(tb testing.TB, c *chain.Chain) (sha256d.Hash, int, int64) {
	tb.Helper()
	st, err := c.UTXOStats()
	if err != nil {
		tb.Fatal(err)
	}
	return st.Digest, st.Coins, st.Total
}

// FakeChain returns the tip of an index-only chain of n blocks after a fake
// genesis, all with bits, spaced evenly over took seconds, for difficulty tests.
func FakeChain(p *chain.Params, n int, bits uint32, took int64) *chain.Node {
	h := wire.Header{Version: 1, Time: 1_300_000_000, Bits: bits}
	node := chain.NewTestNode(&h, nil)
	for i := 1; i <= n; i++ {
		h = wire.Header{Version: 1, PrevBlock: node.Hash, Time: uint32(1_300_000_000 + took*int64(i)/int64(n)), Bits: bits}
		node = chain.NewTestNode(&h, node)
	}
	return node
}

// CorruptBlockFile flips a byte in the middle of the block stored at pos.
func CorruptBlockFile(tb testing.TB, h *Harness, pos store.BlockPos) {
	tb.Helper()
	name := h.FS.PathJoin(h.Dir, "blocks", fmt.Sprintf("blk%05d.dat", pos.File))
	if err := storetest.FlipByte(h.FS, name, int64(pos.Offset+pos.Size/2)); err != nil {
		tb.Fatal(err)
	}
}
