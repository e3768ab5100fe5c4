package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// avx512 emits 16 lanes in ZMM registers: VPRORD for rotates and VPTERNLOGD
// for every three-input function (Ch, Maj, the xors of Σ and σ), so a round
// is about 17 instructions for 16 nonces.
type avx512 struct{}

var zmm = []reg.VecPhysical{
	reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7,
	reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15,
	reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23,
	reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31,
}

func (avx512) vecBytes() int                        { return 64 }
func (avx512) splitMaj() bool                       { return false } // Maj is one VPTERNLOGD
func (avx512) numRegs() int                         { return 32 }
func (avx512) reg(i int) reg.VecPhysical            { return zmm[i] }
func (avx512) load(m Mem, dst int)                  { VMOVDQU32(m, zmm[dst]) }
func (avx512) store(src int, m Mem)                 { VMOVDQU32(zmm[src], m) }
func (avx512) move(src, dst int)                    { VMOVDQA32(zmm[src], zmm[dst]) }
func (avx512) broadcast(m Mem, dst int)             { VPBROADCASTD(m, zmm[dst]) }
func (avx512) broadcastGP(r reg.GPVirtual, dst int) { VPBROADCASTD(r, zmm[dst]) }
func (avx512) addStep(step Mem, r int)              { VPADDD(step, zmm[r], zmm[r]) }

func (x avx512) candidates(b *builder, top int, filter Mem) reg.GPVirtual {
	VPCMPUD(U8(2), filter, zmm[top], reg.K1) // 2: less or equal, unsigned
	m := GP32()
	KMOVW(reg.K1, m)
	return m
}

// dest returns a dying register among in (the result may overwrite it), or a
// fresh one.
func dest(b *builder, in ...opnd) int {
	for _, o := range in {
		if o.r >= 0 && o.dying {
			return o.r
		}
	}
	return b.alloc()
}

func (x avx512) emit(b *builder, k opKind, in []opnd) int {
	switch k {
	case opAdd:
		p, q := in[0], in[1]
		if q.r < 0 {
			p, q = q, p
		}
		if q.r < 0 {
			r := b.alloc()
			x.load(q.m, r)
			VPADDD(p.m, zmm[r], zmm[r])
			return r
		}
		r := dest(b, q, p)
		VPADDD(p.op(x), zmm[q.r], zmm[r])
		return r
	case opSub:
		p, q := in[0], in[1]
		if p.r < 0 {
			r := b.alloc()
			x.load(p.m, r)
			VPSUBD(q.op(x), zmm[r], zmm[r])
			return r
		}
		r := dest(b, p, q)
		VPSUBD(q.op(x), zmm[p.r], zmm[r])
		return r
	case opSwap:
		src := in[0]
		if src.r < 0 {
			r := b.alloc()
			x.load(src.m, r)
			src = opnd{r: r, dying: true}
		}
		r := dest(b, src)
		VPSHUFB(b.slotMem(slotSwap), zmm[src.r], zmm[r])
		return r
	case opBSig0:
		return x.sigma(b, in[0], 2, 13, 22, false)
	case opBSig1:
		return x.sigma(b, in[0], 6, 11, 25, false)
	case opSSig0:
		return x.sigma(b, in[0], 7, 18, 3, true)
	case opSSig1:
		return x.sigma(b, in[0], 17, 19, 10, true)
	case opCh, opMaj:
		return x.ternary(b, k, in)
	}
	panic("avx512: unknown op")
}

// sigma emits ror(x,r1) ^ ror(x,r2) ^ (ror or shr)(x,r3).
func (x avx512) sigma(b *builder, src opnd, r1, r2, r3 uint8, shift bool) int {
	t1 := b.alloc()
	VPRORD(U8(r1), src.op(x), zmm[t1])
	t2 := b.alloc()
	VPRORD(U8(r2), src.op(x), zmm[t2])
	t3 := -1
	if src.r >= 0 && src.dying {
		t3 = src.r // released by the builder
	} else {
		t3 = b.alloc()
		defer b.release(t3)
	}
	if shift {
		VPSRLD(U8(r3), src.op(x), zmm[t3])
	} else {
		VPRORD(U8(r3), src.op(x), zmm[t3])
	}
	VPTERNLOGD(U8(0x96), zmm[t3], zmm[t2], zmm[t1])
	b.release(t2)
	return t1
}

// ternary emits Ch or Maj as one VPTERNLOGD. Its destination is also its first
// input, so it overwrites an input that dies here or else a copy.
func (x avx512) ternary(b *builder, k opKind, in []opnd) int {
	// Without a dying input the destination starts as a copy: a load of a
	// memory input if another input is a register (the load is free), else
	// a register move.
	pref, regs := 0, 0
	for i, o := range in {
		if o.r >= 0 {
			pref = i
			regs++
		}
	}
	if regs > 0 && regs < len(in) {
		for i, o := range in {
			if o.r < 0 {
				pref = i
			}
		}
	}
	r, ia := b.destructive(in, pref)
	var rest []int
	for i := range in {
		if i != ia {
			rest = append(rest, i)
		}
	}
	ib, ic := rest[0], rest[1]
	if in[ib].r < 0 {
		ib, ic = ic, ib
	}
	opB := in[ib].op(x)
	if in[ib].r < 0 {
		t := b.alloc()
		x.load(in[ib].m, t)
		opB = zmm[t]
		defer b.release(t)
	}
	VPTERNLOGD(U8(ternImm(k, ia, ib, ic)), in[ic].op(x), opB, zmm[r])
	return r
}

// ternImm is VPTERNLOGD's truth table for k when the destination holds input
// ia, the middle operand input ib and the first operand input ic: bit
// (A<<2 | B<<1 | C) of the immediate is k of those bits.
func ternImm(k opKind, ia, ib, ic int) uint8 {
	var imm uint8
	for i := range 8 {
		var xs [3]uint32
		xs[ia] = -uint32(i >> 2 & 1)
		xs[ib] = -uint32(i >> 1 & 1)
		xs[ic] = -uint32(i & 1)
		imm |= uint8(eval(k, xs[:])&1) << i
	}
	return imm
}
