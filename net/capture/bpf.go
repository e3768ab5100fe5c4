package capture

import (
	"errors"
	"fmt"
	"slices"
)

// BPFInstruction is one classic BPF instruction, laid out as Linux's struct
// sock_filter: opcode, jump offsets if true and if false (relative to the
// next instruction), and the constant operand.
type BPFInstruction struct {
	Op     uint16
	Jt, Jf uint8
	K      uint32
}

// Classic BPF opcode parts (linux/bpf_common.h), for the programs built here
// and for the interpreter the tests run them on.
const (
	bpfLD   = 0x00
	bpfLDX  = 0x01
	bpfJMP  = 0x05
	bpfRET  = 0x06
	bpfW    = 0x00
	bpfH    = 0x08
	bpfB    = 0x10
	bpfABS  = 0x20
	bpfIND  = 0x40
	bpfMSH  = 0xa0
	bpfJA   = 0x00
	bpfJEQ  = 0x10
	bpfJSET = 0x40
	bpfK    = 0x00
)

// MaxFilterPorts bounds PortFilter's ports: a classic BPF conditional jump
// reaches at most 255 instructions ahead.
const MaxFilterPorts = 60

// ErrFilter is returned by PortFilter for a port list it cannot compile.
var ErrFilter = errors.New("capture: cannot build filter")

// PortFilter compiles a classic BPF program for Ethernet frames (which is
// also what Linux's lo gives) that accepts IPv4 and IPv6 TCP and UDP packets
// with a source or destination port in ports, up to snaplen bytes of each,
// and drops everything else. IPv4 fragments after the first carry no ports
// and are dropped; IPv6 packets with extension headers before TCP or UDP are
// dropped too (Renga never sends them).
//
// The program, in the assembler syntax of tcpdump -d:
//
//	      ldh [12]                       ; ethertype
//	      jeq #0x800, ipv4, +1
//	      jeq #0x86dd, ipv6, drop
//	ipv4: ldb [23]                       ; protocol
//	      jeq #6, v4ports, +1
//	      jeq #17, v4ports, drop
//	v4ports:
//	      ldh [20]                       ; fragment offset
//	      jset #0x1fff, drop, +0
//	      ldxb 4*([14]&0xf)              ; IPv4 header length
//	      ldh [x+14]                     ; source port
//	      jeq #port, accept, +0          ; … for every port
//	      ldh [x+16]                     ; destination port
//	      jeq #port, accept, +0          ; … for every port
//	      ja drop
//	ipv6: ldb [20]                       ; next header
//	      jeq #6, v6ports, +1
//	      jeq #17, v6ports, drop
//	v6ports:
//	      ldh [54]                       ; source port
//	      jeq #port, accept, +0
//	      ldh [56]                       ; destination port
//	      jeq #port, accept, +0
//	drop: ret #0
//	accept: ret #snaplen
func PortFilter(ports []uint16, snaplen uint32) ([]BPFInstruction, error) {
	ports = slices.Compact(slices.Sorted(slices.Values(ports)))
	if len(ports) == 0 || len(ports) > MaxFilterPorts {
		return nil, fmt.Errorf("%w: %d ports (want 1 to %d)", ErrFilter, len(ports), MaxFilterPorts)
	}
	if snaplen == 0 {
		snaplen = 262144
	}
	var a bpfAssembler
	a.stmt(bpfLD|bpfH|bpfABS, 12)
	a.jump(bpfJEQ, etherIPv4, "ipv4", "")
	a.jump(bpfJEQ, etherIPv6, "ipv6", "drop")

	a.label("ipv4")
	a.stmt(bpfLD|bpfB|bpfABS, 14+9)
	a.jump(bpfJEQ, ProtoTCP, "v4ports", "")
	a.jump(bpfJEQ, ProtoUDP, "v4ports", "drop")
	a.label("v4ports")
	a.stmt(bpfLD|bpfH|bpfABS, 14+6)
	a.jump(bpfJSET, 0x1fff, "drop", "")
	a.stmt(bpfLDX|bpfB|bpfMSH, 14)
	a.stmt(bpfLD|bpfH|bpfIND, 14)
	a.anyPort(ports)
	a.stmt(bpfLD|bpfH|bpfIND, 14+2)
	a.anyPort(ports)
	a.jump(bpfJA, 0, "drop", "")

	a.label("ipv6")
	a.stmt(bpfLD|bpfB|bpfABS, 14+6)
	a.jump(bpfJEQ, ProtoTCP, "v6ports", "")
	a.jump(bpfJEQ, ProtoUDP, "v6ports", "drop")
	a.label("v6ports")
	a.stmt(bpfLD|bpfH|bpfABS, 14+40)
	a.anyPort(ports)
	a.stmt(bpfLD|bpfH|bpfABS, 14+40+2)
	a.anyPort(ports)

	a.label("drop")
	a.stmt(bpfRET|bpfK, 0)
	a.label("accept")
	a.stmt(bpfRET|bpfK, snaplen)
	return a.assemble()
}

// bpfAssembler resolves symbolic jump targets into classic BPF's relative
// offsets. An empty label means the next instruction.
type bpfAssembler struct {
	prog   []BPFInstruction
	labels map[string]int
	jumps  []bpfJump
}

type bpfJump struct {
	at     int
	jt, jf string
}

func (a *bpfAssembler) stmt(op uint16, k uint32) {
	a.prog = append(a.prog, BPFInstruction{Op: op, K: k})
}

func (a *bpfAssembler) jump(op uint16, k uint32, jt, jf string) {
	a.jumps = append(a.jumps, bpfJump{at: len(a.prog), jt: jt, jf: jf})
	a.stmt(bpfJMP|op|bpfK, k)
}

func (a *bpfAssembler) label(name string) {
	if a.labels == nil {
		a.labels = make(map[string]int)
	}
	a.labels[name] = len(a.prog)
}

// anyPort jumps to accept if the accumulator is one of ports, else falls through.
func (a *bpfAssembler) anyPort(ports []uint16) {
	for _, p := range ports {
		a.jump(bpfJEQ, uint32(p), "accept", "")
	}
}

func (a *bpfAssembler) assemble() ([]BPFInstruction, error) {
	offset := func(at int, label string) (uint32, error) {
		if label == "" {
			return 0, nil
		}
		target, ok := a.labels[label]
		if !ok {
			return 0, fmt.Errorf("%w: no label %q", ErrFilter, label)
		}
		d := target - at - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("%w: jump of %d instructions to %s", ErrFilter, d, label)
		}
		return uint32(d), nil
	}
	for _, j := range a.jumps {
		jt, err := offset(j.at, j.jt)
		if err != nil {
			return nil, err
		}
		jf, err := offset(j.at, j.jf)
		if err != nil {
			return nil, err
		}
		ins := &a.prog[j.at]
		if ins.Op == bpfJMP|bpfJA {
			ins.K = jt // an unconditional jump keeps its offset in K
			continue
		}
		ins.Jt, ins.Jf = uint8(jt), uint8(jf)
	}
	return a.prog, nil
}
