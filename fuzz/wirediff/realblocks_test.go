package wirediff

import (
	"bytes"
	"testing"

	btcwire "github.com/btcsuite/btcd/wire/v2"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/fuzz/realdata"
	"github.com/renga-p2p/renga/wire"
)

// witnessCommitment finds the BIP141 commitment in a coinbase: the last output
// whose script is OP_RETURN, a 36-byte push, aa21a9ed and 32 bytes.
func witnessCommitment(cb *wire.Tx) (sha256d.Hash, bool) {
	prefix := []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}
	for i := len(cb.Outputs) - 1; i >= 0; i-- {
		s := cb.Outputs[i].ScriptPubKey
		if len(s) >= 38 && bytes.HasPrefix(s, prefix) {
			return sha256d.Hash(s[6:38]), true
		}
	}
	return sha256d.Hash{}, false
}

// bip34Height reads the block height pushed at the start of a coinbase script.
func bip34Height(script []byte) int64 {
	n := int(script[0])
	var h int64
	for i := n; i >= 1; i-- {
		h = h<<8 | int64(script[i])
	}
	return h
}

func TestRealBlocks(t *testing.T) {
	tests := []struct {
		hash   string
		height int64
		txs    int
	}{
		{realdata.Block574200, 574200, 3315},
		{realdata.Block540107, 540107, 0},
	}
	for _, tt := range tests {
		t.Run(tt.hash, func(t *testing.T) {
			raw := realdata.Block(t, tt.hash)
			var b wire.Block
			if err := b.Decode(bytes.Clone(raw)); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			again, _ := b.AppendBinary(nil)
			if !bytes.Equal(again, raw) {
				t.Fatal("re-encoding differs from the real block")
			}
			if got := b.Hash().String(); got != tt.hash {
				t.Fatalf("block hash %s", got)
			}
			if tt.txs != 0 && len(b.Txs) != tt.txs {
				t.Fatalf("%d transactions, want %d", len(b.Txs), tt.txs)
			}
			if h := bip34Height(b.Txs[0].Inputs[0].ScriptSig); h != tt.height {
				t.Fatalf("BIP34 height %d, want %d", h, tt.height)
			}
			// The merkle root over Renga's txids is the one the header commits to,
			// so every txid is right.
			root, mutated := b.MerkleRoot()
			if root != b.Header.MerkleRoot || mutated {
				t.Fatalf("merkle root %s (mutated %v), header says %s", root, mutated, b.Header.MerkleRoot)
			}
			// The witness commitment over Renga's wtxids is the one the coinbase
			// carries, so every wtxid is right.
			wtxids := make([]sha256d.Hash, len(b.Txs))
			for i := 1; i < len(b.Txs); i++ {
				wtxids[i] = b.Txs[i].WTxID()
			}
			witnessRoot, _ := wire.MerkleRoot(wtxids)
			reserved := b.Txs[0].Inputs[0].Witness.Item(0)
			want, ok := witnessCommitment(&b.Txs[0])
			if !ok {
				t.Fatal("no witness commitment in the coinbase")
			}
			if got := sha256d.Sum(append(witnessRoot[:], reserved...)); got != want {
				t.Fatalf("witness commitment %s, coinbase says %s", got, want)
			}
			// And transaction by transaction, btcd computes the same ids and
			// the same serialized sizes.
			var theirs btcwire.MsgBlock
			if err := theirs.Deserialize(bytes.NewReader(raw)); err != nil {
				t.Fatal(err)
			}
			witnessTxs := 0
			for i := range b.Txs {
				tx, their := &b.Txs[i], theirs.Transactions[i]
				if tx.TxID() != sha256d.Hash(their.TxHash()) || tx.WTxID() != sha256d.Hash(their.WitnessHash()) {
					t.Fatalf("tx %d: ids differ from btcd's", i)
				}
				if tx.SerializeSize() != their.SerializeSize() || tx.BaseSize() != their.SerializeSizeStripped() {
					t.Fatalf("tx %d: sizes differ from btcd's", i)
				}
				if tx.HasWitness() {
					witnessTxs++
				}
			}
			if witnessTxs == 0 {
				t.Fatal("expected segwit transactions in this block")
			}
			t.Logf("%d transactions, %d with witness, %d bytes", len(b.Txs), witnessTxs, len(raw))
		})
	}
}

// TestRealBlockPrefixes checks that strict prefixes of a real block are refused.
func TestRealBlockPrefixes(t *testing.T) {
	raw := realdata.Block(t, realdata.Block574200)
	// Every prefix would take minutes; cut at every transaction boundary, in
	// the middle and at the end of each transaction, and byte by byte through
	// the first ten.
	var b wire.Block
	if err := b.Decode(bytes.Clone(raw)); err != nil {
		t.Fatal(err)
	}
	cuts := []int{0, 1, 79, 80, 81, 82}
	off := 83 // 80-byte header + 3-byte count (3,315 transactions)
	for i := range b.Txs {
		size := b.Txs[i].SerializeSize()
		if i < 10 {
			for c := off; c < off+size; c++ {
				cuts = append(cuts, c)
			}
		} else {
			cuts = append(cuts, off, off+size/2, off+size-1)
		}
		off += size
	}
	if off != len(raw) {
		t.Fatalf("sizes add up to %d, block is %d", off, len(raw))
	}
	for _, n := range cuts {
		if err := new(wire.Block).Decode(bytes.Clone(raw[:n])); err == nil {
			t.Fatalf("prefix of %d bytes accepted", n)
		}
	}
}
