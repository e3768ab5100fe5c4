package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Signature hash types (the byte after a signature in a script).
const (
	SigHashAll          = 0x01
	SigHashNone         = 0x02
	SigHashSingle       = 0x03
	SigHashAnyoneCanPay = 0x80
)

// sigHashOne is what the legacy algorithm returns when there is nothing to
// sign: an input index past the inputs, or SIGHASH_SINGLE without a matching
// output. Bitcoin signs the number 1 then (a bug kept for consensus).
var sigHashOne = sha256d.Hash{1}

// SignatureHash is Bitcoin's legacy (pre-segwit) signature hash of input idx of
// tx, signing with scriptCode under hashType: a modified copy of the
// transaction is serialized (the signed input carries scriptCode without its
// OP_CODESEPARATORs, the others empty scripts; outputs and sequences as the
// type says), followed by hashType as 4 bytes, and hashed with SHA-256d.
func SignatureHash(scriptCode []byte, tx *wire.Tx, idx int, hashType uint32) sha256d.Hash {
	if idx < 0 || idx >= len(tx.Inputs) {
		return sigHashOne
	}
	base := hashType & 0x1f
	anyoneCanPay := hashType&SigHashAnyoneCanPay != 0
	if base == SigHashSingle && idx >= len(tx.Outputs) {
		return sigHashOne
	}

	h := sha256.New()
	var buf [9]byte
	u32 := func(v uint32) { binary.LittleEndian.PutUint32(buf[:4], v); h.Write(buf[:4]) }
	varint := func(v uint64) { h.Write(wire.AppendVarint(buf[:0], v)) }

	u32(tx.Version)
	inputs := tx.Inputs
	if anyoneCanPay {
		inputs = tx.Inputs[idx : idx+1]
		varint(1)
	} else {
		varint(uint64(len(inputs)))
	}
	for i := range inputs {
		in := &inputs[i]
		signing := anyoneCanPay || i == idx
		h.Write(in.PrevOut.Hash[:])
		u32(in.PrevOut.Index)
		if signing {
			writeScriptCode(h, scriptCode)
		} else {
			varint(0)
		}
		if !signing && (base == SigHashNone || base == SigHashSingle) {
			u32(0) // others may replace their inputs
		} else {
			u32(in.Sequence)
		}
	}
	switch base {
	case SigHashNone:
		varint(0)
	case SigHashSingle:
		varint(uint64(idx + 1))
		for range idx { // outputs before ours: blank, value -1
			h.Write([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0})
		}
		writeOutput(h, &tx.Outputs[idx])
	default:
		varint(uint64(len(tx.Outputs)))
		for i := range tx.Outputs {
			writeOutput(h, &tx.Outputs[i])
		}
	}
	u32(tx.LockTime)
	u32(hashType)
	first := h.Sum(nil)
	return sha256d.Hash(sha256.Sum256(first))
}

func writeOutput(h hash.Hash, out *wire.TxOut) {
	var v [8]byte
	binary.LittleEndian.PutUint64(v[:], uint64(out.Value))
	h.Write(v[:])
	h.Write(wire.AppendVarBytes(nil, out.ScriptPubKey))
}

// writeScriptCode writes scriptCode with every OP_CODESEPARATOR removed (and a
// length prefix that accounts for them); an unparsable tail is written as is.
func writeScriptCode(h hash.Hash, script []byte) {
	seps := 0
	for pc := 0; pc < len(script); {
		op, next, ok := nextOp(script, pc)
		if !ok {
			break
		}
		if op.op == OpCodeSep {
			seps++
		}
		pc = next
	}
	h.Write(wire.AppendVarint(nil, uint64(len(script)-seps)))
	start := 0
	for pc := 0; pc < len(script); {
		op, next, ok := nextOp(script, pc)
		if !ok {
			break
		}
		if op.op == OpCodeSep {
			h.Write(script[start:pc])
			start = next
		}
		pc = next
	}
	h.Write(script[start:])
}
