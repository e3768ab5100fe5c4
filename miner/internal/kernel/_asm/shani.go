package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The SHA-NI kernel hashes 4 nonces as 4 independent streams interleaved
// instruction by instruction: SHA256RNDS2 has a latency of about 4 cycles but
// issues every 2, so one stream leaves the SHA unit idle half the time and
// two leave it waiting on the message schedule; four keep it busy.
//
// Per stream the state lives in two registers (ABEF and CDGH, SHA-NI's
// packing) and the message schedule in an aligned stack area, one 16-byte
// quad of words per 4 rounds, read back as memory operands. The Go side
// prepares (shaniParams, 24 words):
//
//	0  midstate as ABEF      4  midstate as CDGH
//	8  state after rounds 0 and 1 of the second block, ABEF   12  same, CDGH
//	16 second-block words 0..2 and 0      20  W2+K2, K3, 0, 0
//
// Rounds 0 and 1 are skipped (nonce-independent); rounds 4..15 of the second
// block and 8..15 of the outer hash take W+K from constant quads; the outer
// hash stops after the SHA256RNDS2 of rounds 60 and 61, whose F output is the
// e of round 60 that gives state word 7.
const shaniStreams = 4

// Local area layout (bytes from the 64-byte aligned base).
const (
	shLocK     = 0               // 16 quads of round constants
	shLocWK2   = shLocK + 16*16  // second block K+W quads for rounds 4..15 (3 quads)
	shLocQ     = shLocWK2 + 3*16 // constant message quads: (0x80000000,0,0,0), 0, (0,0,0,640), (0,0,0,256)
	shLocIV    = shLocQ + 4*16   // IV as ABEF, CDGH
	shLocP     = shLocIV + 2*16  // the 6 parameter quads
	shLocSched = shLocP + 6*16   // per stream: 16 message quads
	shLocSize  = shLocSched + shaniStreams*16*16
)

func genSHANI() {
	name := "scanSHANI"
	consts := GLOBL(name+"Consts", RODATA|NOPTR)
	off := 0
	word := func(v uint32) { DATA(off, U32(v)); off += 4 }
	for _, k := range roundK {
		word(k)
	}
	w2 := [16]uint32{4: 0x80000000, 15: 640}
	for t := 4; t < 16; t++ {
		word(roundK[t] + w2[t])
	}
	for _, q := range [4][4]uint32{{0x80000000, 0, 0, 0}, {}, {0, 0, 0, 640}, {0, 0, 0, 256}} {
		for _, v := range q {
			word(v)
		}
	}
	for _, v := range [8]uint32{IV[5], IV[4], IV[1], IV[0], IV[7], IV[6], IV[3], IV[2]} {
		word(v)
	}
	nConsts := off

	TEXT(name, 0, "func(p *[24]uint32, filter uint32, start uint32, count uint32, hits []uint32) (n int, scanned uint32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s scans count ≥ 1 nonces from start, %d streams at a time, writing", name, shaniStreams),
		"candidates to hits (len ≥ 1) and stopping when it is full; start+count ≤ 2³².",
		"p holds the per-job values prepared by shaniParams.")

	local := AllocLocal(shLocSize + 64)
	base := GP64()
	LEAQ(local, base)
	ADDQ(U32(63), base)
	ANDQ(I32(-64), base)
	at := func(o int) Mem { return Mem{Base: base, Disp: o} }

	Comment("Prologue: copy constants and parameters to the aligned area.")
	src := GP64()
	LEAQ(consts, src)
	for o := 0; o < nConsts; o += 16 {
		MOVOU(Mem{Base: src, Disp: o}, reg.X0)
		MOVO(reg.X0, at(o))
	}
	Load(Param("p"), src)
	for o := 0; o < 6*16; o += 16 {
		MOVOU(Mem{Base: src, Disp: o}, reg.X0)
		MOVO(reg.X0, at(shLocP+o))
	}
	filter := GP32()
	MOVL(addr("filter"), filter)

	loop := newScanLoop(name, shaniStreams)
	loop.sse = true
	x := []reg.VecPhysical{reg.X0, reg.X1, reg.X2, reg.X3, reg.X4, reg.X5, reg.X6, reg.X7,
		reg.X8, reg.X9, reg.X10, reg.X11, reg.X12, reg.X13, reg.X14, reg.X15}
	abef := [shaniStreams]reg.VecPhysical{x[1], x[3], x[5], x[7]}
	cdgh := [shaniStreams]reg.VecPhysical{x[2], x[4], x[6], x[8]}
	t, u := x[9], x[10]
	sched := func(s, q int) Mem { return at(shLocSched + (s*16+q)*16) }
	kq := func(q int) Mem { return at(shLocK + q*16) }

	// rounds2 runs two rounds on stream s with W+K in the low half of X0.
	rounds2 := func(s int) {
		SHA256RNDS2(reg.X0, abef[s], cdgh[s])
		abef[s], cdgh[s] = cdgh[s], abef[s]
	}
	// quad runs four rounds on every stream: X0 from wk(s), then its high half.
	quad := func(wk func(s int), last bool) {
		for s := range shaniStreams {
			wk(s)
			rounds2(s)
			if !last {
				PSHUFD(U8(0x0e), reg.X0, reg.X0)
				rounds2(s)
			}
		}
	}
	// schedule computes message quad q ≥ 4 of every stream into its slot.
	schedule := func(q int) {
		for s := range shaniStreams {
			MOVO(sched(s, q-4), t)
			SHA256MSG1(sched(s, q-3), t)
			MOVO(sched(s, q-1), u)
			PALIGNR(U8(4), sched(s, q-2), u)
			PADDD(u, t)
			SHA256MSG2(sched(s, q-1), t)
			MOVO(t, sched(s, q))
		}
	}
	wkSched := func(q int) func(s int) {
		return func(s int) {
			MOVO(sched(s, q), reg.X0)
			PADDD(kq(q), reg.X0)
		}
	}

	Comment("Second block: message quad 0 is (tail, nonce) per stream.")
	nonce := GP32()
	for s := range shaniStreams {
		MOVL(addr("start"), nonce)
		ADDL(loop.off.As32(), nonce)
		if s > 0 {
			ADDL(U8(s), nonce)
		}
		BSWAPL(nonce)
		MOVO(at(shLocP+16*4), t)
		PINSRD(U8(3), nonce, t)
		MOVO(t, sched(s, 0))
		MOVO(at(shLocQ), t)
		MOVO(t, sched(s, 1))
		MOVO(at(shLocQ+16), t)
		MOVO(t, sched(s, 2))
		MOVO(at(shLocQ+32), t)
		MOVO(t, sched(s, 3))
		MOVO(at(shLocP+16*2), abef[s])
		MOVO(at(shLocP+16*3), cdgh[s])
	}
	Comment("Rounds 2 and 3: W2+K2 and the nonce word plus K3.")
	for s := range shaniStreams {
		MOVL(addr("start"), nonce)
		ADDL(loop.off.As32(), nonce)
		if s > 0 {
			ADDL(U8(s), nonce)
		}
		BSWAPL(nonce)
		ADDL(U32(roundK[3]), nonce)
		MOVO(at(shLocP+16*5), reg.X0)
		PINSRD(U8(1), nonce, reg.X0)
		rounds2(s)
	}
	Comment("Rounds 4..15: constant message words.")
	for q := 1; q < 4; q++ {
		quad(func(s int) { MOVO(at(shLocWK2+(q-1)*16), reg.X0) }, false)
	}
	for q := 4; q < 16; q++ {
		Commentf("Rounds %d..%d.", 4*q, 4*q+3)
		schedule(q)
		quad(wkSched(q), false)
	}

	Comment("Add the midstate; the digest words become the outer message quads 0 and 1.")
	for s := range shaniStreams {
		PADDD(at(shLocP), abef[s])
		PADDD(at(shLocP+16), cdgh[s])
		PSHUFD(U8(0x1b), abef[s], t)
		PSHUFD(U8(0x1b), cdgh[s], u)
		MOVO(t, abef[s])
		PUNPCKLQDQ(u, abef[s]) // A B C D
		PUNPCKHQDQ(u, t)       // E F G H
		MOVO(abef[s], sched(s, 0))
		MOVO(t, sched(s, 1))
		MOVO(at(shLocQ), t)
		MOVO(t, sched(s, 2))
		MOVO(at(shLocQ+48), t)
		MOVO(t, sched(s, 3))
		MOVO(at(shLocIV), abef[s])
		MOVO(at(shLocIV+16), cdgh[s])
	}
	Comment("Outer hash.")
	for q := range 16 {
		Commentf("Rounds %d..%d.", 4*q, 4*q+3)
		if q >= 4 {
			schedule(q)
		}
		quad(wkSched(q), q == 15)
	}

	Comment("State word 7 is IV[7] plus e of round 60: F of the last ABEF.")
	mask := GP32()
	XORL(mask, mask)
	top := GP32()
	bit := GP32()
	for s := range shaniStreams {
		MOVD(abef[s], top)
		ADDL(U32(IV[7]), top)
		BSWAPL(top)
		XORL(bit, bit)
		CMPL(top, filter)
		SETLS(bit.As8())
		if s > 0 {
			SHLL(U8(s), bit)
		}
		ORL(bit, mask)
	}
	loop.finish(mask, func() {})
}

// genCPUID emits the CPUID helper used to detect SHA-NI, which x/sys/cpu does
// not report.
func genCPUID() {
	TEXT("cpuid", NOSPLIT, "func(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)")
	Doc("cpuid executes CPUID with EAX=leaf and ECX=subleaf.")
	Load(Param("leaf"), reg.EAX)
	Load(Param("subleaf"), reg.ECX)
	CPUID()
	Store(reg.EAX, Return("eax"))
	Store(reg.EBX, Return("ebx"))
	Store(reg.ECX, Return("ecx"))
	Store(reg.EDX, Return("edx"))
	RET()
}
