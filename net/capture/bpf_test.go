package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

// runBPF is a classic BPF interpreter for the instructions PortFilter uses,
// with the kernel's rules: a load past the end of the packet ends the
// program with 0 (drop), and so does any instruction it does not know.
func runBPF(prog []BPFInstruction, pkt []byte) (uint32, error) {
	var a, x uint32
	load := func(off uint32, size int) (uint32, bool) {
		if uint64(off)+uint64(size) > uint64(len(pkt)) {
			return 0, false
		}
		switch size {
		case 1:
			return uint32(pkt[off]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		}
		return binary.BigEndian.Uint32(pkt[off:]), true
	}
	sizes := map[uint16]int{bpfW: 4, bpfH: 2, bpfB: 1}
	for pc, steps := 0, 0; ; pc, steps = pc+1, steps+1 {
		if pc >= len(prog) || steps > len(prog) {
			return 0, fmt.Errorf("ran off the program at %d", pc)
		}
		ins := prog[pc]
		switch class := ins.Op & 0x07; class {
		case bpfLD:
			var off uint32
			switch mode := ins.Op & 0xe0; mode {
			case bpfABS:
				off = ins.K
			case bpfIND:
				off = x + ins.K
			default:
				return 0, fmt.Errorf("ld mode %#x", mode)
			}
			v, ok := load(off, sizes[ins.Op&0x18])
			if !ok {
				return 0, nil
			}
			a = v
		case bpfLDX:
			if ins.Op != bpfLDX|bpfB|bpfMSH {
				return 0, fmt.Errorf("ldx %#x", ins.Op)
			}
			v, ok := load(ins.K, 1)
			if !ok {
				return 0, nil
			}
			x = 4 * (v & 0x0f)
		case bpfJMP:
			var cond bool
			switch op := ins.Op & 0xf0; op {
			case bpfJA:
				pc += int(ins.K)
				continue
			case bpfJEQ:
				cond = a == ins.K
			case bpfJSET:
				cond = a&ins.K != 0
			default:
				return 0, fmt.Errorf("jmp op %#x", op)
			}
			if cond {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case bpfRET:
			return ins.K, nil
		default:
			return 0, fmt.Errorf("instruction class %#x", class)
		}
	}
}

func TestPortFilter(t *testing.T) {
	prog, err := PortFilter(DefaultPorts(), 65535)
	if err != nil {
		t.Fatal(err)
	}
	eth := func(ip []byte) []byte { return frame(LinkEthernet, ip) }
	at := func(a netip.AddrPort, port uint16) netip.AddrPort { return netip.AddrPortFrom(a.Addr(), port) }
	other := netip.MustParseAddrPort("10.0.0.3:80")
	withOptions := func(p []byte) []byte { // an IPv4 header of 24 bytes
		q := append(append(append([]byte(nil), p[:20]...), 1, 1, 1, 0), p[20:]...)
		q[0] = 0x46
		binary.BigEndian.PutUint16(q[2:], uint16(len(q)))
		return q
	}
	for _, tc := range []struct {
		name   string
		pkt    []byte
		accept bool
	}{
		{"TCP to regtest", eth(appendTCPPacket(nil, nodeAddr, peerAddr, 1, tcpFields{}, []byte("x"))), true},
		{"TCP from regtest", eth(appendTCPPacket(nil, peerAddr, nodeAddr, 1, tcpFields{}, nil)), true},
		{"TCP to devnet", eth(appendTCPPacket(nil, nodeAddr, at(peerAddr, PortDevnet), 1, tcpFields{}, nil)), true},
		{"UDP beacon", eth(appendUDPPacket(nil, beaconSrc, group, 1, []byte("rnga"))), true},
		{"UDP to mainnet port", eth(appendUDPPacket(nil, other, at(peerAddr, PortMainnet), 1, nil)), true},
		{"TCP elsewhere", eth(appendTCPPacket(nil, nodeAddr, other, 1, tcpFields{}, nil)), false},
		{"UDP elsewhere", eth(appendUDPPacket(nil, nodeAddr, other, 1, nil)), false},
		{"IPv4 options", eth(withOptions(appendTCPPacket(nil, nodeAddr, peerAddr, 1, tcpFields{}, nil))), true},
		{"IPv4 options elsewhere", eth(withOptions(appendTCPPacket(nil, nodeAddr, other, 1, tcpFields{}, nil))), false},
		{"IPv6 TCP", eth(appendTCPPacket(nil, v6a, v6b, 1, tcpFields{}, nil)), true},
		{"IPv6 UDP", eth(appendUDPPacket(nil, at(v6a, 9), at(v6b, PortDiscovery), 1, nil)), true},
		{"IPv6 elsewhere", eth(appendTCPPacket(nil, at(v6a, 1000), at(v6b, 2000), 1, tcpFields{}, nil)), false},
		{"IPv4 later fragment", func() []byte {
			p := eth(appendTCPPacket(nil, nodeAddr, peerAddr, 1, tcpFields{}, nil))
			p[14+6] = 0x00
			p[14+7] = 0x10
			return p
		}(), false},
		{"ICMP", func() []byte {
			p := eth(appendTCPPacket(nil, nodeAddr, peerAddr, 1, tcpFields{}, nil))
			p[14+9] = 1
			return p
		}(), false},
		{"ARP", append(make([]byte, 12), 0x08, 0x06, 0, 1, 8, 0, 6, 4), false},
		{"cut before the ports", eth(appendTCPPacket(nil, nodeAddr, peerAddr, 1, tcpFields{}, nil))[:14+20+1], false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runBPF(prog, tc.pkt)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]uint32{true: 65535, false: 0}[tc.accept]; got != want {
				t.Fatalf("program returned %d, want %d", got, want)
			}
		})
	}
}

func TestPortFilterLimits(t *testing.T) {
	if _, err := PortFilter(nil, 0); !errors.Is(err, ErrFilter) {
		t.Fatalf("no ports: %v", err)
	}
	var many []uint16
	for p := range uint16(MaxFilterPorts + 1) {
		many = append(many, 1000+p)
	}
	if _, err := PortFilter(many, 0); !errors.Is(err, ErrFilter) {
		t.Fatalf("%d ports: %v", len(many), err)
	}
	prog, err := PortFilter(many[:MaxFilterPorts], 0)
	if err != nil {
		t.Fatalf("%d ports: %v", MaxFilterPorts, err)
	}
	// The last port of the largest program still reaches accept, from IPv4
	// and from IPv6.
	last := netip.AddrPortFrom(peerAddr.Addr(), many[MaxFilterPorts-1])
	for _, pkt := range [][]byte{
		frame(LinkEthernet, appendTCPPacket(nil, nodeAddr, last, 1, tcpFields{}, nil)),
		frame(LinkEthernet, appendUDPPacket(nil, v6a, netip.AddrPortFrom(v6b.Addr(), last.Port()), 1, nil)),
	} {
		if got, err := runBPF(prog, pkt); err != nil || got != 262144 {
			t.Fatalf("returned %d (%v), want the default snaplen", got, err)
		}
	}
}
