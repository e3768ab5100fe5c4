package chain

import (
	"github.com/holiman/uint256"
)

// DifficultyRule says how a network sets each block's bits.
type DifficultyRule int

const (
	// RetargetBitcoin: every 2016 blocks, scale the target by the time the
	// last 2016 took against two weeks, clamped to a factor of 4 (mainnet).
	RetargetBitcoin DifficultyRule = iota
	// RetargetNone: the bits never change (regtest).
	RetargetNone
	// RetargetASERT: aserti3-2d, an exponential moving target recomputed for
	// every block from an anchor block (devnet).
	RetargetASERT
)

// NextBits returns the bits the child of parent must carry.
func (p *Params) NextBits(parent *Node) uint32 {
	switch p.Difficulty {
	case RetargetNone:
		return p.PowLimitBits
	case RetargetASERT:
		return p.asertBits(parent)
	default:
		return p.bitcoinBits(parent)
	}
}

// bitcoinBits is Core's GetNextWorkRequired for networks without testnet's
// minimum-difficulty exception.
func (p *Params) bitcoinBits(parent *Node) uint32 {
	interval := int32(p.TargetTimespan / p.TargetSpacing)
	if (parent.Height+1)%interval != 0 {
		return parent.Header.Bits
	}
	first := parent.Ancestor(parent.Height - (interval - 1))
	actual := int64(parent.Header.Time) - int64(first.Header.Time)
	actual = max(actual, p.TargetTimespan/4)
	actual = min(actual, p.TargetTimespan*4)

	target, _, _ := CompactToTarget(parent.Header.Bits)
	var t uint256.Int
	t.Mul(&target, uint256.NewInt(uint64(actual)))
	t.Div(&t, uint256.NewInt(uint64(p.TargetTimespan)))
	if t.Gt(&p.PowLimit) {
		t = p.PowLimit
	}
	return TargetToCompact(&t)
}

// asertBits is aserti3-2d: the target doubles (halves) for every half-life the
// chain falls behind (gets ahead of) its ideal schedule since the anchor, which
// is the genesis block here (its "parent time" is one spacing before it). The
// power of two is computed in 16-bit fixed point with the spec's cubic
// approximation of 2^x on [0, 1), so every node gets the same bits.
func (p *Params) asertBits(parent *Node) uint32 {
	anchorTarget, _, _ := CompactToTarget(p.Genesis.Header.Bits)
	anchorParentTime := int64(p.Genesis.Header.Time) - p.TargetSpacing
	timeDelta := int64(parent.Header.Time) - anchorParentTime
	heightDelta := int64(parent.Height) // anchor height is 0

	// Go's division truncates toward zero, as the reference C++ does.
	exponent := (timeDelta - p.TargetSpacing*(heightDelta+1)) * 65536 / p.ASERTHalfLife
	shifts := exponent >> 16 // arithmetic shift: floor
	frac := uint64(uint16(exponent))
	factor := 65536 + (195766423245049*frac+971821376*frac*frac+5127*frac*frac*frac+1<<47)>>48

	var next uint256.Int
	next.Mul(&anchorTarget, uint256.NewInt(factor))
	switch {
	case shifts < 0:
		if -shifts >= 256 {
			next.Clear()
		} else {
			next.Rsh(&next, uint(-shifts))
		}
	case shifts > 0:
		if int(shifts)+next.BitLen() > 256 {
			return p.PowLimitBits // would overflow: far easier than the limit
		}
		next.Lsh(&next, uint(shifts))
	}
	next.Rsh(&next, 16)
	if next.IsZero() {
		next.SetOne()
	}
	if next.Gt(&p.PowLimit) {
		return p.PowLimitBits
	}
	return TargetToCompact(&next)
}

// devnetHalfLife is devnet's ASERT half-life: the time the chain must fall
// behind (or get ahead of) its schedule for the target to double (halve).
// TestASERTRecovery measures it in simulation (median of 9 runs; "right" means
// the next block's expected interval within 20% of 5 s):
//
//	half-life  right again after ×10 hashrate  after ÷10   steady-state wander
//	   30 s            72 s                      151 s          ×1.29
//	   60 s           100 s                      273 s          ×1.19
//	  120 s           209 s                      627 s          ×1.12
//	  300 s           593 s                     1686 s          ×1.06
//
// 60 s recovers within a few minutes either way (a fall takes longer: the slow
// blocks must happen before the target can ease) while keeping the target
// within about ±19% of right in steady state.
const devnetHalfLife = 60
