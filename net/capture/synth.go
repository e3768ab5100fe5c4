package capture

import (
	"encoding/binary"
	"net/netip"
)

// Synthesized packets: what the Recorder writes so that a node's messages look
// like the TCP segments and UDP datagrams that carried them. IPv4 when both
// addresses are IPv4 (or IPv4-mapped), IPv6 otherwise; checksums are computed,
// so Wireshark's checksum validation passes.

// tcpFields are the parts of a TCP header that vary between segments.
type tcpFields struct {
	seq, ack uint32
	flags    uint8
	window   uint16
	options  []byte // a multiple of 4 bytes
}

// maxUDPPayload keeps a synthesized datagram within the IPv4 length field.
const maxUDPPayload = 65535 - 20 - 8

// appendTCPPacket appends an IP packet carrying one TCP segment.
func appendTCPPacket(b []byte, src, dst netip.AddrPort, id uint16, h tcpFields, payload []byte) []byte {
	start := len(b)
	b, l4 := appendIPHeader(b, src.Addr(), dst.Addr(), id, ProtoTCP, 20+len(h.options)+len(payload))
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint32(b, h.seq)
	b = binary.BigEndian.AppendUint32(b, h.ack)
	b = append(b, byte((20+len(h.options))/4)<<4, h.flags)
	b = binary.BigEndian.AppendUint16(b, h.window)
	b = append(b, 0, 0, 0, 0) // checksum, urgent pointer
	b = append(b, h.options...)
	b = append(b, payload...)
	putTransportChecksum(b[start:], l4, 16)
	return b
}

// appendUDPPacket appends an IP packet carrying one UDP datagram.
func appendUDPPacket(b []byte, src, dst netip.AddrPort, id uint16, payload []byte) []byte {
	if len(payload) > maxUDPPayload {
		payload = payload[:maxUDPPayload]
	}
	start := len(b)
	b, l4 := appendIPHeader(b, src.Addr(), dst.Addr(), id, ProtoUDP, 8+len(payload))
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 0, 0)
	b = append(b, payload...)
	putTransportChecksum(b[start:], l4, 6)
	return b
}

// appendIPHeader appends an IPv4 or IPv6 header for a transport payload of n
// bytes and returns the offset (from the header's start) of the transport layer.
func appendIPHeader(b []byte, src, dst netip.Addr, id uint16, proto uint8, n int) ([]byte, int) {
	src, dst = src.Unmap(), dst.Unmap()
	if src.Is4() && dst.Is4() {
		start := len(b)
		b = append(b, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(20+n))
		b = binary.BigEndian.AppendUint16(b, id)
		b = append(b, 0x40, 0, 64, proto, 0, 0) // don't fragment, TTL 64, checksum later
		s, d := src.As4(), dst.As4()
		b = append(append(b, s[:]...), d[:]...)
		binary.BigEndian.PutUint16(b[start+10:], ^fold(sum(0, b[start:start+20])))
		return b, 20
	}
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = append(b, proto, 64)
	s, d := src.As16(), dst.As16()
	b = append(append(b, s[:]...), d[:]...)
	return b, 40
}

// putTransportChecksum computes the TCP or UDP checksum of the packet pkt
// (IP header at 0, transport at l4) over the pseudo-header and stores it at
// l4+at.
func putTransportChecksum(pkt []byte, l4, at int) {
	var acc uint32
	seg := pkt[l4:]
	if l4 == 20 { // IPv4 pseudo-header: addresses, protocol, length
		acc = sum(acc, pkt[12:20])
		acc += uint32(pkt[9]) + uint32(len(seg))
	} else { // IPv6 pseudo-header: addresses, length, next header
		acc = sum(acc, pkt[8:40])
		acc += uint32(len(seg)) + uint32(pkt[6])
	}
	c := ^fold(sum(acc, seg))
	if c == 0 && pkt[9] == ProtoUDP && l4 == 20 {
		c = 0xffff // UDP over IPv4: zero means "no checksum"
	}
	if c == 0 && l4 == 40 && pkt[6] == ProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[at:], c)
}

// sum adds b as big-endian 16-bit words (odd length padded with zero) to acc,
// the one's-complement sum of the Internet checksum (RFC 1071) before folding.
func sum(acc uint32, b []byte) uint32 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
		if acc >= 1<<31 {
			acc = acc&0xffff + acc>>16
		}
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}
