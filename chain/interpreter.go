package chain

import (
	"bytes"
	"fmt"

	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/crypto/secp"
	"github.com/renga-p2p/renga/wire"
)

// ScriptFlags select the script rules to enforce. Consensus turns on
// VerifyDERSig from the BIP66 height; the others are relay policy (the mempool
// uses StandardScriptFlags).
type ScriptFlags uint32

const (
	// VerifyDERSig: signatures must be strict DER (BIP66). Consensus.
	VerifyDERSig ScriptFlags = 1 << iota
	// VerifyLowS: S must be in the lower half of the order (BIP62). Policy.
	VerifyLowS
	// VerifyStrictEnc: public keys compressed or uncompressed (not hybrid),
	// sighash types defined. Policy.
	VerifyStrictEnc
	// VerifyNullFail: a failing signature must be empty (BIP146). Policy.
	VerifyNullFail
	// VerifyCleanStack: exactly one item left at the end. Policy.
	VerifyCleanStack
	// VerifyMinimalData: pushes use their shortest opcode. Policy.
	VerifyMinimalData
)

// StandardScriptFlags are the rules the mempool applies to relayed transactions.
const StandardScriptFlags = VerifyDERSig | VerifyLowS | VerifyStrictEnc | VerifyNullFail | VerifyCleanStack | VerifyMinimalData

// VerifyInput checks that input idx of tx may spend an output locked by
// scriptPubKey. Renga spends two templates only (design.md §1): P2PK and
// P2PKH, whose scriptSig must be push-only; anything else is
// RuleUnsupported. Within them it behaves as Bitcoin's interpreter: the
// scriptSig's pushes (any push opcodes, extra items allowed) form the stack,
// then the template runs on it, with Bitcoin's element and stack limits and
// its CHECKSIG (FindAndDelete of the signature, the legacy signature hash,
// lax DER unless VerifyDERSig). Failures wrap ErrInvalidTx with RuleScript.
func VerifyInput(tx *wire.Tx, idx int, scriptPubKey []byte, flags ScriptFlags) error {
	return VerifyInputCached(tx, idx, scriptPubKey, flags, nil)
}

// VerifyInputCached is VerifyInput with its signature check answered by
// cache when the same signature verified before, and remembered there when
// it verifies (a nil cache is VerifyInput). The block validation of a Chain
// and its mempool share the chain's cache ([Chain.SigCache]).
func VerifyInputCached(tx *wire.Tx, idx int, scriptPubKey []byte, flags ScriptFlags, cache *SigCache) error {
	return verifyInput(tx, idx, scriptPubKey, flags, sigChecker{cache: cache, store: true})
}

// sigChecker verifies signatures through a cache: consulted always, and
// given what verified when store is set. Block validation does not store
// (as Bitcoin Core's): a block's signatures are not seen again, and storing
// them would only push out the mempool's, which its blocks will need.
type sigChecker struct {
	cache *SigCache
	store bool
}

func (s sigChecker) verify(pubKey, der []byte, hash [32]byte) bool {
	if s.cache == nil {
		return secp.Verify(pubKey, der, hash)
	}
	return s.cache.verify(pubKey, der, hash, s.store)
}

func verifyInput(tx *wire.Tx, idx int, scriptPubKey []byte, flags ScriptFlags, sigs sigChecker) error {
	class, key := Classify(scriptPubKey)
	if class != PayToPubKey && class != PayToPubKeyHash {
		return txErr(RuleUnsupported, "input %d spends a %s output", idx, class)
	}
	scriptSig := tx.Inputs[idx].ScriptSig
	fail := func(format string, args ...any) error {
		return txErr(RuleScript, "input %d: %s", idx, fmt.Sprintf(format, args...))
	}
	if len(scriptSig) > MaxScriptSize {
		return fail("scriptSig of %d bytes", len(scriptSig))
	}

	// The scriptSig: pushes only.
	var stack [][]byte
	for pc := 0; pc < len(scriptSig); {
		op, next, ok := nextOp(scriptSig, pc)
		if !ok {
			return fail("scriptSig: push past the end")
		}
		var item []byte
		switch {
		case op.op <= OpPushData4:
			if len(op.data) > MaxScriptElementSize {
				return fail("push of %d bytes", len(op.data))
			}
			if flags&VerifyMinimalData != 0 && !minimalPush(op) {
				return fail("non-minimal push")
			}
			item = op.data
		case op.op == Op1Negate:
			item = []byte{0x81}
		case op.op >= Op1 && op.op <= Op16:
			item = []byte{op.op - Op1 + 1}
		default:
			return txErr(RuleUnsupported, "input %d: scriptSig is not push-only (opcode %#02x)", idx, op.op)
		}
		stack = append(stack, item)
		if len(stack) > MaxStackSize {
			return fail("stack over %d items", MaxStackSize)
		}
		pc = next
	}

	// The template.
	switch class {
	case PayToPubKeyHash:
		// OP_DUP OP_HASH160 <hash> OP_EQUALVERIFY: the top item must be the key.
		if len(stack) < 1 {
			return fail("OP_DUP on an empty stack")
		}
		// DUP and the hash push each add an item before EQUALVERIFY takes two.
		if len(stack)+2 > MaxStackSize {
			return fail("stack over %d items", MaxStackSize)
		}
		top := stack[len(stack)-1]
		if h := address.Hash160(top); !bytes.Equal(h[:], key) {
			return fail("OP_EQUALVERIFY: public key does not hash to %x", key)
		}
	case PayToPubKey:
		stack = append(stack, key)
		if len(stack) > MaxStackSize {
			return fail("stack over %d items", MaxStackSize)
		}
	}
	// OP_CHECKSIG
	if len(stack) < 2 {
		return fail("OP_CHECKSIG needs two items, has %d", len(stack))
	}
	pubKey, sig := stack[len(stack)-1], stack[len(stack)-2]
	stack = stack[:len(stack)-2]
	ok, err := checkSig(tx, idx, sig, pubKey, scriptPubKey, flags, sigs)
	if err != nil {
		return fail("%v", err)
	}
	if !ok {
		return fail("signature does not verify")
	}
	// The result, true, is on top; with CLEANSTACK it must be alone.
	if flags&VerifyCleanStack != 0 && len(stack) != 0 {
		return fail("%d extra items on the stack", len(stack))
	}
	return nil
}

// checkSig is OP_CHECKSIG for legacy scripts. An encoding the flags forbid is
// an error (the script fails); a signature that simply does not verify is
// false (and an error only under NULLFAIL when it is not empty).
func checkSig(tx *wire.Tx, idx int, sig, pubKey, scriptCode []byte, flags ScriptFlags, sigs sigChecker) (bool, error) {
	code := findAndDelete(scriptCode, sig)
	if len(sig) > 0 {
		if flags&(VerifyDERSig|VerifyLowS|VerifyStrictEnc) != 0 && !secp.IsStrictDER(sig) {
			return false, fmt.Errorf("signature is not strict DER")
		}
		if flags&VerifyLowS != 0 && !secp.IsLowS(sig[:len(sig)-1]) {
			return false, fmt.Errorf("signature has a high S")
		}
		if flags&VerifyStrictEnc != 0 {
			if t := sig[len(sig)-1] &^ SigHashAnyoneCanPay; t < SigHashAll || t > SigHashSingle {
				return false, fmt.Errorf("undefined sighash type %#02x", sig[len(sig)-1])
			}
		}
	}
	if flags&VerifyStrictEnc != 0 && !compressedOrUncompressed(pubKey) {
		return false, fmt.Errorf("public key is neither compressed nor uncompressed")
	}
	if len(sig) == 0 {
		return false, nil
	}
	hash := SignatureHash(code, tx, idx, uint32(sig[len(sig)-1]))
	ok := sigs.verify(pubKey, sig[:len(sig)-1], hash)
	if !ok && flags&VerifyNullFail != 0 {
		return false, fmt.Errorf("failing signature is not empty (NULLFAIL)")
	}
	return ok, nil
}

func compressedOrUncompressed(k []byte) bool {
	switch {
	case len(k) == 33:
		return k[0] == 2 || k[0] == 3
	case len(k) == 65:
		return k[0] == 4
	}
	return false
}

// minimalPush is Core's CheckMinimalPush.
func minimalPush(op scriptOp) bool {
	d := op.data
	switch {
	case len(d) == 0:
		return op.op == Op0
	case len(d) == 1 && d[0] >= 1 && d[0] <= 16:
		return false // should have been OP_1..OP_16
	case len(d) == 1 && d[0] == 0x81:
		return false // should have been OP_1NEGATE
	case len(d) < OpPushData1:
		return int(op.op) == len(d)
	case len(d) <= 0xff:
		return op.op == OpPushData1
	case len(d) <= 0xffff:
		return op.op == OpPushData2
	}
	return true
}
