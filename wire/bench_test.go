package wire

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// syntheticBlock builds a deterministic block shaped like a busy mainnet block:
// n transactions, about a third of them segwit, one to three inputs and two to
// three outputs each, with scripts of realistic sizes.
func syntheticBlock(n int) *Block {
	rng := rand.New(rand.NewPCG(574200, 1))
	fill := func(size int) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	b := &Block{Header: sampleHeader(9)}
	for i := range n {
		tx := Tx{Version: 1 + uint32(i%2), LockTime: uint32(i)}
		segwit := i%3 == 0
		for range 1 + rng.IntN(3) {
			in := TxIn{PrevOut: OutPoint{Hash: sha256d.Hash(fill(32)), Index: rng.Uint32N(4)}, Sequence: 0xffffffff}
			if segwit {
				in.ScriptSig = fill(23 * rng.IntN(2))
				in.Witness = NewWitness(fill(71+rng.IntN(2)), fill(33))
			} else {
				in.ScriptSig = fill(106 + rng.IntN(3))
			}
			tx.Inputs = append(tx.Inputs, in)
		}
		for range 2 + rng.IntN(2) {
			tx.Outputs = append(tx.Outputs, TxOut{Value: rng.Int64N(1e10), ScriptPubKey: fill([]int{22, 23, 25, 34}[rng.IntN(4)])})
		}
		b.Txs = append(b.Txs, tx)
	}
	b.Header.MerkleRoot, _ = MerkleRoot(b.TxIDs(nil))
	return b
}

func TestSyntheticBlockRoundTrip(t *testing.T) {
	b := syntheticBlock(500)
	p := encode(t, b)
	var back Block
	if err := back.Decode(p); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encode(t, &back), p) {
		t.Fatal("synthetic block does not round-trip")
	}
	if root, _ := back.MerkleRoot(); root != b.Header.MerkleRoot {
		t.Fatal("merkle root differs after decode")
	}
}

func TestBlockDecodeAllocations(t *testing.T) {
	p := encode(t, syntheticBlock(3000))
	var b Block
	// The transaction slice and one slab each of inputs, outputs and witness items.
	if n := testing.AllocsPerRun(10, func() {
		if err := b.Decode(p); err != nil {
			t.Fatal(err)
		}
	}); n > 4 {
		t.Fatalf("Block.Decode of 3,000 transactions: %v allocations, want at most 4", n)
	}
	frame := AppendRawFrame(nil, testMagic, CmdBlock, p)
	// Through the frame reader: plus the block itself and the growing payload buffer.
	if n := testing.AllocsPerRun(10, func() {
		if _, err := NewReader(bytes.NewReader(frame), testMagic).ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}); n > 16 {
		t.Fatalf("reading a block frame: %v allocations, want at most 16", n)
	}
}

func TestHashingAllocations(t *testing.T) {
	tx := sampleTx()
	if n := testing.AllocsPerRun(100, func() { tx.TxID(); tx.WTxID() }); n != 0 {
		t.Fatalf("TxID/WTxID of a small transaction: %v allocations, want 0", n)
	}
	h := sampleHeader(1)
	if n := testing.AllocsPerRun(100, func() { h.Hash() }); n != 0 {
		t.Fatalf("Header.Hash: %v allocations, want 0", n)
	}
	b := syntheticBlock(200)
	ids := make([]sha256d.Hash, 0, 200)
	if n := testing.AllocsPerRun(10, func() { ids = b.TxIDs(ids[:0]) }); n > 2 {
		t.Fatalf("TxIDs of 200 transactions: %v allocations, want at most 2", n)
	}
}

func BenchmarkBlockDecode(b *testing.B) {
	p := encode(b, syntheticBlock(3000))
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	var blk Block
	for b.Loop() {
		if err := blk.Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlockEncode(b *testing.B) {
	blk := syntheticBlock(3000)
	buf := make([]byte, 0, blk.SerializeSize())
	b.SetBytes(int64(cap(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = blk.AppendBinary(buf[:0])
	}
}

func BenchmarkBlockFrameRead(b *testing.B) {
	frame := AppendRawFrame(nil, testMagic, CmdBlock, encode(b, syntheticBlock(3000)))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	r := bytes.NewReader(frame)
	for b.Loop() {
		r.Reset(frame)
		if _, err := NewReader(r, testMagic).ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlockTxIDs(b *testing.B) {
	blk := syntheticBlock(3000)
	ids := make([]sha256d.Hash, 0, len(blk.Txs))
	b.ReportAllocs()
	for b.Loop() {
		ids = blk.TxIDs(ids[:0])
	}
}

func BenchmarkHeadersDecode(b *testing.B) {
	m := &MsgHeaders{Headers: make([]Header, MaxHeaders)}
	for i := range m.Headers {
		m.Headers[i] = sampleHeader(byte(i))
	}
	p := encode(b, m)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if err := new(MsgHeaders).Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInvDecode(b *testing.B) {
	m := &MsgInv{Inv: make([]InvVect, MaxInvEntries)}
	for i := range m.Inv {
		m.Inv[i] = InvVect{Type: InvTx, Hash: sha256d.Sum([]byte{byte(i), byte(i >> 8)})}
	}
	p := encode(b, m)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if err := new(MsgInv).Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}
