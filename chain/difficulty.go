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
	// RetargetASERT: aserti3-2d's exponential moving target, recomputed for
	// every block from its parent's, each solve time clamped (devnet).
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
	// With a 512-bit product: a limit as easy as regtest's (2^255) times the
	// timespan overflows 256 bits (mainnet's 2^224 never does, so this
	// changes nothing there; Core's arithmetic would wrap).
	var t uint256.Int
	if _, overflow := t.MulDivOverflow(&target, uint256.NewInt(uint64(actual)), uint256.NewInt(uint64(p.TargetTimespan))); overflow || t.Gt(&p.PowLimit) {
		t = p.PowLimit
	}
	return TargetToCompact(&t)
}

// asertBits is the exponential rule of aserti3-2d applied block by block:
// the child's target is the parent's times 2^((solve − spacing)/half-life),
// where solve is the parent's time minus the grandparent's, clamped to
// ±[Params.ASERTMaxSolve]. Without the clamp this telescopes to aserti3-2d
// anchored at genesis: the target doubles for every half-life the chain falls
// behind its ideal schedule. The absolute form suits a chain that never
// stops; a devnet is started weeks after its genesis and left idle overnight,
// and the absolute form would then owe the schedule thousands of blocks at the
// easiest target. Clamped, a pause of any length eases the next block by at
// most 2^((max solve − spacing)/half-life), and a timestamp set far ahead and
// then far back gains nothing. The power of two is computed in 16-bit fixed
// point with the spec's cubic approximation of 2^x on [0, 1), so every node
// gets the same bits. Block 1 carries the genesis bits.
func (p *Params) asertBits(parent *Node) uint32 {
	if parent.Parent == nil {
		return p.Genesis.Header.Bits
	}
	solve := int64(parent.Header.Time) - int64(parent.Parent.Header.Time)
	solve = min(max(solve, -p.ASERTMaxSolve), p.ASERTMaxSolve)

	// Go's division truncates toward zero, as the reference C++ does.
	exponent := (solve - p.TargetSpacing) * 65536 / p.ASERTHalfLife
	shifts := exponent >> 16 // arithmetic shift: floor
	frac := uint64(uint16(exponent))
	factor := 65536 + (195766423245049*frac+971821376*frac*frac+5127*frac*frac*frac+1<<47)>>48

	next, _, _ := CompactToTarget(parent.Header.Bits)
	next.Mul(&next, uint256.NewInt(factor))
	switch {
	case shifts < 0:
		next.Rsh(&next, uint(-shifts)) // at most ASERTMaxSolve/half-life + 1 bits
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

// devnetHalfLife is devnet's half-life: the time the chain must fall behind
// (or get ahead of) its schedule for the target to double (halve).
// devnetMaxSolve bounds one block's say in that. TestASERTRecovery measures
// them in simulation (median of 9 runs; "right" means the next block's
// expected interval within 20% of 5 s):
//
//	half-life  max solve  right again after ×10 hashrate  after ÷10  steady-state wander
//	   30 s       60 s            71 s                     183 s          ×1.29
//	   60 s       60 s           100 s                     293 s          ×1.19
//	  120 s       60 s           211 s                     675 s          ×1.12
//	  300 s       60 s           595 s                    1850 s          ×1.06
//	   60 s       30 s           100 s                     419 s          ×1.19
//	   60 s      120 s           100 s                     288 s          ×1.19
//	   60 s       none           100 s                     273 s          ×1.19
//
// 60 s recovers within a few minutes either way (a fall takes longer: the slow
// blocks must happen before the target can ease) while keeping the target
// within about ±19% of right in steady state. A max solve of 12 spacings is
// rarely reached at a steady hashrate (e^-12 of blocks), costs 20 s of the
// recovery from a fall (the clamp holds back the slowest blocks) and lets one
// block ease the next by at most 2^(55/60) = ×1.89; TestASERTAfterIdle shows
// a day's pause followed by the usual pace.
const (
	devnetHalfLife = 60
	devnetMaxSolve = 60
)
