package secpdiff

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"os"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/fuzz/realdata"
	"github.com/renga-p2p/renga/wire"
)

// TestMainnetSignatures walks mainnet blocks 0–14131 (btcd's
// blockchain/testdata file), computes the legacy sighash of every input that
// spends a coin with package chain's SignatureHash, and checks its signature
// with every verifier: all must pass, and its high-S twin must pass and the
// signature under a changed hash must fail, identically everywhere. chain's
// own VerifyInput must agree. The file has 865 such inputs (P2PK, and a few
// P2PKH).
func TestMainnetSignatures(t *testing.T) {
	path, err := realdata.MainnetBlocksFile()
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	coins := map[wire.OutPoint][]byte{} // unspent outputs' scripts
	blocks, signed := 0, 0
	classes := map[chain.ScriptClass]int{}
	keySizes := map[int]int{}
	for off := 0; off+8 <= len(file) && binary.LittleEndian.Uint32(file[off:]) != 0; blocks++ {
		size := int(binary.LittleEndian.Uint32(file[off+4:]))
		var b wire.Block
		if err := b.Decode(bytes.Clone(file[off+8 : off+8+size])); err != nil {
			t.Fatalf("block %d: %v", blocks, err)
		}
		off += 8 + size
		for ti := range b.Txs {
			tx := &b.Txs[ti]
			if ti > 0 {
				for idx, in := range tx.Inputs {
					prev, ok := coins[in.PrevOut]
					if !ok {
						t.Fatalf("block %d tx %s input %d: spends an unknown coin", blocks, tx.TxID(), idx)
					}
					delete(coins, in.PrevOut)
					class, keySize := checkInput(t, tx, idx, prev)
					classes[class]++
					keySizes[keySize]++
					signed++
				}
			}
			id := tx.TxID()
			for k, out := range tx.Outputs {
				coins[wire.OutPoint{Hash: id, Index: uint32(k)}] = out.ScriptPubKey
			}
		}
	}
	if blocks != 14132 || signed != 865 {
		t.Fatalf("walked %d blocks and %d signed inputs, want 14132 and 865", blocks, signed)
	}
	t.Logf("%d blocks, %d signatures (coins %v, key sizes %v), verifiers %s: every one verifies, no disagreement",
		blocks, signed, classes, keySizes, verifierNames())
}

// checkInput checks one input's signature; it returns the class of the coin
// and the size of the key.
func checkInput(t *testing.T, tx *wire.Tx, idx int, prevScript []byte) (chain.ScriptClass, int) {
	t.Helper()
	where := "tx " + tx.TxID().String() + " input " + itoa(idx)
	pushes, ok := directPushes(tx.Inputs[idx].ScriptSig)
	class, keyOrHash := chain.Classify(prevScript)
	var sig, key []byte
	switch {
	case !ok:
		t.Fatalf("%s: scriptSig %x is not pushes", where, tx.Inputs[idx].ScriptSig)
	case class == chain.PayToPubKey && len(pushes) == 1:
		sig, key = pushes[0], keyOrHash
	case class == chain.PayToPubKeyHash && len(pushes) == 2:
		sig, key = pushes[0], pushes[1]
	default:
		t.Fatalf("%s: %v coin with %d pushes", where, class, len(pushes))
	}
	if len(sig) == 0 {
		t.Fatalf("%s: empty signature", where)
	}
	// The signature is not in the coin's script, so OP_CHECKSIG's
	// FindAndDelete leaves the script code as it is.
	hash := chain.SignatureHash(prevScript, tx, idx, uint32(sig[len(sig)-1]))
	der := sig[:len(sig)-1]
	expect(t, where, key, der, hash, true)
	if r, s, ok := splitDER(der); ok {
		expect(t, where+" (high-S twin)", key, encodeDER(r, new(big.Int).Sub(orderN, s), derForm{}), hash, true)
	} else {
		t.Logf("%s: signature %x is not strict DER", where, der)
	}
	wrong := hash
	wrong[0] ^= 1
	expect(t, where+" (changed hash)", key, der, wrong, false)
	if err := chain.VerifyInput(tx, idx, prevScript, 0); err != nil {
		t.Fatalf("%s: chain.VerifyInput: %v", where, err)
	}
	return class, len(key)
}

// directPushes splits a script made only of direct pushes (opcodes 1–75).
func directPushes(script []byte) ([][]byte, bool) {
	var out [][]byte
	for len(script) > 0 {
		n := int(script[0])
		if n < 1 || n > 75 || 1+n > len(script) {
			return nil, false
		}
		out = append(out, script[1:1+n])
		script = script[1+n:]
	}
	return out, true
}
