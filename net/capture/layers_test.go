package capture

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

var (
	v6a = netip.MustParseAddrPort("[2001:db8::1]:40112")
	v6b = netip.MustParseAddrPort("[2001:db8::2]:28333")
)

// frame wraps an IP packet in a link-layer header.
func frame(link LinkType, ip []byte) []byte {
	v6 := ip[0]>>4 == 6
	ethertype := uint16(etherIPv4)
	if v6 {
		ethertype = etherIPv6
	}
	switch link {
	case LinkEthernet:
		h := make([]byte, 12)
		return append(binary.BigEndian.AppendUint16(h, ethertype), ip...)
	case LinkNull:
		af := uint32(2)
		if v6 {
			af = 10
		}
		return append(binary.LittleEndian.AppendUint32(nil, af), ip...) // a little-endian host
	case LinkLoop:
		af := uint32(2)
		if v6 {
			af = 24
		}
		return append(binary.BigEndian.AppendUint32(nil, af), ip...)
	case LinkLinuxSLL:
		h := make([]byte, 14)
		return append(binary.BigEndian.AppendUint16(h, ethertype), ip...)
	case LinkLinuxSLL2:
		h := binary.BigEndian.AppendUint16(nil, ethertype)
		return append(append(h, make([]byte, 18)...), ip...)
	}
	return ip
}

func TestParsePacketLinkTypes(t *testing.T) {
	payload := []byte("some bytes of a frame")
	for _, ip := range []struct {
		name     string
		src, dst netip.AddrPort
	}{{"ipv4", nodeAddr, peerAddr}, {"ipv6", v6a, v6b}} {
		tcp := appendTCPPacket(nil, ip.src, ip.dst, 9, tcpFields{seq: 77, ack: 88, flags: TCPAck | TCPPsh, window: 100}, payload)
		udp := appendUDPPacket(nil, ip.src, ip.dst, 9, payload)
		for _, link := range []LinkType{LinkEthernet, LinkRaw, LinkNull, LinkLoop, LinkLinuxSLL, LinkLinuxSLL2, LinkIPv4, LinkIPv6, linkRawBSD} {
			if (link == LinkIPv4 && ip.name == "ipv6") || (link == LinkIPv6 && ip.name == "ipv4") {
				continue
			}
			t.Run(ip.name+"/"+link.String(), func(t *testing.T) {
				s, err := ParsePacket(link, frame(link, tcp))
				if err != nil {
					t.Fatal(err)
				}
				if s.Proto != ProtoTCP || s.Src != ip.src || s.Dst != ip.dst || s.Seq != 77 || s.Ack != 88 ||
					s.Flags != TCPAck|TCPPsh || string(s.Payload) != string(payload) || s.PayloadLen != len(payload) {
					t.Fatalf("TCP: %+v", s)
				}
				s, err = ParsePacket(link, frame(link, udp))
				if err != nil {
					t.Fatal(err)
				}
				if s.Proto != ProtoUDP || s.Src != ip.src || s.Dst != ip.dst || string(s.Payload) != string(payload) {
					t.Fatalf("UDP: %+v", s)
				}
			})
		}
	}
}

func TestParsePacketSpecialCases(t *testing.T) {
	payload := []byte("abc")
	tcp4 := appendTCPPacket(nil, nodeAddr, peerAddr, 1, tcpFields{seq: 1}, payload)
	tcp6 := appendTCPPacket(nil, v6a, v6b, 1, tcpFields{seq: 1}, payload)

	t.Run("ethernet padding is not payload", func(t *testing.T) {
		s, err := ParsePacket(LinkEthernet, append(frame(LinkEthernet, tcp4), 0, 0, 0, 0, 0, 0))
		if err != nil || string(s.Payload) != "abc" {
			t.Fatalf("%q, %v", s.Payload, err)
		}
	})
	t.Run("VLAN tag", func(t *testing.T) {
		f := frame(LinkEthernet, tcp4)
		tagged := append(append(append([]byte(nil), f[:12]...), 0x81, 0x00, 0x00, 0x05), f[12:]...)
		s, err := ParsePacket(LinkEthernet, tagged)
		if err != nil || s.Dst != peerAddr {
			t.Fatalf("%+v, %v", s, err)
		}
	})
	t.Run("IPv6 extension header", func(t *testing.T) {
		p := append([]byte(nil), tcp6[:40]...)
		p[6] = ipv6HopByHop
		binary.BigEndian.PutUint16(p[4:], uint16(len(tcp6)-40+8))
		p = append(p, ProtoTCP, 0, 1, 4, 0, 0, 0, 0) // next header TCP, 8 bytes of padding options
		p = append(p, tcp6[40:]...)
		s, err := ParsePacket(LinkRaw, p)
		if err != nil || string(s.Payload) != "abc" {
			t.Fatalf("%+v, %v", s, err)
		}
	})
	t.Run("cut by snaplen", func(t *testing.T) {
		s, err := ParsePacket(LinkRaw, tcp4[:len(tcp4)-2])
		if err != nil || string(s.Payload) != "a" || s.PayloadLen != 3 {
			t.Fatalf("%q of %d, %v", s.Payload, s.PayloadLen, err)
		}
	})
	for _, tc := range []struct {
		name string
		link LinkType
		data []byte
		want error
	}{
		{"ARP", LinkEthernet, append(make([]byte, 12), 0x08, 0x06, 1, 2, 3), ErrUnsupported},
		{"ICMP", LinkRaw, func() []byte { p := append([]byte(nil), tcp4...); p[9] = 1; return p }(), ErrUnsupported},
		{"IPv4 fragment", LinkRaw, func() []byte { p := append([]byte(nil), tcp4...); p[6] = 0x20; return p }(), ErrUnsupported},
		{"IPv6 fragment", LinkRaw, func() []byte { p := append([]byte(nil), tcp6...); p[6] = ipv6Fragment; return p }(), ErrUnsupported},
		{"unknown link type", LinkType(999), tcp4, ErrUnsupported},
		{"IP version 5", LinkRaw, []byte{0x50, 1, 2, 3}, ErrUnsupported},
		{"empty", LinkRaw, nil, ErrBadPacket},
		{"short ethernet", LinkEthernet, make([]byte, 10), ErrBadPacket},
		{"short IPv4", LinkRaw, tcp4[:19], ErrBadPacket},
		{"short TCP", LinkRaw, tcp4[:30], ErrBadPacket},
		{"IPv4 header length", LinkRaw, func() []byte { p := append([]byte(nil), tcp4...); p[0] = 0x43; return p }(), ErrBadPacket},
		{"TCP data offset", LinkRaw, func() []byte { p := append([]byte(nil), tcp4...); p[32] = 0xf0; return p }(), ErrBadPacket},
		{"short IPv6", LinkRaw, tcp6[:39], ErrBadPacket},
		{"short null header", LinkNull, []byte{2, 0}, ErrBadPacket},
		{"null family", LinkNull, append([]byte{7, 0, 0, 0}, tcp4...), ErrUnsupported},
		{"short SLL", LinkLinuxSLL, make([]byte, 15), ErrBadPacket},
		{"short SLL2", LinkLinuxSLL2, make([]byte, 19), ErrBadPacket},
		{"UDP length", LinkRaw, func() []byte {
			p := appendUDPPacket(nil, nodeAddr, peerAddr, 1, payload)
			p[25] = 3
			return p
		}(), ErrBadPacket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePacket(tc.link, tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSynthesizedChecksums checks the recorder's IP, TCP and UDP checksums
// the way a receiver does: summing a header or segment with its checksum
// (and the pseudo-header) gives all ones.
func TestSynthesizedChecksums(t *testing.T) {
	for _, size := range []int{0, 1, 2, 3, 1459, 1460, 65000} {
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i*7 + size)
		}
		for _, pkt := range [][]byte{
			appendTCPPacket(nil, nodeAddr, peerAddr, uint16(size), tcpFields{seq: 1, ack: 2, flags: TCPAck, window: 5, options: []byte{2, 4, 5, 0xb4}}, payload),
			appendUDPPacket(nil, nodeAddr, peerAddr, 3, payload),
			appendTCPPacket(nil, v6a, v6b, 0, tcpFields{seq: 1}, payload),
			appendUDPPacket(nil, v6a, v6b, 0, payload),
		} {
			l4 := 40
			var pseudo uint32
			if pkt[0]>>4 == 4 {
				l4 = 20
				if got := fold(sum(0, pkt[:20])); got != 0xffff {
					t.Fatalf("size %d: IPv4 header sums to %#x", size, got)
				}
				pseudo = sum(0, pkt[12:20]) + uint32(pkt[9]) + uint32(len(pkt)-20)
			} else {
				pseudo = sum(0, pkt[8:40]) + uint32(pkt[6]) + uint32(len(pkt)-40)
			}
			if got := fold(sum(pseudo, pkt[l4:])); got != 0xffff {
				t.Fatalf("size %d, IPv%d: transport sums to %#x", size, pkt[0]>>4, got)
			}
		}
	}
}
