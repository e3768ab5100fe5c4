package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The SHA-NI kernels hash two or four nonces as independent streams, their
// instructions interleaved (shConfig below says which suits which core). Two
// limits meet in them (measured on an Intel core of the Golden Cove family;
// on AMD Zen 5 SHA256RNDS2 issues every 2 cycles, the SHA256MSG instructions
// do not hold it up as much, and four streams are needed to keep it busy):
//
//   - The SHA round unit: SHA256RNDS2 (two rounds) has a latency of 4 cycles
//     and issues every 3, so one stream leaves the unit idle and two keep it
//     busy: 61 per nonce are 183 cycles.
//   - One vector port: SHA256MSG1 (about 4 cycles of it), SHA256MSG2 (2) and
//     PALIGNR (1) all issue there and SHA256RNDS2 takes a slot of it too, so
//     the message schedule weighs as much as the rounds. (PSHUFD, PADDD and
//     the shifts go elsewhere; computing σ0 with shifts instead of
//     SHA256MSG1 was measured slower, as was a third stream.)
//
// So the generator spends SHA and PALIGNR instructions only where the nonce
// makes them necessary:
//
//   - Second block: rounds 0–2 read only job words and are done in Go
//     (shaniParams). Round 3 adds the nonce word W3 to T1 and nothing else
//     nonlinear, so the state after it is a job constant plus (0, W3, 0, W3)
//     in SHA-NI's ABEF packing, and rounds 4–63 are 30 SHA256RNDS2.
//   - Message words 16 and 17 are job constants and W18, W19 are constants
//     plus σ0(W3) and W3 (σ0 of one word, on scalar registers), so quad 4
//     costs no SHA instruction; quads 5–7 need no SHA256MSG1 (their σ0 terms
//     read only constant words) and quad 5 no PALIGNR either.
//   - Outer hash: 31 SHA256RNDS2 from the IV, rounds (0,1) … (60,61). Round
//     60 gives e61, and state word 7 of the hash is IV[7] + e61 (h64 = g63 =
//     f62 = e61), so the hash stops there. Its words 8–15 are padding: quads
//     2 and 3 are constants, quad 4 needs no PALIGNR and quad 6 no
//     SHA256MSG1. (Folding round 0 into a constant, as round 3 of the second
//     block, would save a SHA256RNDS2 but pair the rounds across message
//     quads, a PALIGNR per pair on the busy port: measured 7% slower.)
//
// Per nonce that is 61 SHA256RNDS2, 19 SHA256MSG1, 23 SHA256MSG2 and 21
// PALIGNR, against 62, 24, 24 and 24 for the straightforward midstate kernel.
// Each message quad is computed two quads ahead of the rounds that read it,
// off the rounds' critical path.
//
// Registers: X0 is SHA256RNDS2's implicit operand, shared by the streams
// (register renaming makes that free, each use being a fresh value), and X1
// a shared temporary; each stream keeps its state in two registers and its
// last four message quads in a ring of four registers or, with four streams
// (too few registers), of table slots read as memory operands, with a copy
// of the newest quad in a register so that the schedule's own chain (each
// quad reads the one before) does not wait on store forwarding. The per-job parameters
// (shaniParams, 28 words, 7 quads) are:
//
//	0 midstate ABEF   1 midstate CDGH   (added to the state after block 2)
//	2 ABEF after round 3 without W3     3 CDGH after round 3
//	4 W16, W17, W18−σ0(W3), W19−W3      (quad 4 less its nonce terms)
//	5 the SHA256MSG2 input of quad 5    6 the σ0 part of quad 7's input
const shaniParamWords = 28

// shTable is the layout of the kernel's 64-byte aligned stack table: the
// job parameters, then the constant vectors, deduplicated, copied from
// RODATA by the prologue.
type shTable struct {
	consts [][4]uint32
	index  map[[4]uint32]int
}

// vec returns the offset of constant v, adding it if new.
func (t *shTable) vec(v [4]uint32) int {
	if t.index == nil {
		t.index = map[[4]uint32]int{}
	}
	i, ok := t.index[v]
	if !ok {
		i = len(t.consts)
		t.index[v] = i
		t.consts = append(t.consts, v)
	}
	return 16 * (shaniParamWords/4 + i)
}

func paramOff(q int) int { return 16 * q }

// shBlock describes the message of one block: which quads are constants.
type shBlock struct {
	outer bool
	konst [16]bool
	value [16][4]uint32
}

// The message quads that are constants: words 4–15 of the second block
// (padding and the length, 640 bits) and words 8–15 of the outer hash (256).
var (
	shBlock2 = shBlock{
		konst: [16]bool{1: true, 2: true, 3: true},
		value: [16][4]uint32{1: {0x80000000, 0, 0, 0}, 3: {0, 0, 0, 640}},
	}
	shOuter = shBlock{
		outer: true,
		konst: [16]bool{2: true, 3: true},
		value: [16][4]uint32{2: {0x80000000, 0, 0, 0}, 3: {0, 0, 0, 256}},
	}
)

// shStream is one nonce's registers. Its last four message quads are in a
// ring of registers or, when there are too few registers for every stream's
// ring (mem), in a ring of table slots read as memory operands.
type shStream struct {
	s          int
	abef, cdgh reg.VecPhysical
	mem        bool
	ring       [4]reg.VecPhysical // message quad q is in ring[q%4]
	slot       [4]int             // or at table offset slot[q%4]
	last       reg.VecPhysical    // if not nil, a copy of the ring's newest quad, lastQ
	lastQ      int
}

type shGen struct {
	tab     shTable
	base    reg.GPVirtual
	streams []*shStream
	blk     *shBlock // the block being generated
	loop    *scanLoop
	filter  reg.GPVirtual
	mask    reg.GPVirtual
	xt      reg.VecPhysical // where a stream with its ring in memory computes a quad
	// quadSteps interleaves the streams four rounds at a time instead of two.
	quadSteps bool
	lookahead int // quads scheduled ahead of the rounds that read them
}

// shT is the temporary the streams share.
var shT = reg.X1

func (g *shGen) at(off int) Mem        { return Mem{Base: g.base, Disp: off} }
func (g *shGen) konst(v [4]uint32) Mem { return g.at(g.tab.vec(v)) }
func (g *shGen) param(q int) Mem       { return g.at(paramOff(q)) }
func kquad(q int) [4]uint32 {
	return [4]uint32{roundK[4*q], roundK[4*q+1], roundK[4*q+2], roundK[4*q+3]}
}
func (g *shGen) quadConst(q int) (Op, bool) {
	if g.blk.konst[q] {
		return g.konst(g.blk.value[q]), true
	}
	return nil, false
}

// quad returns the operand holding message quad q of stream st in the
// current block: a constant of the table or a ring register.
func (g *shGen) quad(st *shStream, q int) Op {
	if c, ok := g.quadConst(q); ok {
		return c
	}
	if st.mem && st.last != nil && q == st.lastQ {
		return st.last
	}
	if st.mem {
		return g.at(st.slot[q%4])
	}
	return st.ring[q%4]
}

// quadReg returns the register in which message quad q of stream st is
// computed: its ring register, which holds quad q−4 until then, or the
// shared register xt for a ring in memory.
func (g *shGen) quadReg(st *shStream, q int) reg.VecPhysical {
	if st.mem {
		return g.xt
	}
	return st.ring[q%4]
}

// quadDone stores quad q of a ring in memory, computed in xt.
func (g *shGen) quadDone(st *shStream, q int) {
	if st.mem {
		MOVO(g.xt, g.at(st.slot[q%4]))
		if st.last != nil {
			MOVO(g.xt, st.last)
			st.lastQ = q
		}
	}
}

// kpair is (K[t]+w0, K[t+1]+w1, 0, 0).
func kpair(t int, w0, w1 uint32) [4]uint32 {
	return [4]uint32{roundK[t] + w0, roundK[t+1] + w1, 0, 0}
}

// rounds2 runs rounds t and t+1 (t even) on stream st: W+K of the pair in
// the low half of X0, from the table when the quad is a constant.
func (g *shGen) rounds2(st *shStream, t int) {
	q, half := t/4, t%4
	switch {
	case g.blk.konst[q]:
		v := g.blk.value[q]
		MOVO(g.konst(kpair(t, v[half], v[half+1])), reg.X0)
	case half == 0:
		MOVO(g.quad(st, q), reg.X0)
		PADDD(g.konst(kquad(q)), reg.X0)
	default:
		PSHUFD(U8(0x0e), g.quad(st, q), reg.X0)
		PADDD(g.konst(kpair(t, 0, 0)), reg.X0)
	}
	SHA256RNDS2(reg.X0, st.abef, st.cdgh)
	st.abef, st.cdgh = st.cdgh, st.abef
}

// rounds4 runs rounds t … min(t+3, last+1) (t a multiple of 4) on stream st.
// For a quad that is not a constant, W+K is summed once and its upper half
// shuffled down for the second SHA256RNDS2.
func (g *shGen) rounds4(st *shStream, t, last int) {
	q := t / 4
	if g.blk.konst[q] || t+2 > last {
		g.rounds2(st, t)
		if t+2 <= last {
			g.rounds2(st, t+2)
		}
		return
	}
	MOVO(g.quad(st, q), reg.X0)
	PADDD(g.konst(kquad(q)), reg.X0)
	SHA256RNDS2(reg.X0, st.abef, st.cdgh)
	PSHUFD(U8(0x0e), reg.X0, reg.X0)
	SHA256RNDS2(reg.X0, st.cdgh, st.abef)
}

// schedule computes message quad q ≥ 5 of stream st into its ring register,
// which held quad q−4:
//
//	Q[q] = MSG2(MSG1(Q[q−4], Q[q−3]) + ALIGNR(Q[q−1], Q[q−2], 4), Q[q−1])
//
// leaving out the terms that are constants of the block.
func (g *shGen) schedule(st *shStream, q int) {
	x := g.quadReg(st, q)
	defer g.quadDone(st, q)
	alignr := func(r reg.VecPhysical) {
		MOVO(g.quad(st, q-1), r)
		PALIGNR(U8(4), g.quad(st, q-2), r)
	}
	switch {
	case !g.blk.outer && q == 5:
		// MSG1(Q1, Q2) and ALIGNR(Q4, Q3) read only job words.
		MOVO(g.param(5), x)
	case q == 6:
		// MSG1(Q2, Q3) is (0, 0, 0, 0) in the second block and
		// (0x80000000, 0, 0, 0) in the outer hash.
		alignr(x)
		if g.blk.outer {
			PADDD(g.konst([4]uint32{0x80000000}), x)
		}
	case !g.blk.outer && q == 7:
		alignr(x)
		PADDD(g.param(6), x)
	case g.blk.outer && q == 4:
		// ALIGNR(Q3, Q2) is (W9 … W12) = 0.
		if st.mem {
			MOVO(g.quad(st, q-4), x)
		}
		SHA256MSG1(g.quad(st, q-3), x)
	default:
		if c, ok := g.quadConst(q - 4); ok {
			MOVO(c, x)
		} else if st.mem {
			MOVO(g.quad(st, q-4), x)
		}
		SHA256MSG1(g.quad(st, q-3), x)
		alignr(shT)
		PADDD(shT, x)
	}
	SHA256MSG2(g.quad(st, q-1), x)
}

// start starts stream st on nonce start+off+s: the state after round 3 and
// message quad 4.
func (g *shGen) start(st *shStream) {
	n := GP32()
	MOVL(addr("start"), n)
	ADDL(g.loop.off.As32(), n)
	if st.s > 0 {
		ADDL(U8(st.s), n)
	}
	BSWAPL(n)    // W3
	MOVD(n, shT) // (W3, 0, 0, 0)
	PSHUFD(U8(0x11), shT, st.abef)
	PADDD(g.param(2), st.abef)
	MOVO(g.param(3), st.cdgh)

	s0, u := GP32(), GP32()
	RORXL(U8(7), n, s0)
	RORXL(U8(18), n, u)
	XORL(u, s0)
	SHRL(U8(3), n)
	XORL(n, s0) // σ0(W3), with n now W3 >> 3
	x := g.quadReg(st, 4)
	MOVD(s0, x)       // (σ0, 0, 0, 0)
	PUNPCKLLQ(shT, x) // (σ0, W3, 0, 0)
	PSLLDQ(U8(8), x)  // (0, 0, σ0, W3)
	PADDD(g.param(4), x)
	g.quadDone(st, 4)
}

// outerStart adds the midstate to stream st's state after block 2, turns the
// digest into the outer hash's message quads 0 and 1 and starts the outer
// state from the IV.
func (g *shGen) outerStart(st *shStream) {
	PADDD(g.param(0), st.abef)
	PADDD(g.param(1), st.cdgh)
	// ABEF = (F, E, B, A) and CDGH = (H, G, D, C) from lane 0 up.
	x := g.quadReg(st, 0)
	MOVO(st.abef, x)
	SHUFPS(U8(0xbb), st.cdgh, x) // (A, B, C, D)
	g.quadDone(st, 0)
	x = g.quadReg(st, 1)
	MOVO(st.abef, x)
	SHUFPS(U8(0x11), st.cdgh, x) // (E, F, G, H)
	g.quadDone(st, 1)
	MOVO(g.konst([4]uint32{IV[5], IV[4], IV[1], IV[0]}), st.abef)
	MOVO(g.konst([4]uint32{IV[7], IV[6], IV[3], IV[2]}), st.cdgh)
}

// finish compares state word 7 of stream st's hash with the filter and sets
// its bit of the mask.
func (g *shGen) finish(st *shStream) {
	top, bit := GP32(), GP32()
	MOVD(st.abef, top) // F after rounds 60 and 61 is e61
	ADDL(U32(IV[7]), top)
	BSWAPL(top)
	XORL(bit, bit)
	CMPL(top, g.filter)
	SETLS(bit.As8())
	if st.s > 0 {
		SHLL(U8(st.s), bit)
	}
	ORL(bit, g.mask)
}

// step is one unit of a stream's work; the streams' steps are interleaved
// round robin.
type step func(st *shStream)

// program returns the steps of one nonce.
func (g *shGen) program() []step {
	var steps []step
	rounds := func(blk *shBlock, first, last, firstSched int) {
		steps = append(steps, func(*shStream) { g.blk = blk })
		next := firstSched
		if g.quadSteps {
			for t := first; t <= last; t += 4 {
				for ; next <= min(t/4+g.lookahead, 15); next++ {
					q := next
					steps = append(steps, func(st *shStream) { g.schedule(st, q) })
				}
				steps = append(steps, func(st *shStream) { g.rounds4(st, t, last) })
			}
			return
		}
		for t := first; t <= last; t += 2 {
			for ; next <= min(t/4+g.lookahead, 15); next++ {
				q := next
				steps = append(steps, func(st *shStream) { g.schedule(st, q) })
			}
			steps = append(steps, func(st *shStream) { g.rounds2(st, t) })
		}
	}
	steps = append(steps, func(st *shStream) { g.start(st) })
	rounds(&shBlock2, 4, 62, 5)
	steps = append(steps, func(st *shStream) { g.outerStart(st) })
	rounds(&shOuter, 0, 60, 4)
	steps = append(steps, func(st *shStream) { g.finish(st) })
	return steps
}

// shTableMax is the stack table's size; the constants (found while the
// body is generated) must fit in what the parameters leave.
const shTableMax = 2048

// shConfig is the shape of one SHA-NI kernel. SSE has 16 XMM registers (the
// SHA instructions have no VEX or EVEX form): X0 and X1 are shared, a stream
// with its message ring in registers takes 6, one with its ring in memory 2
// (3 with last), and those share one more to compute quads in.
type shConfig struct {
	name      string
	streams   int
	inReg     int  // the first inReg streams keep their message ring in registers
	last      bool // the others keep a copy of their newest quad in a register
	quadSteps bool // interleave the streams four rounds at a time instead of two
	lookahead int  // quads scheduled ahead of the rounds that read them
}

// The two SHA-NI kernels. Two streams suit a SHA unit that issues
// SHA256RNDS2 every 3 cycles with a latency of 4 (Intel's Golden Cove); on
// Zen 5 it issues every 2 with the same latency, so two streams have no
// slack and four are needed. Four streams leave registers for their states
// only, so their message quads go to memory with the newest kept in a
// register, and they interleave four rounds at a time (W+K summed once for
// both SHA256RNDS2). Of the shapes measured on Zen 5 (3 to 5 streams, rings
// in registers or memory, lookahead 1 to 3, two or four rounds a step; the
// figures are in the commit that added shaniFour) this was the fastest.
// Both kernels are in the table and calibration picks the faster per machine.
var (
	shaniTwo  = shConfig{name: "scanSHANI", streams: 2, inReg: 2, lookahead: 2}
	shaniFour = shConfig{name: "scanSHANI4", streams: 4, last: true, quadSteps: true, lookahead: 2}
)

// genSHANI emits the SHA-NI scan function of configuration c.
func genSHANI(c shConfig) {
	name, streams, inReg, last := c.name, c.streams, c.inReg, c.last
	TEXT(name, 0, fmt.Sprintf("func(p *[%d]uint32, filter uint32, start uint32, count uint32, hits []uint32) (n int, scanned uint32)", shaniParamWords))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s scans count ≥ 1 nonces from start, %d streams at a time, writing", name, streams),
		"candidates to hits (len ≥ 1) and stopping when it is full; start+count ≤ 2³².",
		"p holds the per-job values prepared by shaniParams.")

	g := &shGen{quadSteps: c.quadSteps, lookahead: c.lookahead}
	// The table, then 64 bytes of ring for each stream without its ring in
	// registers.
	local := AllocLocal(shTableMax + 64*(streams-inReg) + 64)
	g.base = GP64()
	LEAQ(local, g.base)
	ADDQ(U32(63), g.base)
	ANDQ(I32(-64), g.base)
	// The constant part of the table is known only once the body is
	// generated, so the prologue that fills it is emitted after the body.
	JMP(LabelRef(name + "Prologue"))
	Label(name + "Body")

	regs := []reg.VecPhysical{reg.X2, reg.X3, reg.X4, reg.X5, reg.X6, reg.X7, reg.X8,
		reg.X9, reg.X10, reg.X11, reg.X12, reg.X13, reg.X14, reg.X15}
	if inReg < streams {
		g.xt, regs = regs[len(regs)-1], regs[:len(regs)-1]
	}
	perMem := 2
	if last {
		perMem = 3
	}
	if need := 6*inReg + perMem*(streams-inReg); need > len(regs) {
		panic(fmt.Sprintf("%s: %d streams (%d rings in registers) need %d registers", name, streams, inReg, need))
	}
	for s := range streams {
		st := &shStream{s: s, abef: regs[0], cdgh: regs[1], mem: s >= inReg}
		if st.mem {
			for i := range st.slot {
				st.slot[i] = shTableMax + 16*(4*(s-inReg)+i)
			}
			regs = regs[2:]
			if last {
				st.last, regs = regs[0], regs[1:]
			}
		} else {
			st.ring = [4]reg.VecPhysical{regs[2], regs[3], regs[4], regs[5]}
			regs = regs[6:]
		}
		g.streams = append(g.streams, st)
	}
	g.filter = GP32()
	MOVL(addr("filter"), g.filter)
	g.loop = newScanLoop(name, streams)
	g.loop.sse = true
	g.mask = GP32()
	XORL(g.mask, g.mask)
	for _, f := range g.program() {
		for _, st := range g.streams {
			f(st)
		}
	}
	g.loop.finish(g.mask, func() {})

	Label(name + "Prologue")
	Comment("Copy the job's parameters and the constants to the aligned table.")
	if size := paramOff(0) + 16*(shaniParamWords/4+len(g.tab.consts)); size > shTableMax {
		panic(fmt.Sprintf("%s: table of %d bytes", name, size))
	}
	consts := GLOBL(name+"Consts", RODATA|NOPTR)
	for i, v := range g.tab.consts {
		for j, w := range v {
			DATA(16*i+4*j, U32(w))
		}
	}
	src := GP64()
	Load(Param("p"), src)
	for q := range shaniParamWords / 4 {
		MOVOU(Mem{Base: src, Disp: 16 * q}, reg.X0)
		MOVO(reg.X0, g.param(q))
	}
	LEAQ(consts, src)
	for i := range g.tab.consts {
		MOVOU(Mem{Base: src, Disp: 16 * i}, reg.X0)
		MOVO(reg.X0, g.at(g.tab.vec(g.tab.consts[i])))
	}
	JMP(LabelRef(name + "Body"))
}
