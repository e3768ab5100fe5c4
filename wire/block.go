package wire

import (
	"slices"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// Block is a block header and its transactions, and also the "block" message.
type Block struct {
	Header Header
	Txs    []Tx
}

// Command implements [Message].
func (*Block) Command() string { return CmdBlock }

// Hash returns the block hash (the header's hash).
func (b *Block) Hash() sha256d.Hash { return b.Header.Hash() }

// maxBlockTxs is what the message size can hold; the bytes present bound it first.
const maxBlockTxs = MaxMessageSize / minTxSize

// Decode parses a serialized block. Scripts and witnesses alias p, and the
// whole block costs a small constant number of allocations (the transaction
// slice and one slab each of inputs and outputs), however many transactions
// it has, and at most MaxDecodeOverhead bytes per byte of p.
func (b *Block) Decode(p []byte) error {
	d := newDecoder(p)
	b.Header.decode(&d)
	b.Txs = decodeTxList(&d, "block.txs")
	return d.finish("block")
}

// decodeTxList reads a count and that many transactions, allocating for the
// transactions really present (one spare slot lets a truncated list report the
// precise error of its last transaction).
func decodeTxList(d *decoder, field string) []Tx {
	n := d.count(field, maxBlockTxs, minTxSize)
	if n == 0 {
		return nil
	}
	a := newTxArena(d, n)
	txs := make([]Tx, min(n, a.txs+1))
	for i := 0; i < n && d.ok(); i++ {
		if i == len(txs) {
			txs = append(txs, Tx{})
		}
		decodeTx(d, &txs[i], &a)
	}
	return txs
}

// SerializeSize is the size of what [Block.AppendBinary] writes.
func (b *Block) SerializeSize() int {
	n := HeaderSize + VarintSize(uint64(len(b.Txs)))
	for i := range b.Txs {
		n += b.Txs[i].SerializeSize()
	}
	return n
}

// AppendBinary appends the block's serialization, growing dst at most once.
func (b *Block) AppendBinary(dst []byte) ([]byte, error) {
	dst = slices.Grow(dst, b.SerializeSize())
	dst, _ = b.Header.AppendBinary(dst)
	dst = AppendVarint(dst, uint64(len(b.Txs)))
	for i := range b.Txs {
		tx := &b.Txs[i]
		dst = tx.appendTo(dst, tx.HasWitness())
	}
	return dst, nil
}

// TxIDs appends the txid of every transaction to dst. One scratch buffer serves
// all transactions, so the cost is hashing, not allocation.
func (b *Block) TxIDs(dst []sha256d.Hash) []sha256d.Hash {
	dst = slices.Grow(dst, len(b.Txs))
	var stack [txScratch]byte
	scratch := stack[:0] // grows (and stays grown) only for large transactions
	for i := range b.Txs {
		scratch = b.Txs[i].appendTo(scratch[:0], false)
		dst = append(dst, sha256d.Sum(scratch))
	}
	return dst
}

// MerkleRoot computes the merkle root of the block's txids and reports whether
// the tree is mutated (CVE-2012-2459; see [MerkleRoot]).
func (b *Block) MerkleRoot() (root sha256d.Hash, mutated bool) {
	return MerkleRoot(b.TxIDs(nil))
}

// MerkleRoot computes Bitcoin's merkle root of leaves, using leaves (and nothing
// beyond its length) as scratch space. An odd level pairs its last hash with
// itself; because of that, a list ending in a repeated subtree has the same root
// as the list without the repetition (CVE-2012-2459). mutated reports a level
// where two paired hashes are equal, which is how Bitcoin Core detects such a
// block. The root of no leaves is the zero hash.
func MerkleRoot(leaves []sha256d.Hash) (root sha256d.Hash, mutated bool) {
	if len(leaves) == 0 {
		return root, false
	}
	level := leaves
	for len(level) > 1 {
		for i := 0; i+1 < len(level); i += 2 {
			if level[i] == level[i+1] {
				mutated = true
			}
		}
		half := (len(level) + 1) / 2
		for i := range half {
			right := min(2*i+1, len(level)-1)
			level[i] = sha256d.SumPair(&level[2*i], &level[right])
		}
		level = level[:half]
	}
	return level[0], mutated
}
