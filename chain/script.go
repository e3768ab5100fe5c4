package chain

import (
	"bytes"
	"encoding/binary"
)

// Opcodes Renga's scripts use or count.
const (
	Op0            = 0x00
	OpPushData1    = 0x4c
	OpPushData2    = 0x4d
	OpPushData4    = 0x4e
	Op1Negate      = 0x4f
	OpReserved     = 0x50
	Op1            = 0x51
	Op16           = 0x60
	OpReturn       = 0x6a
	OpDup          = 0x76
	OpEqual        = 0x87
	OpEqualVerify  = 0x88
	OpHash160      = 0xa9
	OpCodeSep      = 0xab
	OpCheckSig     = 0xac
	OpCheckSigVfy  = 0xad
	OpCheckMulti   = 0xae
	OpCheckMultiVy = 0xaf
)

// Script limits (Bitcoin's).
const (
	MaxScriptSize        = 10_000
	MaxScriptElementSize = 520
	MaxStackSize         = 1000
)

// scriptOp is one parsed operation: the opcode and, for pushes, the data.
type scriptOp struct {
	op   byte
	data []byte
}

// nextOp parses the operation at script[pc:] (Core's GetOp). ok is false when a
// push runs past the end of the script.
func nextOp(script []byte, pc int) (op scriptOp, next int, ok bool) {
	if pc >= len(script) {
		return op, pc, false
	}
	op.op = script[pc]
	pc++
	var n int
	switch {
	case op.op < OpPushData1:
		n = int(op.op)
	case op.op == OpPushData1:
		if pc+1 > len(script) {
			return op, pc, false
		}
		n = int(script[pc])
		pc++
	case op.op == OpPushData2:
		if pc+2 > len(script) {
			return op, pc, false
		}
		n = int(binary.LittleEndian.Uint16(script[pc:]))
		pc += 2
	case op.op == OpPushData4:
		if pc+4 > len(script) {
			return op, pc, false
		}
		n = int(binary.LittleEndian.Uint32(script[pc:]))
		pc += 4
	default:
		return op, pc, true
	}
	if n < 0 || n > len(script)-pc {
		return op, pc, false
	}
	op.data = script[pc : pc+n]
	return op, pc + n, true
}

// isPush reports whether an opcode only pushes data (OP_RESERVED counts as a
// push here, as in Core's IsPushOnly, though executing it fails).
func isPush(op byte) bool { return op <= Op16 }

// LegacySigOps counts signature operations the way Bitcoin's block limit does
// (GetSigOpCount with fAccurate=false): one per CHECKSIG, twenty per
// CHECKMULTISIG, stopping at the first unparsable operation.
func LegacySigOps(script []byte) int {
	n := 0
	for pc := 0; pc < len(script); {
		op, next, ok := nextOp(script, pc)
		if !ok {
			break
		}
		switch op.op {
		case OpCheckSig, OpCheckSigVfy:
			n++
		case OpCheckMulti, OpCheckMultiVy:
			n += 20
		}
		pc = next
	}
	return n
}

// ScriptClass names the output templates Renga can spend.
type ScriptClass int

const (
	// NonStandard: anything else. Such outputs may be created but not spent.
	NonStandard ScriptClass = iota
	// PayToPubKey: <33- or 65-byte public key> OP_CHECKSIG.
	PayToPubKey
	// PayToPubKeyHash: OP_DUP OP_HASH160 <20-byte hash> OP_EQUALVERIFY OP_CHECKSIG.
	PayToPubKeyHash
	// NullData: OP_RETURN followed by pushes (provably unspendable, standard).
	NullData
)

func (c ScriptClass) String() string {
	return [...]string{"nonstandard", "pubkey", "pubkeyhash", "nulldata"}[c]
}

// Classify returns the template of an output script and, for P2PK and P2PKH,
// the public key or its hash. The templates are Bitcoin Core's: the key push
// uses the one-byte push opcode and the key has a valid prefix for its size.
func Classify(script []byte) (ScriptClass, []byte) {
	switch {
	case len(script) == 25 && script[0] == OpDup && script[1] == OpHash160 && script[2] == 20 &&
		script[23] == OpEqualVerify && script[24] == OpCheckSig:
		return PayToPubKeyHash, script[3:23]
	case len(script) == 35 && script[0] == 33 && script[34] == OpCheckSig && (script[1] == 2 || script[1] == 3):
		return PayToPubKey, script[1:34]
	case len(script) == 67 && script[0] == 65 && script[66] == OpCheckSig && (script[1] == 4 || script[1] == 6 || script[1] == 7):
		return PayToPubKey, script[1:66]
	case len(script) >= 1 && script[0] == OpReturn && len(script) <= 83 && pushOnly(script[1:]):
		return NullData, nil
	}
	return NonStandard, nil
}

// pushOnly reports whether a script parses and contains only pushes.
func pushOnly(script []byte) bool {
	for pc := 0; pc < len(script); {
		op, next, ok := nextOp(script, pc)
		if !ok || !isPush(op.op) {
			return false
		}
		pc = next
	}
	return true
}

// PayToPubKeyHashScript returns OP_DUP OP_HASH160 <hash> OP_EQUALVERIFY OP_CHECKSIG.
func PayToPubKeyHashScript(hash [20]byte) []byte {
	s := make([]byte, 0, 25)
	s = append(s, OpDup, OpHash160, 20)
	s = append(s, hash[:]...)
	return append(s, OpEqualVerify, OpCheckSig)
}

// PayToPubKeyScript returns <pubkey> OP_CHECKSIG.
func PayToPubKeyScript(pubKey []byte) []byte {
	return append(append([]byte{byte(len(pubKey))}, pubKey...), OpCheckSig)
}

// PushData returns the shortest push of data (as Core's CScript << vector).
func PushData(data []byte) []byte {
	n := len(data)
	var s []byte
	switch {
	case n < OpPushData1:
		s = []byte{byte(n)}
	case n <= 0xff:
		s = []byte{OpPushData1, byte(n)}
	case n <= 0xffff:
		s = binary.LittleEndian.AppendUint16([]byte{OpPushData2}, uint16(n))
	default:
		s = binary.LittleEndian.AppendUint32([]byte{OpPushData4}, uint32(n))
	}
	return append(s, data...)
}

// PushInt returns the push of a small integer as a script number (used for the
// BIP34 height in coinbases): OP_0, OP_1..OP_16, or the minimal little-endian
// encoding with a sign bit.
func PushInt(v int64) []byte {
	if v == 0 {
		return []byte{Op0}
	}
	if v >= 1 && v <= 16 {
		return []byte{byte(Op1 - 1 + v)}
	}
	return PushData(scriptNum(v))
}

// scriptNum encodes v as Bitcoin's minimal script number.
func scriptNum(v int64) []byte {
	if v == 0 {
		return nil
	}
	neg := v < 0
	abs := uint64(v)
	if neg {
		abs = uint64(-v)
	}
	var b []byte
	for abs > 0 {
		b = append(b, byte(abs))
		abs >>= 8
	}
	if b[len(b)-1]&0x80 != 0 {
		if neg {
			b = append(b, 0x80)
		} else {
			b = append(b, 0)
		}
	} else if neg {
		b[len(b)-1] |= 0x80
	}
	return b
}

// findAndDelete removes every occurrence of the push-encoded sig from script,
// matching only at operation boundaries (Core's FindAndDelete, applied to the
// script code before hashing in legacy signature checks).
func findAndDelete(script, sig []byte) []byte {
	pattern := PushData(sig)
	if len(pattern) == 0 || !bytes.Contains(script, pattern) {
		return script
	}
	var out []byte
	start := 0
	for pc := 0; pc < len(script); {
		for bytes.HasPrefix(script[pc:], pattern) {
			out = append(out, script[start:pc]...)
			pc += len(pattern)
			start = pc
		}
		_, next, ok := nextOp(script, pc)
		if !ok {
			break
		}
		pc = next
	}
	return append(out, script[start:]...)
}
