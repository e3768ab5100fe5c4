package secpdiff

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/crypto/secp"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/fuzz/realdata"
	"github.com/renga-p2p/renga/wire"
)

func vectorKey(t testing.TB, i int) *secp.PrivateKey {
	t.Helper()
	seed := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("secpdiff vector key"), uint64(i)))
	k, err := secp.ParsePrivateKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSighashVectors signs the legacy signature hash of each of btcd's copy of
// Bitcoin Core's sighash.json vectors (random transactions and scripts under
// every hash type) and checks each signature, and the variants consensus must
// treat alike or must reject, with every verifier.
func TestSighashVectors(t *testing.T) {
	raw, err := os.ReadFile(realdata.File(t, realdata.TxscriptModule, "data", "sighash.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors [][]any
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	vectorsRun, checks := 0, 0
	for i, v := range vectors {
		if len(v) != 5 {
			continue // comments
		}
		txBytes, err1 := hex.DecodeString(v[0].(string))
		script, err2 := hex.DecodeString(v[1].(string))
		if err1 != nil || err2 != nil {
			t.Fatalf("vector %d: bad hex", i)
		}
		var tx wire.Tx
		if err := tx.Decode(bytes.Clone(txBytes)); err != nil {
			t.Fatalf("vector %d: decode: %v", i, err)
		}
		hash := chain.SignatureHash(script, &tx, int(v[2].(float64)), uint32(int32(v[3].(float64))))
		if want := sha256d.MustParseHash(v[4].(string)); hash != want {
			t.Fatalf("vector %d: sighash %s, want %s", i, hash, want)
		}
		key := vectorKey(t, i)
		pub := key.PublicKey()
		comp, unc := pub.Compressed(), pub.Uncompressed()
		der := key.Sign(hash)
		r, s, ok := splitDER(der)
		if !ok {
			t.Fatalf("vector %d: Sign gave non-DER %x", i, der)
		}
		highS := new(big.Int).Sub(orderN, s)
		wrong := hash
		wrong[i%32] ^= 0x80
		cases := []struct {
			what     string
			key, der []byte
			hash     [32]byte
			want     bool
		}{
			{"compressed", comp, der, hash, true},
			{"uncompressed", unc, der, hash, true},
			{"hybrid", hybrid(unc), der, hash, true},
			{"high S", comp, encodeDER(r, highS, derForm{}), hash, true},
			{"high S, hybrid", hybrid(unc), encodeDER(r, highS, derForm{}), hash, true},
			{"lax: padded R, long S, garbage", comp, encodeDER(r, s, derForm{padR: 3, longS: true, tail: []byte{1, 2}}), hash, true},
			{"lax: no sign zero, long sequence", unc, encodeDER(r, s, derForm{noSignZero: true, longSeq: true}), hash, true},
			{"wrong hash", comp, der, wrong, false},
			{"other key", vectorKey(t, i+1).PublicKey().Compressed(), der, hash, false},
			{"R + 1", comp, encodeDER(new(big.Int).Add(r, big.NewInt(1)), s, derForm{}), hash, false},
			{"R + n", comp, encodeDER(new(big.Int).Add(r, orderN), s, derForm{}), hash, false},
			{"S + n", comp, encodeDER(r, new(big.Int).Add(s, orderN), derForm{}), hash, false},
			{"hybrid, wrong parity", append([]byte{hybrid(unc)[0] ^ 1}, unc[1:]...), der, hash, false},
		}
		for _, c := range cases {
			expect(t, "vector "+itoa(i)+": "+c.what, c.key, c.der, c.hash, c.want)
			checks++
		}
		vectorsRun++
	}
	if vectorsRun < 400 {
		t.Fatalf("only %d vectors", vectorsRun)
	}
	t.Logf("%d vectors, %d checks, verifiers %s: no disagreement", vectorsRun, checks, verifierNames())
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

// TestScriptVectorsP2PK runs the pay-to-pubkey cases of btcd's copy of Bitcoin
// Core's script_tests.json that use no script flags — signatures Core's
// authors crafted to sit on the edges (too much or too little R and S padding,
// BIP66's first example, a multi-byte hash type, high S, a hybrid key, an
// undefined hash type) — and demands Core's verdict (OK or EVAL_FALSE) from
// every verifier, on the sighash of the spending transaction the vectors
// define.
func TestScriptVectorsP2PK(t *testing.T) {
	raw, err := os.ReadFile(realdata.File(t, realdata.TxscriptModule, "data", "script_tests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors [][]any
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	run := 0
	names := map[string]bool{}
	for i, v := range vectors {
		if len(v) < 4 {
			continue
		}
		sigAsm, ok1 := v[0].(string)
		pkAsm, ok2 := v[1].(string)
		flags, ok3 := v[2].(string)
		result, ok4 := v[3].(string)
		if !ok1 || !ok2 || !ok3 || !ok4 || flags != "" || (result != "OK" && result != "EVAL_FALSE") {
			continue // witness vectors start with an amount; flagged ones test script rules
		}
		sig, okSig := singlePush(sigAsm)
		pkScript, okPK := checksigScript(pkAsm)
		if !okSig || !okPK || len(sig) == 0 {
			continue
		}
		class, pub := chain.Classify(pkScript)
		if class != chain.PayToPubKey {
			continue
		}
		spend := spendingTx(pkScript, chain.PushData(sig))
		hash := chain.SignatureHash(pkScript, spend, 0, uint32(sig[len(sig)-1]))
		name := "script_tests " + itoa(i)
		if len(v) > 4 {
			name += " (" + v[4].(string) + ")"
		}
		expect(t, name, pub, sig[:len(sig)-1], hash, result == "OK")
		names[name] = true
		run++
	}
	// The vectors this test exists for must be among those run.
	for _, want := range []string{"hybrid pubkey but no STRICTENC", "high S but no LOW_S", "too much R padding but no DERSIG", "BIP66 example 1, without DERSIG"} {
		found := false
		for n := range names {
			found = found || strings.Contains(n, want)
		}
		if !found {
			t.Errorf("no vector %q was run", want)
		}
	}
	if run < 10 {
		t.Fatalf("only %d P2PK vectors", run)
	}
	t.Logf("%d P2PK vectors, verifiers %s: all as Core decides", run, verifierNames())
}

// singlePush reads script_tests' notation for a scriptSig of one push:
// "0xNN 0x<data>" with NN the push opcode (1..75) and the data that long.
func singlePush(asm string) ([]byte, bool) {
	f := strings.Fields(asm)
	if len(f) != 2 {
		return nil, false
	}
	op, err1 := hexToken(f[0])
	data, err2 := hexToken(f[1])
	if err1 != nil || err2 != nil || len(op) != 1 || op[0] < 1 || op[0] > 75 || int(op[0]) != len(data) {
		return nil, false
	}
	return data, true
}

// checksigScript reads "0xNN 0x<key> CHECKSIG" as script bytes.
func checksigScript(asm string) ([]byte, bool) {
	f := strings.Fields(asm)
	if len(f) != 3 || f[2] != "CHECKSIG" {
		return nil, false
	}
	op, err1 := hexToken(f[0])
	key, err2 := hexToken(f[1])
	if err1 != nil || err2 != nil || len(op) != 1 || int(op[0]) != len(key) {
		return nil, false
	}
	return append(append(op, key...), chain.OpCheckSig), true
}

func hexToken(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "0x") {
		return nil, hex.InvalidByteError(s[0])
	}
	return hex.DecodeString(s[2:])
}

// spendingTx is the pair of transactions script_tests.json's vectors are
// evaluated in (Core's BuildCreditingTransaction and BuildSpendingTransaction):
// a credit with one null-prevout input (scriptSig OP_0 OP_0) paying 0 to
// pkScript, and a spend of its output 0 with scriptSig, paying 0 to an empty
// script; versions 1, lock times 0, sequences final.
func spendingTx(pkScript, scriptSig []byte) *wire.Tx {
	credit := wire.Tx{
		Version: 1,
		Inputs:  []wire.TxIn{{PrevOut: wire.OutPoint{Index: 0xffffffff}, ScriptSig: []byte{chain.Op0, chain.Op0}, Sequence: 0xffffffff}},
		Outputs: []wire.TxOut{{Value: 0, ScriptPubKey: pkScript}},
	}
	return &wire.Tx{
		Version: 1,
		Inputs:  []wire.TxIn{{PrevOut: wire.OutPoint{Hash: credit.TxID(), Index: 0}, ScriptSig: scriptSig, Sequence: 0xffffffff}},
		Outputs: []wire.TxOut{{Value: 0, ScriptPubKey: []byte{}}},
	}
}
