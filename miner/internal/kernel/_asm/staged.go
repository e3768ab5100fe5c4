package main

// The staged builder: the SIMD kernels are written once, as plain SHA-256d
// arithmetic on values (program in sha256d.go), and the builder decides where
// each operation runs by what its inputs depend on:
//
//   - imm: known while generating (IV, round constants, padding words). Folded
//     in Go; never emitted.
//   - job: depends on the job but not on the nonce (midstate, tail words).
//     Emitted once per call in the prologue, stored as a broadcast vector in a
//     table slot, and read by the loop as a memory operand.
//   - lane: depends on the nonce. Emitted in the loop body on registers.
//
// The program runs three times with the same decisions: a dry run that counts
// table slots, constants and the reads of every lane value; a setup run that
// emits the job operations; a body run that emits the lane operations, with a
// linear-scan register allocator that frees a register at its value's last read
// (known from the dry run) and lets destructive instructions (VPTERNLOGD)
// overwrite an input that dies there.
//
// Sums are kept lazy when they are one lane term plus constants, so constants
// meeting in a later sum fold into one table slot instead of costing an add per
// lane (round 3 of the second block becomes two adds; the outer hash's first
// round one).

import (
	"fmt"

	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

type stage uint8

const (
	imm stage = iota
	job
	lane
)

// val is a value of the program. For imm it holds c, for job a table slot, for
// lane an index into builder.lanes.
type val struct {
	st   stage
	c    uint32
	slot int
	id   int
}

func constant(c uint32) val { return val{st: imm, c: c} }

type opKind uint8

const (
	opAdd opKind = iota
	opCh
	opMaj
	opBSig0
	opBSig1
	opSSig0
	opSSig1
	opSwap // byte swap of each 32-bit word (needs a shuffle mask)
	opXor
	opMajX // (x & y) ^ z: Maj(a, b, c) with x = a^b and y = b^c, z = b
	opSub  // x − y
)

// eval is the Go meaning of each operation, used to fold imm values.
func eval(k opKind, x []uint32) uint32 {
	ror := func(v uint32, n uint) uint32 { return v>>n | v<<(32-n) }
	switch k {
	case opAdd:
		return x[0] + x[1]
	case opCh:
		return x[0]&x[1] ^ ^x[0]&x[2]
	case opMaj:
		return x[0]&x[1] ^ x[0]&x[2] ^ x[1]&x[2]
	case opBSig0:
		return ror(x[0], 2) ^ ror(x[0], 13) ^ ror(x[0], 22)
	case opBSig1:
		return ror(x[0], 6) ^ ror(x[0], 11) ^ ror(x[0], 25)
	case opSSig0:
		return ror(x[0], 7) ^ ror(x[0], 18) ^ x[0]>>3
	case opSSig1:
		return ror(x[0], 17) ^ ror(x[0], 19) ^ x[0]>>10
	case opSwap:
		return x[0]>>24 | x[0]>>8&0xff00 | x[0]<<8&0xff0000 | x[0]<<24
	case opXor:
		return x[0] ^ x[1]
	case opMajX:
		return x[0]&x[1] ^ x[2]
	case opSub:
		return x[0] - x[1]
	}
	panic("eval: unknown op")
}

// laneVal is the builder's record of one lane value.
type laneVal struct {
	reg   int // register holding it, or -1
	spill int // spill slot holding it, or -1
	// A lazy sum: term (a lane id) plus konst (imm or job); mat is the
	// materialized lane id once computed, or -1.
	lazy  bool
	term  int
	konst val
	mat   int
}

type mode uint8

const (
	dry mode = iota
	setup
	body
)

// opnd is an instruction input as the backend sees it: a register (r ≥ 0) or
// a memory operand, and whether this is the register's last read.
type opnd struct {
	r     int
	m     operand.Mem
	dying bool
}

func (o opnd) op(be backend) operand.Op {
	if o.r >= 0 {
		return be.reg(o.r)
	}
	return o.m
}

// backend emits one vector ISA.
type backend interface {
	vecBytes() int
	numRegs() int
	reg(i int) reg.VecPhysical
	load(m operand.Mem, dst int)
	store(src int, m operand.Mem)
	move(src, dst int)
	broadcast(m operand.Mem, dst int) // 32-bit memory operand to every lane
	// emit computes k on in and returns the register holding the result. It
	// may overwrite a dying register input; it allocates others from e.
	emit(e *builder, k opKind, in []opnd) int
	// splitMaj reports whether Maj is better computed as opMajX from a^b,
	// reusing the previous round's a^b as this round's b^c, than as opMaj.
	splitMaj() bool
}

// Table layout: slots of one vector each, addressed from a base pointer
// in the middle of the table so that EVEX compressed 8-bit displacements
// reach 256 slots.
const (
	slotCtr   = iota // per-lane nonces of the current step
	slotStep         // lanes, broadcast
	slotSwap         // byte-swap shuffle mask
	slotIota         // 0, 1, …, lanes−1
	slotFirst        // first slot for imm, job and spill slots
)

const maxSpill = 24

type builder struct {
	be   backend
	mode mode
	base reg.Register // GP register with the table's base address (setup, body)

	immSlot  map[uint32]int // decided in the dry run
	immOrder []uint32
	nJob     int // job slots used so far in this run
	jobTotal int // from the dry run

	lanes []laneVal
	reads []int // per lane id: reads left (body), reads seen (dry)

	free      []bool
	spillFree [maxSpill]bool
	spillW    bool // keep message words in memory (for 16-register ISAs)

	nOps int // lane instructions emitted in the body run (for the report)
}

func newBuilder(be backend, spillW bool) *builder {
	return &builder{be: be, immSlot: map[uint32]int{}, spillW: spillW}
}

// reset prepares a run in mode m.
func (b *builder) reset(m mode) {
	b.mode = m
	b.nJob = 0
	if m == body {
		b.reads = b.reads[:len(b.lanes)]
	}
	if m == dry {
		b.reads = nil
	}
	b.lanes = b.lanes[:0]
	b.free = make([]bool, b.be.numRegs())
	for i := range b.free {
		b.free[i] = true
	}
	for i := range b.spillFree {
		b.spillFree[i] = true
	}
}

func (b *builder) slotMem(slot int) operand.Mem {
	return operand.Mem{Base: b.base, Disp: (slot - 128) * b.be.vecBytes()}
}

// Slot numbering: the fixed slots, the imm constants, the job values, the spill
// area.
func (b *builder) nSlots() int { return slotFirst + len(b.immOrder) + b.jobTotal + maxSpill }
func (b *builder) immMem(c uint32) operand.Mem {
	s, ok := b.immSlot[c]
	if !ok {
		panic(fmt.Sprintf("constant %#x not seen in the dry run", c))
	}
	return b.slotMem(slotFirst + s)
}
func (b *builder) jobMem(slot int) operand.Mem {
	return b.slotMem(slotFirst + len(b.immOrder) + slot)
}
func (b *builder) spillMem(s int) operand.Mem {
	return b.slotMem(slotFirst + len(b.immOrder) + b.jobTotal + s)
}

// alloc returns a free register, the lowest numbered.
func (b *builder) alloc() int {
	for i, f := range b.free {
		if f {
			b.free[i] = false
			return i
		}
	}
	panic(fmt.Sprintf("%d registers are not enough", len(b.free)))
}

func (b *builder) release(r int) {
	if b.free[r] {
		panic("double free of register")
	}
	b.free[r] = true
}

// jobInput returns the next job input (filled by the prologue, in the order of
// inMid, inTail and inFilter).
func (b *builder) jobInput() val {
	v := val{st: job, slot: b.nJob}
	b.nJob++
	return v
}

// newLane records a lane value held in register r (body run).
func (b *builder) newLane(r int) val {
	id := len(b.lanes)
	b.lanes = append(b.lanes, laneVal{reg: r, spill: -1, term: -1, mat: -1})
	if b.mode == dry {
		b.reads = append(b.reads, 0)
	}
	if b.mode == body && b.reads[id] == 0 && r >= 0 {
		b.release(r) // never read
		b.lanes[id].reg = -1
	}
	return val{st: lane, id: id}
}

// read returns the operand for v and counts the read.
func (b *builder) read(v val) opnd {
	switch v.st {
	case imm:
		b.noteImm(v.c)
		if b.mode == dry {
			return opnd{r: -1}
		}
		return opnd{r: -1, m: b.immMem(v.c)}
	case job:
		if b.mode == dry {
			return opnd{r: -1}
		}
		return opnd{r: -1, m: b.jobMem(v.slot)}
	}
	l := &b.lanes[v.id]
	if l.lazy {
		panic("read of a lazy sum")
	}
	switch b.mode {
	case dry:
		b.reads[v.id]++
		return opnd{r: -1}
	case setup:
		return opnd{r: -1}
	}
	b.reads[v.id]--
	dying := b.reads[v.id] == 0
	if l.reg >= 0 {
		return opnd{r: l.reg, dying: dying}
	}
	if dying && l.spill >= 0 {
		b.spillFree[l.spill] = true
	}
	return opnd{r: -1, m: b.spillMem(l.spill)}
}

func (b *builder) noteImm(c uint32) {
	if b.mode != dry {
		return
	}
	if _, ok := b.immSlot[c]; !ok {
		b.immSlot[c] = len(b.immOrder)
		b.immOrder = append(b.immOrder, c)
	}
}

// op applies k to xs, at the latest stage of its inputs.
func (b *builder) op(k opKind, xs ...val) val {
	st := imm
	for i, x := range xs {
		if x.st == lane {
			xs[i] = b.materialize(x)
		}
		st = max(st, x.st)
	}
	switch st {
	case imm:
		cs := make([]uint32, len(xs))
		for i, x := range xs {
			cs[i] = x.c
		}
		return constant(eval(k, cs))
	case job:
		in := make([]opnd, len(xs))
		for i, x := range xs {
			in[i] = b.read(x)
		}
		v := val{st: job, slot: b.nJob}
		b.nJob++
		if b.mode == setup {
			r := b.be.emit(b, k, in)
			b.be.store(r, b.jobMem(v.slot))
			b.release(r)
		}
		return v
	}
	in := make([]opnd, len(xs))
	for i, x := range xs {
		in[i] = b.read(x)
	}
	if b.mode != body {
		return b.newLane(-1)
	}
	b.nOps++
	r := b.be.emit(b, k, in)
	for _, o := range in {
		if o.r >= 0 && o.dying && o.r != r {
			b.release(o.r)
		}
	}
	return b.newLane(r)
}

// materialize turns a lazy sum into a plain lane value (once).
func (b *builder) materialize(v val) val {
	if v.st != lane || !b.lanes[v.id].lazy {
		return v
	}
	l := b.lanes[v.id]
	if l.mat < 0 {
		m := b.op(opAdd, val{st: lane, id: l.term}, l.konst)
		b.lanes[v.id].mat = m.id
		return m
	}
	return val{st: lane, id: l.mat}
}

// add returns the sum of xs. Constant terms fold into one imm or job value;
// lane terms are added in the order given; a result that is one lane term plus
// a constant stays lazy.
func (b *builder) add(xs ...val) val {
	var c uint32
	var jobs, lanes []val
	for _, x := range xs {
		switch {
		case x.st == imm:
			c += x.c
		case x.st == job:
			jobs = append(jobs, x)
		case b.lanes[x.id].lazy && b.lanes[x.id].mat >= 0:
			lanes = append(lanes, val{st: lane, id: b.lanes[x.id].mat})
		case b.lanes[x.id].lazy:
			l := b.lanes[x.id]
			lanes = append(lanes, val{st: lane, id: l.term})
			if l.konst.st == imm {
				c += l.konst.c
			} else {
				jobs = append(jobs, l.konst)
			}
		default:
			lanes = append(lanes, x)
		}
	}
	k := constant(c)
	for i, j := range jobs {
		if i == 0 && c == 0 {
			k = j
			continue
		}
		k = b.op(opAdd, k, j)
	}
	if len(lanes) == 0 {
		return k
	}
	sum := lanes[0]
	for _, x := range lanes[1:] {
		sum = b.op(opAdd, sum, x)
	}
	if k.st == imm && k.c == 0 {
		return sum
	}
	id := len(b.lanes)
	b.lanes = append(b.lanes, laneVal{reg: -1, spill: -1, lazy: true, term: sum.id, konst: k, mat: -1})
	if b.mode == dry {
		b.reads = append(b.reads, 0)
	}
	return val{st: lane, id: id}
}

// sub returns x − y; subtracting a constant folds like an addition.
func (b *builder) sub(x, y val) val {
	if y.st == imm {
		return b.add(x, constant(-y.c))
	}
	return b.op(opSub, x, y)
}

func (b *builder) ch(e, f, g val) val  { return b.op(opCh, e, f, g) }
func (b *builder) maj(a, c, d val) val { return b.op(opMaj, a, c, d) }
func (b *builder) bsig0(x val) val     { return b.op(opBSig0, x) }
func (b *builder) bsig1(x val) val     { return b.op(opBSig1, x) }
func (b *builder) ssig0(x val) val     { return b.op(opSSig0, x) }
func (b *builder) ssig1(x val) val     { return b.op(opSSig1, x) }

// spill moves a lane value to a spill slot and frees its register, for values
// that live long (message words) on ISAs with few registers.
func (b *builder) spill(v val) val {
	if v.st != lane || !b.spillW {
		return v
	}
	v = b.materialize(v)
	if b.mode != body {
		return v
	}
	l := &b.lanes[v.id]
	if l.reg < 0 {
		return v
	}
	s := -1
	for i, f := range b.spillFree {
		if f {
			s = i
			break
		}
	}
	if s < 0 {
		panic("out of spill slots")
	}
	b.spillFree[s] = false
	b.be.store(l.reg, b.spillMem(s))
	b.release(l.reg)
	l.reg = -1
	l.spill = s
	return v
}

// nonce returns the message word holding the nonce: the per-lane nonces
// byte-swapped, as SHA-256 reads the little-endian header field.
func (b *builder) nonce() val {
	if b.mode != body {
		return b.newLane(-1)
	}
	r := b.alloc()
	b.be.load(b.slotMem(slotCtr), r)
	r2 := b.be.emit(b, opSwap, []opnd{{r: r, dying: true}})
	if r2 != r {
		b.release(r)
	}
	return b.newLane(r2)
}

// destructive picks the destination for an instruction that overwrites its first
// register operand: a dying register input if any (returning its index in
// in), else a fresh register loaded with in[pref].
func (b *builder) destructive(in []opnd, pref int) (r, idx int) {
	for i, o := range in {
		if o.r >= 0 && o.dying {
			return o.r, i
		}
	}
	r = b.alloc()
	if in[pref].r >= 0 {
		b.be.move(in[pref].r, r)
	} else {
		b.be.load(in[pref].m, r)
	}
	return r, pref
}
