package main

// The SHA-256d scan as plain arithmetic on staged values; the builder decides
// what is computed when generating, once per call, or per nonce.

// roundK and IV are FIPS 180-4's round constants and initial hash value.
var roundK = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

var IV = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

// Job inputs, in the order the prologue fills their slots.
const (
	inMid    = 0 // 8 words of midstate
	inTail   = 8 // 3 tail words
	inFilter = 11
	nInputs  = 12
)

// program emits the scan of one step of lanes and returns the top 32 bits of
// each lane's hash, not yet byte-swapped (state word 7 of the outer hash).
func program(b *builder) (top val, filter val) {
	var in [nInputs]val
	for i := range in {
		in[i] = b.jobInput()
	}

	// Second block of the header: tail, nonce, padding, length 640 bits.
	var w [64]val
	w[0], w[1], w[2] = in[inTail], in[inTail+1], in[inTail+2]
	w[3] = b.nonce()
	w[4] = constant(0x80000000)
	for i := 5; i < 15; i++ {
		w[i] = constant(0)
	}
	w[15] = constant(640)
	var mid [8]val
	copy(mid[:], in[inMid:inMid+8])
	s := b.compress(mid, &w, 64, 64)

	// Outer hash: the 32-byte digest, padding, length 256 bits. Its state
	// word 7 is IV[7] plus the e computed in round 60, so rounds 61–63 and
	// every a after round 56 are never needed.
	var w2 [64]val
	for i := range 8 {
		w2[i] = b.add(mid[i], s[i])
	}
	w2[8] = constant(0x80000000)
	for i := 9; i < 15; i++ {
		w2[i] = constant(0)
	}
	w2[15] = constant(256)
	s2 := b.compress(IV2(), &w2, 61, 57)
	return b.add(s2[4], constant(IV[7])), in[inFilter]
}

// IV2 returns the initial state as imm values.
func IV2() [8]val {
	var s [8]val
	for i, c := range IV {
		s[i] = constant(c)
	}
	return s
}

// compress runs rounds 0..n−1 of SHA-256 on state s with message w (16 words
// given, the rest scheduled here just before their round). Rounds from full
// on compute only e. It returns the state after the rounds, not added to s.
//
// The sums are associated for a short round: on cores where vector integer
// operations take 2 cycles (Zen 5) the kernel is bound by the chain from one
// round's e to the next, not by the number of instructions. So
//
//	e' = ((d + h + K + W) + Ch(e, f, g)) + Σ1(e)
//	a' = (e' + (Maj(a, b, c) − d)) + Σ0(a)
//
// where d+h+K+W (dhk) is summed one round early from c and g, off the
// critical path, and a' reuses e' instead of a separate T1 (the subtraction
// is off the path too): Σ1(e) is 4 cycles deep and each later add 2, so e'
// is 6 cycles after e instead of 10 for ((Σ1 + Ch) + hk) + d, and Σ0(a) is
// added last so a' waits on a for 6 cycles too. Computing dhk from g first
// ends g's life before Ch reads it, so VPTERNLOGD can overwrite g instead of
// a copy.
func (b *builder) compress(s [8]val, w *[64]val, n, full int) [8]val {
	a, bb, c, d, e, f, g, h := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	for t := range 16 {
		w[t] = b.spill(w[t])
	}
	dhk := b.dhk(d, h, 0, w[0])
	// With split Maj, x is this round's b^c: the previous round's a^b.
	var x val
	if b.be.splitMaj() {
		x = b.op(opXor, bb, c)
	}
	for t := range n {
		var dhkNext val
		if t+1 < n {
			if t+1 >= 16 {
				w[t+1] = b.schedule(w, t+1)
			}
			dhkNext = b.dhk(c, g, t+1, w[t+1])
		}
		ch := b.ch(e, f, g)
		eNew := b.materialize(b.add(b.add(dhk, ch), b.bsig1(e)))
		if t == n-1 {
			h = g // the final h, for a caller that adds the state
		}
		var aNew val
		if t < full {
			var maj val
			if b.be.splitMaj() {
				ab := b.op(opXor, a, bb)
				maj = b.op(opMajX, ab, x, bb)
				x = ab
			} else {
				maj = b.maj(a, bb, c)
			}
			aNew = b.add(eNew, b.sub(maj, d), b.bsig0(a))
		}
		a, bb, c, d, e, f, g, dhk = aNew, a, bb, c, eNew, e, f, dhkNext
	}
	return [8]val{a, bb, c, d, e, f, g, h}
}

// dhk returns d + h + K[t] + W[t] as one materialized sum, W added last when
// it depends on the nonce (it is computed just before), the constant folded
// into W when W is one.
func (b *builder) dhk(d, h val, t int, w val) val {
	if w.st != lane {
		return b.materialize(b.add(d, h, constant(roundK[t]), w))
	}
	return b.materialize(b.add(b.materialize(b.add(d, h, constant(roundK[t]))), w))
}

// schedule returns message word t ≥ 16. σ1(W[t−2]) is added last: it is
// the words' own recurrence (W[t] waits on W[t−2] through it), and the other
// terms are older.
func (b *builder) schedule(w *[64]val, t int) val {
	v := b.add(w[t-16], w[t-7], b.ssig0(w[t-15]), b.ssig1(w[t-2]))
	return b.spill(v)
}
