package chain

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/renga-p2p/renga/wire"
)

// asertSim mines a simulated devnet chain: each block takes an exponentially
// distributed time with mean (expected hashes of its target) / hashrate, and
// carries the bits the real difficulty rule asks for.
type asertSim struct {
	p    *Params
	rng  *rand.Rand
	tip  *Node
	now  float64 // seconds since genesis
	rate float64 // hashes per second
}

func newASERTSim(p *Params, seed uint64, rate float64) *asertSim {
	g := newNode(&p.Genesis.Header, p.GenesisHash, nil)
	return &asertSim{p: p, rng: rand.New(rand.NewPCG(seed, 1)), tip: g, now: 0, rate: rate}
}

func expectedHashes(bits uint32) float64 {
	t, _, _ := CompactToTarget(bits)
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(new(big.Int).Lsh(big.NewInt(1), 256)), new(big.Float).SetInt(t.ToBig())).Float64()
	return f
}

// step mines one block and returns its interval in seconds.
func (s *asertSim) step() float64 {
	bits := s.p.NextBits(s.tip)
	dt := s.rng.ExpFloat64() * expectedHashes(bits) / s.rate
	s.now += dt
	t := uint32(int64(s.p.Genesis.Header.Time) + int64(s.now))
	if mtp := uint32(s.tip.MedianTimePast()); t <= mtp {
		t = mtp + 1 // a miner's clock must pass the median time past
	}
	h := wire.Header{Version: 4, PrevBlock: s.tip.Hash, Time: t, Bits: bits}
	s.tip = newNode(&h, h.Hash(), s.tip)
	return dt
}

// recovery changes the hashrate by factor once the chain is in steady state
// and returns how many seconds pass until the difficulty is right again: the
// expected interval of the next block (its target's expected hashes over the
// hashrate) within 20% of the target spacing. It also returns how much that
// expected interval wanders in steady state (the standard deviation of its
// logarithm): the cost of a short half-life.
func recovery(p *Params, seed uint64, factor float64) (seconds, wander float64) {
	// Start at the hashrate for which the genesis target gives 5-second blocks.
	base := expectedHashes(p.Genesis.Header.Bits) / float64(p.TargetSpacing)
	s := newASERTSim(p, seed, base)
	expected := func() float64 { return expectedHashes(s.p.NextBits(s.tip)) / s.rate }
	var logs []float64
	for i := range 3000 {
		s.step()
		if i >= 1000 {
			logs = append(logs, math.Log(expected()))
		}
	}
	var sum, sq float64
	for _, l := range logs {
		sum += l
		sq += l * l
	}
	n := float64(len(logs))
	wander = math.Sqrt(sq/n - (sum/n)*(sum/n))

	s.rate *= factor
	start := s.now
	for range 100_000 {
		if e := expected(); math.Abs(e-float64(p.TargetSpacing)) <= 0.2*float64(p.TargetSpacing) {
			return s.now - start, wander
		}
		s.step()
	}
	return math.Inf(1), wander
}

// TestASERTRecovery measures devnet's difficulty rule in simulation (simulated
// seconds, not wall-clock): after the hashrate jumps or drops tenfold, how long
// until the difficulty is right again, for several half-lives. Devnet's must
// recover within three minutes of a rise and five of a fall.
func TestASERTRecovery(t *testing.T) {
	median := func(p *Params, factor float64) (float64, float64) {
		var rs, ss []float64
		for seed := range uint64(9) {
			r, s := recovery(p, seed, factor)
			rs, ss = append(rs, r), append(ss, s)
		}
		sortFloats(rs)
		sortFloats(ss)
		return rs[len(rs)/2], ss[len(ss)/2]
	}
	for _, hl := range []int64{30, 60, 120, 300} {
		p := *Devnet
		p.ASERTHalfLife = hl
		up, spread := median(&p, 10)
		down, _ := median(&p, 0.1)
		t.Logf("half-life %3ds: difficulty right again %4.0fs after a tenfold rise, %4.0fs after a tenfold fall; "+
			"steady state: expected interval within ×%.2f (one standard deviation)", hl, up, down, math.Exp(spread))
		if hl == Devnet.ASERTHalfLife && (up > 180 || down > 300) {
			t.Errorf("devnet's half-life of %ds recovers in %.0fs and %.0fs: over five minutes", hl, up, down)
		}
	}
}

func sortFloats(v []float64) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}
