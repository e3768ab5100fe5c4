package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IP protocol numbers of the transports this package decodes.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// TCP header flags.
const (
	TCPFin = 1 << 0
	TCPSyn = 1 << 1
	TCPRst = 1 << 2
	TCPPsh = 1 << 3
	TCPAck = 1 << 4
)

// Segment is the transport layer of one packet: a TCP segment or a UDP datagram.
type Segment struct {
	Proto    uint8 // ProtoTCP or ProtoUDP
	Src, Dst netip.AddrPort
	Seq, Ack uint32 // TCP only
	Flags    uint8  // TCP only
	// Payload is what the capture holds of the transport payload; PayloadLen is
	// how long the packet said it was. They differ when the capture's snapshot
	// length cut the packet: the missing bytes are a gap in the stream.
	Payload    []byte
	PayloadLen int
}

// ethertypes, address families and IPv6 extension headers that ParsePacket follows.
const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	etherVLAN = 0x8100
	etherQinQ = 0x88a8

	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6DestOpts = 60
)

// ParsePacket decodes a packet's link, network (IPv4 or IPv6) and transport
// (TCP or UDP) headers. Payload aliases data. Packets of other kinds return an
// error wrapping [ErrUnsupported]; headers that are cut short or contradict
// themselves, one wrapping [ErrBadPacket]. Checksums are not verified: captures
// of a host's own packets carry whatever checksum offloading left there.
func ParsePacket(link LinkType, data []byte) (Segment, error) {
	ip, err := linkPayload(link, data)
	if err != nil {
		return Segment{}, err
	}
	if len(ip) == 0 {
		return Segment{}, badPacket("empty network layer")
	}
	switch ip[0] >> 4 {
	case 4:
		return parseIPv4(ip)
	case 6:
		return parseIPv6(ip)
	}
	return Segment{}, unsupported("IP version %d", ip[0]>>4)
}

// linkPayload strips the link-layer header, returning the IP packet, or an
// error for a packet that carries something else.
func linkPayload(link LinkType, b []byte) ([]byte, error) {
	switch link {
	case LinkRaw, linkRawBSD, linkRawOpenBSD, LinkIPv4, LinkIPv6:
		return b, nil
	case LinkEthernet:
		if len(b) < 14 {
			return nil, badPacket("ethernet header of %d bytes", len(b))
		}
		typ, b := binary.BigEndian.Uint16(b[12:]), b[14:]
		for typ == etherVLAN || typ == etherQinQ {
			if len(b) < 4 {
				return nil, badPacket("VLAN tag cut short")
			}
			typ, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
		return ethertypeIP(typ, b)
	case LinkNull, LinkLoop:
		if len(b) < 4 {
			return nil, badPacket("loopback header of %d bytes", len(b))
		}
		// The family is in the capturing host's byte order (big-endian for
		// LinkLoop); families fit in 16 bits, so a big value means swapped.
		family := binary.BigEndian.Uint32(b)
		if link == LinkNull && family > 0xffff {
			family = binary.LittleEndian.Uint32(b)
		}
		switch family {
		case 2: // AF_INET everywhere
			return b[4:], nil
		case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			return b[4:], nil
		}
		return nil, unsupported("loopback family %d", family)
	case LinkLinuxSLL:
		if len(b) < 16 {
			return nil, badPacket("SLL header of %d bytes", len(b))
		}
		return ethertypeIP(binary.BigEndian.Uint16(b[14:]), b[16:])
	case LinkLinuxSLL2:
		if len(b) < 20 {
			return nil, badPacket("SLL2 header of %d bytes", len(b))
		}
		return ethertypeIP(binary.BigEndian.Uint16(b[0:]), b[20:])
	}
	return nil, unsupported("link type %s", link)
}

func ethertypeIP(typ uint16, b []byte) ([]byte, error) {
	if typ == etherIPv4 || typ == etherIPv6 {
		return b, nil
	}
	return nil, unsupported("ethertype %#04x", typ)
}

func parseIPv4(b []byte) (Segment, error) {
	if len(b) < 20 {
		return Segment{}, badPacket("IPv4 header of %d bytes", len(b))
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if total == 0 {
		total = len(b) // segmentation offload: the kernel left the length unset
	}
	if ihl < 20 || total < ihl {
		return Segment{}, badPacket("IPv4 header length %d, total length %d", ihl, total)
	}
	if len(b) < ihl {
		return Segment{}, badPacket("IPv4 options cut short")
	}
	if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3fff != 0 {
		return Segment{}, unsupported("IPv4 fragment")
	}
	src, dst := netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
	// Ethernet pads short frames: the IP total length says where the packet ends.
	return parseTransport(b[9], src, dst, b[ihl:min(total, len(b))], total-ihl)
}

func parseIPv6(b []byte) (Segment, error) {
	if len(b) < 40 {
		return Segment{}, badPacket("IPv6 header of %d bytes", len(b))
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	if plen == 0 {
		plen = len(b) - 40 // a jumbogram, or offload: take what is there
	}
	next := b[6]
	src, dst := netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	rest := b[40:min(40+plen, len(b))]
	for {
		switch next {
		case ipv6HopByHop, ipv6Routing, ipv6DestOpts:
			if len(rest) < 8 {
				return Segment{}, badPacket("IPv6 extension header cut short")
			}
			n := 8 + int(rest[1])*8
			if n > len(rest) {
				return Segment{}, badPacket("IPv6 extension header of %d bytes cut short", n)
			}
			next, rest, plen = rest[0], rest[n:], plen-n
			continue
		case ipv6Fragment:
			return Segment{}, unsupported("IPv6 fragment")
		}
		return parseTransport(next, src, dst, rest, plen)
	}
}

// parseTransport decodes a TCP or UDP header. b is what was captured of the
// transport layer; length is how long the IP header says it is.
func parseTransport(proto uint8, src, dst netip.Addr, b []byte, length int) (Segment, error) {
	switch proto {
	case ProtoTCP:
		if len(b) < 20 {
			return Segment{}, badPacket("TCP header of %d bytes", len(b))
		}
		off := int(b[12]>>4) * 4
		if off < 20 || off > len(b) {
			return Segment{}, badPacket("TCP data offset %d in %d bytes", off, len(b))
		}
		return Segment{
			Proto:      ProtoTCP,
			Src:        netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:])),
			Dst:        netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:])),
			Seq:        binary.BigEndian.Uint32(b[4:]),
			Ack:        binary.BigEndian.Uint32(b[8:]),
			Flags:      b[13],
			Payload:    b[off:],
			PayloadLen: max(length-off, len(b)-off),
		}, nil
	case ProtoUDP:
		if len(b) < 8 {
			return Segment{}, badPacket("UDP header of %d bytes", len(b))
		}
		ulen := int(binary.BigEndian.Uint16(b[4:]))
		if ulen == 0 {
			ulen = length // IPv6 jumbograms and offload
		}
		if ulen < 8 {
			return Segment{}, badPacket("UDP length %d", ulen)
		}
		payload := b[8:min(ulen, len(b))]
		return Segment{
			Proto:      ProtoUDP,
			Src:        netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:])),
			Dst:        netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:])),
			Payload:    payload,
			PayloadLen: max(ulen-8, len(payload)),
		}, nil
	}
	return Segment{}, unsupported("IP protocol %d", proto)
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

func badPacket(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadPacket, fmt.Sprintf(format, args...))
}
