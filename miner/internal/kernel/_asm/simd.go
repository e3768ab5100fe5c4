package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// simdBackend adds what the loop scaffolding needs to a backend.
type simdBackend interface {
	backend
	broadcastGP(r reg.GPVirtual, dst int)
	// addStep adds the step vector (memory) to register r in place.
	addStep(step Mem, r int)
	// candidates compares each lane of top (byte-swapped already) with the
	// broadcast filter and returns a bit mask of lanes with top ≤ filter.
	candidates(b *builder, top int, filter Mem) reg.GPVirtual
}

// scanSignature is the Go signature of every scan function.
const scanSignature = "func(mid *[8]uint32, tail *[3]uint32, filter uint32, start uint32, count uint32, hits []uint32) (n int, scanned uint32)"

// genSIMD emits the scan function name for a vector ISA with the given lanes.
func genSIMD(name string, be simdBackend, lanes int, spillW bool) {
	b := newBuilder(be, spillW)

	// Dry run: constants, job slots and the reads of every lane value.
	run := func(m mode) (top, filter opnd) {
		b.reset(m)
		t, f := program(b)
		return b.read(b.materialize(t)), b.read(f)
	}
	run(dry)
	b.jobTotal = b.nJob
	if n := b.nSlots(); n > 256 {
		panic(fmt.Sprintf("%s: %d table slots, more than 8-bit displacements reach", name, n))
	}

	// Read-only data: the constants as 32-bit words, the lane offsets and the
	// byte-swap mask.
	consts := GLOBL(name+"Consts", RODATA|NOPTR)
	for i, c := range b.immOrder {
		DATA(4*i, U32(c))
	}
	vecs := GLOBL(name+"Vectors", RODATA|NOPTR)
	w := be.vecBytes()
	for i := range lanes {
		DATA(4*i, U32(uint32(i)))
	}
	for i := 0; i < w; i++ {
		DATA(w+i, U8(uint8(i&^3+3-i&3)))
	}
	DATA(2*w, U32(uint32(lanes)))

	TEXT(name, 0, scanSignature)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s scans count ≥ 1 nonces from start, %d lanes at a time, writing", name, lanes),
		"candidates to hits (len ≥ 1) and stopping when it is full; start+count ≤ 2³².")

	// The table of broadcast constants, aligned to a cache line.
	local := AllocLocal(b.nSlots()*w + 64)
	b.base = GP64()
	LEAQ(local, b.base)
	ADDQ(U32(63), b.base)
	ANDQ(I32(-64), b.base)
	ADDQ(U32(128*w), b.base)

	Comment("Prologue: fill the table.")
	ptr := GP64()
	LEAQ(vecs, ptr)
	r := b.alloc()
	b.be.broadcast(Mem{Base: ptr, Disp: 2 * w}, r)
	be.store(r, b.slotMem(slotStep))
	be.load(Mem{Base: ptr, Disp: w}, r)
	be.store(r, b.slotMem(slotSwap))
	be.load(Mem{Base: ptr}, r)
	be.store(r, b.slotMem(slotIota))
	sc := GP32()
	MOVL(addr("start"), sc)
	be.broadcastGP(sc, r)
	be.addStep(b.slotMem(slotIota), r)
	be.store(r, b.slotMem(slotCtr))

	LEAQ(consts, ptr)
	for i := range b.immOrder {
		b.be.broadcast(Mem{Base: ptr, Disp: 4 * i}, r)
		be.store(r, b.immMem(b.immOrder[i]))
	}
	Load(Param("mid"), ptr)
	for i := range 8 {
		b.be.broadcast(Mem{Base: ptr, Disp: 4 * i}, r)
		be.store(r, b.jobMem(inMid+i))
	}
	Load(Param("tail"), ptr)
	for i := range 3 {
		b.be.broadcast(Mem{Base: ptr, Disp: 4 * i}, r)
		be.store(r, b.jobMem(inTail+i))
	}
	fc := GP32()
	MOVL(addr("filter"), fc)
	be.broadcastGP(fc, r)
	be.store(r, b.jobMem(inFilter))
	b.release(r)

	Comment("Prologue: the nonce-independent part of the hash.")
	run(setup)

	loop := newScanLoop(name, lanes)
	t, fm := run(body)
	if t.r < 0 || !t.dying {
		panic("top must be a dying register")
	}
	sw := be.emit(b, opSwap, []opnd{t})
	if sw != t.r {
		b.release(t.r)
	}
	mask := be.candidates(b, sw, fm.m)
	b.release(sw)
	for i, f := range b.free {
		if !f {
			panic(fmt.Sprintf("%s: register %d still allocated after the body", name, i))
		}
	}
	loop.finish(mask, func() {
		r := b.alloc()
		be.load(b.slotMem(slotCtr), r)
		be.addStep(b.slotMem(slotStep), r)
		be.store(r, b.slotMem(slotCtr))
		b.release(r)
	})
}

// scanLoop is the scalar frame shared by every kernel: the loop over steps of
// lanes, the masking of lanes past the end of the range, and the writing of
// candidates until hits is full.
type scanLoop struct {
	name                         string
	lanes                        int
	out, capacity, count, n, off reg.GPVirtual
	sse                          bool // no VZEROUPPER: the kernel uses only SSE
}

// newScanLoop loads the loop's registers and emits the loop label; the caller
// emits one step, then calls finish.
func newScanLoop(name string, lanes int) *scanLoop {
	l := &scanLoop{name: name, lanes: lanes}
	l.out, l.capacity = GP64(), GP64()
	Load(Param("hits").Base(), l.out)
	Load(Param("hits").Len(), l.capacity)
	l.count = GP64()
	MOVL(addr("count"), l.count.As32())
	l.n = GP64()
	XORQ(l.n, l.n)
	l.off = GP64()
	XORQ(l.off, l.off)
	Label(name + "Loop")
	return l
}

// finish emits the end of a step for the candidate mask (bit i for lane i):
// it writes the candidates, returns when hits is full or the range is done,
// and otherwise calls advance and loops.
func (l *scanLoop) finish(mask reg.GPVirtual, advance func()) {
	name := l.name
	Comment("Mask off lanes past the end of the range.")
	rem := GP64()
	MOVQ(l.count, rem)
	SUBQ(l.off, rem)
	CMPQ(rem, U32(l.lanes))
	JAE(LabelRef(name + "Hits"))
	BZHIL(rem.As32(), mask, mask)

	Label(name + "Hits")
	TESTL(mask, mask)
	JZ(LabelRef(name + "Next"))
	lane := GP32()
	TZCNTL(mask, lane)
	nonce := GP32()
	MOVL(addr("start"), nonce)
	ADDL(l.off.As32(), nonce)
	ADDL(lane, nonce)
	MOVL(nonce, Mem{Base: l.out, Index: l.n, Scale: 4})
	INCQ(l.n)
	BLSRL(mask, mask)
	CMPQ(l.n, l.capacity)
	JNE(LabelRef(name + "Hits"))
	Comment("hits is full: stop after this nonce.")
	Store(l.n, ReturnIndex(0))
	INCL(lane)
	ADDL(l.off.As32(), lane)
	Store(lane, ReturnIndex(1))
	l.ret()

	Label(name + "Next")
	ADDQ(U32(l.lanes), l.off)
	CMPQ(l.off, l.count)
	JAE(LabelRef(name + "Done"))
	advance()
	JMP(LabelRef(name + "Loop"))

	Label(name + "Done")
	Store(l.n, ReturnIndex(0))
	Store(l.count.As32(), ReturnIndex(1))
	l.ret()
}

// addr returns the stack address of a scalar parameter.
func addr(param string) Mem {
	p, err := Param(param).Resolve()
	if err != nil {
		panic(err)
	}
	return p.Addr
}

func (l *scanLoop) ret() {
	if !l.sse {
		VZEROUPPER()
	}
	RET()
}
