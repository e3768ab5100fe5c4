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
// until the difficulty is right again, for several half-lives and solve-time
// clamps. Devnet's must recover within three minutes of a rise and five of a
// fall.
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
	for _, tt := range []struct{ halfLife, maxSolve int64 }{
		{30, 60}, {60, 60}, {120, 60}, {300, 60},
		{60, 30}, {60, 120}, {60, 1 << 40},
	} {
		p := *Devnet
		p.ASERTHalfLife, p.ASERTMaxSolve = tt.halfLife, tt.maxSolve
		up, spread := median(&p, 10)
		down, _ := median(&p, 0.1)
		t.Logf("half-life %3ds, max solve %13ds: difficulty right again %4.0fs after a tenfold rise, %4.0fs after a tenfold fall; "+
			"steady state: expected interval within ×%.2f (one standard deviation)", tt.halfLife, tt.maxSolve, up, down, math.Exp(spread))
		if tt.halfLife == Devnet.ASERTHalfLife && tt.maxSolve == Devnet.ASERTMaxSolve && (up > 180 || down > 300) {
			t.Errorf("devnet's rule recovers in %.0fs and %.0fs: over three and five minutes", up, down)
		}
	}
}

// TestASERTAfterIdle: a devnet left idle for a day (or started a month after
// its genesis) mines at its usual pace when its miners come back, instead of
// owing its schedule thousands of blocks at the easiest target.
func TestASERTAfterIdle(t *testing.T) {
	for _, idle := range []float64{86400, 30 * 86400} {
		base := expectedHashes(Devnet.Genesis.Header.Bits) / float64(Devnet.TargetSpacing)
		var counts []float64
		for seed := range uint64(9) {
			s := newASERTSim(Devnet, seed, base)
			for range 500 {
				s.step()
			}
			before := expectedHashes(Devnet.NextBits(s.tip))
			s.now += idle
			s.step() // the first block after the pause
			if eased := before / expectedHashes(Devnet.NextBits(s.tip)); eased > 1.9 {
				t.Fatalf("idle %.0fs: the block after the pause eased the target ×%.2f (at most ×1.89)", idle, eased)
			}
			start, n := s.now, 0
			for s.now-start < 600 {
				s.step()
				n++
			}
			counts = append(counts, float64(n))
		}
		sortFloats(counts)
		// 600 s at 5 s a block is 120 blocks; the absolute aserti3-2d would
		// mine idle/5 of them (17,280 for a day) at the easiest target.
		if m := counts[len(counts)/2]; m < 60 || m > 240 {
			t.Errorf("idle %.0fs: median %.0f blocks in the 10 minutes after the pause, want about 120", idle, m)
		} else {
			t.Logf("idle %.0fs: median %.0f blocks in the 10 minutes after the pause (120 expected)", idle, m)
		}
	}
}

// TestASERTClamp: the solve time counts at most ASERTMaxSolve either way, so
// a block dated two hours ahead eases its child by only ×1.89 and its child,
// dated back, takes that back.
func TestASERTClamp(t *testing.T) {
	p := Devnet
	g := newNode(&p.Genesis.Header, p.GenesisHash, nil)
	child := func(parent *Node, dt int64) *Node {
		h := wire.Header{Version: 4, PrevBlock: parent.Hash, Time: uint32(int64(parent.Header.Time) + dt), Bits: p.NextBits(parent)}
		return newNode(&h, h.Hash(), parent)
	}
	b1 := child(g, 30*86400) // a month after genesis
	if b1.Header.Bits != p.Genesis.Header.Bits {
		t.Fatalf("block 1 bits %08x, want genesis bits %08x", b1.Header.Bits, p.Genesis.Header.Bits)
	}
	b2 := child(b1, 5)
	if eased := expectedHashes(b1.Header.Bits) / expectedHashes(b2.Header.Bits); eased < 1.85 || eased > 1.9 {
		t.Fatalf("a month's pause eased the target ×%.3f, want ×1.89 (the clamp)", eased)
	}
	b3 := child(b2, 5)
	if b3.Header.Bits != b2.Header.Bits {
		t.Fatalf("a block on schedule changed the bits: %08x after %08x", b3.Header.Bits, b2.Header.Bits)
	}
	ahead := child(b3, 7200)
	back := child(ahead, -7200+10)
	eased := expectedHashes(b3.Header.Bits) / expectedHashes(p.NextBits(ahead))
	if eased < 1.85 || eased > 1.9 {
		t.Fatalf("two hours ahead eased the target ×%.3f, want ×1.89 (the clamp)", eased)
	}
	net := expectedHashes(b3.Header.Bits) / expectedHashes(p.NextBits(back))
	if net > 1.0 {
		t.Fatalf("ahead then back eased the target ×%.3f in all", net)
	}
}

func sortFloats(v []float64) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}
