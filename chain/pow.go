package chain

import (
	"github.com/holiman/uint256"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// CompactToTarget expands compact difficulty bits into a target, as Bitcoin
// Core's SetCompact: a 3-byte mantissa (with a sign bit) times 256^(exponent-3).
// negative and overflow report encodings no valid block may carry.
func CompactToTarget(bits uint32) (target uint256.Int, negative, overflow bool) {
	size := bits >> 24
	word := bits & 0x007fffff
	if size <= 3 {
		target.SetUint64(uint64(word >> (8 * (3 - size))))
	} else {
		target.SetUint64(uint64(word))
		if size-3 >= 32 {
			target.Clear()
		} else {
			target.Lsh(&target, uint(8*(size-3)))
		}
	}
	negative = word != 0 && bits&0x00800000 != 0
	overflow = word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32))
	return target, negative, overflow
}

// TargetToCompact encodes a target as compact bits (Core's GetCompact).
func TargetToCompact(target *uint256.Int) uint32 {
	size := uint32((target.BitLen() + 7) / 8)
	var compact uint32
	if size <= 3 {
		compact = uint32(target.Uint64() << (8 * (3 - size)))
	} else {
		var t uint256.Int
		t.Rsh(target, uint(8*(size-3)))
		compact = uint32(t.Uint64())
	}
	// The mantissa's top bit is a sign bit: shift it out of the way.
	if compact&0x00800000 != 0 {
		compact >>= 8
		size++
	}
	return compact | size<<24
}

// HashToInt reads a block hash as the little-endian 256-bit number that proof
// of work compares.
func HashToInt(h *sha256d.Hash) uint256.Int {
	var be [32]byte
	for i := range h {
		be[i] = h[31-i]
	}
	var v uint256.Int
	v.SetBytes32(be[:])
	return v
}

// CheckProofOfWork verifies that hash meets the target of bits and that the
// target is within the network's limit.
func CheckProofOfWork(hash *sha256d.Hash, bits uint32, powLimit *uint256.Int) error {
	target, negative, overflow := CompactToTarget(bits)
	if negative || overflow || target.IsZero() || target.Gt(powLimit) {
		return blockErr(RuleBadBits, "bits %08x out of range", bits)
	}
	h := HashToInt(hash)
	if h.Gt(&target) {
		return blockErr(RuleHighHash, "hash %s above target of bits %08x", hash, bits)
	}
	return nil
}

// Work returns the expected number of hashes a block with these bits took:
// 2^256 / (target+1). Invalid bits count as no work.
func Work(bits uint32) uint256.Int {
	target, negative, overflow := CompactToTarget(bits)
	var w uint256.Int
	if negative || overflow || target.IsZero() {
		return w
	}
	// 2^256 / (target+1) = (~target / (target+1)) + 1, which stays in 256 bits.
	var notTarget, denom uint256.Int
	notTarget.Not(&target)
	denom.AddUint64(&target, 1)
	w.Div(&notTarget, &denom)
	w.AddUint64(&w, 1)
	return w
}
