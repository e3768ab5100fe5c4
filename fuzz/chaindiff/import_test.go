package chaindiff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	btcchaincfg "github.com/btcsuite/btcd/chaincfg/v2"
	btcwire "github.com/btcsuite/btcd/wire/v2"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/fuzz/realdata"
	"github.com/renga-p2p/renga/wire"
)

// The real mainnet block file in btcd's Go module.
func mainnetBlocks(t testing.TB) []byte {
	b, err := os.ReadFile(realdata.File(t, realdata.BtcdModule, "blockchain", "testdata", "blk_0_to_14131.dat"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tip14131 is the hash of mainnet block 14,131. The test also derives it
// independently: btcd's checkpoint at 11,111 pins the chain, and btcd's
// decoder hashes the file's last header.
const tip14131 = "00000000b3e750f37fdb42e1018799a9f44b546d393b130b369590a072430a1c"

// replay computes the UTXO set of a block file with btcd's decoder and no
// validation: an independent account of what the set must be.
func replay(t *testing.T, file []byte) (coins int, total int64, signedInputs int, last sha256d.Hash) {
	utxo := map[btcwire.OutPoint]int64{}
	for off := 0; off+8 <= len(file) && !bytes.Equal(file[off:off+4], []byte{0, 0, 0, 0}); {
		size := int(binary.LittleEndian.Uint32(file[off+4:]))
		var b btcwire.MsgBlock
		if err := b.Deserialize(bytes.NewReader(file[off+8 : off+8+size])); err != nil {
			t.Fatal(err)
		}
		off += 8 + size
		last = sha256d.Hash(b.BlockHash())
		if last == chain.Mainnet.GenesisHash {
			continue // the genesis output is not spendable
		}
		for i, tx := range b.Transactions {
			if i > 0 {
				for _, in := range tx.TxIn {
					if _, ok := utxo[in.PreviousOutPoint]; !ok {
						t.Fatalf("replay: %v spends a missing output", in.PreviousOutPoint)
					}
					delete(utxo, in.PreviousOutPoint)
					signedInputs++
				}
			}
			for k, out := range tx.TxOut {
				utxo[btcwire.OutPoint{Hash: tx.TxHash(), Index: uint32(k)}] = out.Value
			}
		}
	}
	for _, v := range utxo {
		total += v
	}
	return len(utxo), total, signedInputs, last
}

// TestImportMainnet0To14131 imports the first 14,132 real mainnet blocks with
// full validation (every script and signature) into a fresh store and checks
// the tip, the checkpoint on the way and the UTXO set.
func TestImportMainnet0To14131(t *testing.T) {
	file := mainnetBlocks(t)
	c, err := chain.Open(t.TempDir(), chain.Mainnet, chain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	st, err := c.Import(t.Context(), bytes.NewReader(file), "blk_0_to_14131.dat", nil)
	if err != nil {
		t.Fatal(err)
	}
	tip := c.Tip()
	t.Logf("imported %d blocks (%d already known) in %v; tip %d %s", st.Blocks, st.Skipped, st.Elapsed, tip.Height, tip.Hash)

	wantCoins, wantTotal, signed, last := replay(t, file)
	if tip.Height != 14131 || tip.Hash.String() != tip14131 || tip.Hash != last {
		t.Fatalf("tip %d %s; want 14131 %s (btcd's decoder says %s)", tip.Height, tip.Hash, tip14131, last)
	}
	for _, cp := range btcchaincfg.MainNetParams.Checkpoints {
		if cp.Height <= 14131 {
			if n := c.NodeAt(cp.Height); n == nil || n.Hash != sha256d.Hash(*cp.Hash) {
				t.Fatalf("checkpoint %d: have %v, btcd's checkpoint is %s", cp.Height, n, cp.Hash)
			}
			t.Logf("checkpoint %d matches btcd's: %s", cp.Height, cp.Hash)
		}
	}
	if signed != 865 {
		t.Fatalf("the file has %d signed inputs, want 865", signed)
	}
	digest, count, total := chaintest.UTXODigest(t, c)
	if count != wantCoins || total != wantTotal {
		t.Fatalf("UTXO set: %d coins, %d satoshis; btcd replay: %d coins, %d satoshis", count, total, wantCoins, wantTotal)
	}
	t.Logf("UTXO set: %d coins, %d satoshis, digest %s; %d signed inputs verified", count, total, digest, signed)
}

// TestImportStopsAtBadData tampers with a signature in the first block that
// spends anything (height 170): the import stops there naming the file, the
// offset and the rule (the transactions no longer match the merkle root),
// keeps every block before it, and importing the good file afterwards
// finishes the job.
func TestImportStopsAtBadData(t *testing.T) {
	good := mainnetBlocks(t)
	file := bytes.Clone(good)
	off, height := 0, int32(0)
	for ; ; height++ {
		size := int(binary.LittleEndian.Uint32(file[off+4:]))
		var b wire.Block
		if err := b.Decode(bytes.Clone(file[off+8 : off+8+size])); err != nil {
			t.Fatal(err)
		}
		if len(b.Txs) > 1 {
			sig := bytes.Index(file[off+8:off+8+size], b.Txs[1].Inputs[0].ScriptSig)
			file[off+8+sig+10] ^= 0x01
			break
		}
		off += 8 + size
	}
	c, err := chain.Open(t.TempDir(), chain.Mainnet, chain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	_, err = c.Import(t.Context(), bytes.NewReader(file), "tampered.dat", nil)
	if !errors.Is(err, chain.ErrInvalidBlock) || chain.RuleOf(err) != chain.RuleBadMerkle {
		t.Fatalf("error = %v, want bad-txnmrklroot", err)
	}
	for _, want := range []string{"tampered.dat", "offset " + strconv.Itoa(off), string(chain.RuleBadMerkle)} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	}
	if tip := c.Tip(); tip.Height != height-1 {
		t.Fatalf("tip %d, want %d (everything before the bad block)", tip.Height, height-1)
	}
	t.Logf("stopped at height %d: %v", height, err)
	// The header was not condemned: the genuine block is accepted afterwards.
	if _, err := c.Import(t.Context(), bytes.NewReader(good), "blk_0_to_14131.dat", nil); err != nil {
		t.Fatal(err)
	}
	if tip := c.Tip(); tip.Hash.String() != tip14131 {
		t.Fatalf("after re-import: tip %d %s", tip.Height, tip.Hash)
	}
}
