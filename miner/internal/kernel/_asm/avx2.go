package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// avx2 emits 8 lanes in YMM registers. AVX2 has no rotate and no three-input
// logic, so a rotate is two shifts and Σ, σ, Ch and Maj are built from
// shifts, xors and ands (about 35 instructions per round for 8 nonces). Σ
// and σ xor their six shifted terms as a tree (four instructions deep, not
// six: Σ0 and Σ1 are on the rounds' critical path), and Maj is split
// (splitMaj) so that each round's a^b serves again as the next round's b^c.
// With 16 registers the message words live in spill slots and are read as
// memory operands. Only VEX encodings and Y0–Y15 are used: EVEX forms (memory
// operands of immediate shifts, registers 16–31) would need AVX-512.
type avx2 struct{}

var ymm = []reg.VecPhysical{
	reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
	reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15,
}

func (avx2) vecBytes() int             { return 32 }
func (avx2) splitMaj() bool            { return true }
func (avx2) numRegs() int              { return 16 }
func (avx2) reg(i int) reg.VecPhysical { return ymm[i] }
func (avx2) load(m Mem, dst int)       { VMOVDQU(m, ymm[dst]) }
func (avx2) store(src int, m Mem)      { VMOVDQU(ymm[src], m) }
func (avx2) move(src, dst int)         { VMOVDQA(ymm[src], ymm[dst]) }
func (avx2) broadcast(m Mem, dst int)  { VPBROADCASTD(m, ymm[dst]) }
func (avx2) addStep(step Mem, r int)   { VPADDD(step, ymm[r], ymm[r]) }
func (avx2) broadcastGP(r reg.GPVirtual, dst int) {
	VMOVD(r, ymm[dst].AsX())
	VPBROADCASTD(ymm[dst].AsX(), ymm[dst])
}

func (x avx2) candidates(b *builder, top int, filter Mem) reg.GPVirtual {
	VPMAXUD(filter, ymm[top], ymm[top]) // max(top, filter) == filter iff top ≤ filter
	VPCMPEQD(filter, ymm[top], ymm[top])
	m := GP32()
	VMOVMSKPS(ymm[top], m)
	return m
}

// inReg returns a register holding o, loading it into a temporary if it is in
// memory; done releases the temporary.
func (x avx2) inReg(b *builder, o opnd) (r int, done func()) {
	if o.r >= 0 {
		return o.r, func() {}
	}
	r = b.alloc()
	x.load(o.m, r)
	return r, func() { b.release(r) }
}

func (x avx2) emit(b *builder, k opKind, in []opnd) int {
	switch k {
	case opAdd:
		p, q := in[0], in[1]
		if q.r < 0 {
			p, q = q, p
		}
		qr, done := x.inReg(b, q)
		defer done()
		r := dest(b, q, p)
		VPADDD(p.op(x), ymm[qr], ymm[r])
		return r
	case opSub:
		p, q := in[0], in[1]
		pr, done := x.inReg(b, p)
		defer done()
		r := dest(b, p, q)
		VPSUBD(q.op(x), ymm[pr], ymm[r])
		return r
	case opSwap:
		sr, done := x.inReg(b, in[0])
		defer done()
		r := dest(b, in[0])
		VPSHUFB(b.slotMem(slotSwap), ymm[sr], ymm[r])
		return r
	case opBSig0:
		return x.sigma(b, in[0], 2, 13, 22, false)
	case opBSig1:
		return x.sigma(b, in[0], 6, 11, 25, false)
	case opSSig0:
		return x.sigma(b, in[0], 7, 18, 3, true)
	case opSSig1:
		return x.sigma(b, in[0], 17, 19, 10, true)
	case opCh:
		// ((f ^ g) & e) ^ g
		e, f, g := in[0], in[1], in[2]
		gr, doneG := x.inReg(b, g)
		defer doneG()
		t := b.alloc()
		VPXOR(f.op(x), ymm[gr], ymm[t])
		VPAND(e.op(x), ymm[t], ymm[t])
		r := dest(b, e, f, g)
		VPXOR(ymm[gr], ymm[t], ymm[r])
		b.release(t)
		return r
	case opXor:
		p, q := in[0], in[1]
		if q.r < 0 {
			p, q = q, p
		}
		qr, done := x.inReg(b, q)
		defer done()
		r := dest(b, q, p)
		VPXOR(p.op(x), ymm[qr], ymm[r])
		return r
	case opMajX:
		// (a^b) & (b^c) ^ b, both xors computed already (one is the
		// previous round's a^b): two instructions instead of four.
		ab, bc, bb := in[0], in[1], in[2]
		br, doneB := x.inReg(b, bb)
		defer doneB()
		abr, doneAB := x.inReg(b, ab)
		defer doneAB()
		t := b.alloc()
		VPAND(bc.op(x), ymm[abr], ymm[t])
		r := dest(b, ab, bc, bb)
		VPXOR(ymm[br], ymm[t], ymm[r])
		b.release(t)
		return r
	case opMaj:
		// ((a ^ b) & (b ^ c)) ^ b
		a, bb, c := in[0], in[1], in[2]
		br, doneB := x.inReg(b, bb)
		defer doneB()
		t1, t2 := b.alloc(), b.alloc()
		VPXOR(a.op(x), ymm[br], ymm[t1])
		VPXOR(c.op(x), ymm[br], ymm[t2])
		VPAND(ymm[t2], ymm[t1], ymm[t1])
		b.release(t2)
		r := dest(b, a, bb, c)
		VPXOR(ymm[br], ymm[t1], ymm[r])
		b.release(t1)
		return r
	}
	panic("avx2: unknown op")
}

// sigma emits ror(x,r1) ^ ror(x,r2) ^ (ror or shr)(x,r3) as shifts and xors
// summed as a tree: the result is four instructions deep instead of six, and
// Σ0 and Σ1 are on the rounds' critical path.
func (x avx2) sigma(b *builder, src opnd, r1, r2, r3 uint8, shift bool) int {
	sr, done := x.inReg(b, src)
	defer done()
	acc, t, u := b.alloc(), b.alloc(), b.alloc()
	VPSRLD(U8(r1), ymm[sr], ymm[acc])
	VPSLLD(U8(32-r1), ymm[sr], ymm[t])
	VPSRLD(U8(r2), ymm[sr], ymm[u])
	VPXOR(ymm[t], ymm[acc], ymm[acc])
	VPSLLD(U8(32-r2), ymm[sr], ymm[t])
	VPXOR(ymm[t], ymm[u], ymm[u])
	VPSRLD(U8(r3), ymm[sr], ymm[t])
	VPXOR(ymm[u], ymm[acc], ymm[acc])
	if !shift {
		VPSLLD(U8(32-r3), ymm[sr], ymm[u])
		VPXOR(ymm[u], ymm[t], ymm[t])
	}
	VPXOR(ymm[t], ymm[acc], ymm[acc])
	b.release(t)
	b.release(u)
	return acc
}
