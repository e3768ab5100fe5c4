package addrbook

import (
	"fmt"
	"net/netip"
)

// A Group is a set of addresses that one operator can plausibly hold many
// of: a /16 of IPv4, a /32 of IPv6 (a /36 in Hurricane Electric's tunnel
// block, where a /32 is one provider's whole customer base). Addresses on a
// LAN are each their own group. Group is comparable; the zero Group is the
// single group of every address that is neither routable nor local.
type Group struct {
	kind groupKind
	bits [16]byte // the prefix (or the whole address for a local one), zero past it
}

type groupKind uint8

const (
	groupUnroutable groupKind = iota
	groupIPv4                 // bits[:2]: a /16
	groupIPv6                 // bits[:4]: a /32
	groupHENet                // bits[:5] with the low nibble of bits[4] clear: a /36
	groupLocal                // bits: the whole address
)

// String names the group as a prefix ("1.2.0.0/16", "2001:db8::/32"), or
// the address for a local one ("local 192.168.1.7").
func (g Group) String() string {
	switch g.kind {
	case groupIPv4:
		return fmt.Sprintf("%d.%d.0.0/16", g.bits[0], g.bits[1])
	case groupIPv6:
		return netip.PrefixFrom(netip.AddrFrom16(g.bits), 32).String()
	case groupHENet:
		return netip.PrefixFrom(netip.AddrFrom16(g.bits), 36).String()
	case groupLocal:
		return "local " + netip.AddrFrom16(g.bits).Unmap().String()
	}
	return "unroutable"
}

// GroupOf returns ip's group: for a public address the /16 (IPv4, and IPv6
// addresses that carry an IPv4 address: 6to4, Teredo, NAT64) or the /32
// (other IPv6; /36 in 2001:470::/32); for a local address ([IsLocal]) the
// address itself, so that every machine of a LAN is its own group; one group
// for everything else.
func GroupOf(ip netip.Addr) Group {
	ip = ip.Unmap()
	switch {
	case isLocal(ip):
		return Group{kind: groupLocal, bits: ip.As16()}
	case !ip.IsValid() || !routable(ip):
		return Group{}
	}
	if v4, ok := linkedIPv4(ip); ok {
		return Group{kind: groupIPv4, bits: [16]byte{v4[0], v4[1]}}
	}
	b := ip.As16()
	if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x04 && b[3] == 0x70 {
		return Group{kind: groupHENet, bits: [16]byte{b[0], b[1], b[2], b[3], b[4] & 0xf0}}
	}
	return Group{kind: groupIPv6, bits: [16]byte{b[0], b[1], b[2], b[3]}}
}

// linkedIPv4 returns the IPv4 address that ip is or that an IPv6 transition
// mechanism embeds in it, so that one IPv4 /16 cannot pose as many IPv6
// groups.
func linkedIPv4(ip netip.Addr) ([4]byte, bool) {
	if ip.Is4() {
		return ip.As4(), true
	}
	b := ip.As16()
	switch {
	case b[0] == 0x20 && b[1] == 0x02: // 6to4, RFC 3964: 2002:AABB:CCDD::/48
		return [4]byte{b[2], b[3], b[4], b[5]}, true
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0: // Teredo, RFC 4380: client address inverted
		return [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}, true
	case prefixEq(b, nat64): // NAT64, RFC 6052: 64:ff9b::/96
		return [4]byte{b[12], b[13], b[14], b[15]}, true
	}
	return [4]byte{}, false
}

var nat64 = []byte{0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}

func prefixEq(b [16]byte, p []byte) bool { return string(b[:len(p)]) == string(p) }

// IsLocal reports whether ip is a LAN or same-machine address: loopback,
// private (RFC 1918), shared (CGNAT, RFC 6598), link-local, or IPv6 unique
// local (fc00::/7). Such addresses are never routable and each is its own
// [Group].
func IsLocal(ip netip.Addr) bool { return isLocal(ip.Unmap()) }

// isLocal is IsLocal of an unmapped address.
func isLocal(ip netip.Addr) bool {
	if ip.Is4() {
		b := ip.As4()
		if b[0] == 100 && b[1]&0xc0 == 64 { // 100.64.0.0/10
			return true
		}
	}
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()
}

// IsRoutable reports whether ip is a public unicast address: one a node on
// the Internet could reach. Local addresses, unspecified, multicast,
// broadcast and reserved addresses, and the documentation, benchmarking and
// ORCHID ranges are not.
func IsRoutable(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && !isLocal(ip) && routable(ip)
}

// routable is IsRoutable of a valid, unmapped, non-local address.
func routable(ip netip.Addr) bool {
	if ip.IsUnspecified() || ip.IsMulticast() {
		return false
	}
	if ip.Is4() {
		return routable4(ip.As4())
	}
	if v4, ok := linkedIPv4(ip); ok { // reachable if what it carries is
		return !isLocal(netip.AddrFrom4(v4)) && routable4(v4)
	}
	b := ip.As16()
	switch {
	case b[0]&0xe0 != 0x20: // outside 2000::/3, the global unicast space
		return false
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8: // 2001:db8::/32, documentation
		return false
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && (b[3]&0xf0 == 0x10 || b[3]&0xf0 == 0x20): // ORCHID (v1, v2)
		return false
	}
	return true
}

// routable4 reports whether a non-local IPv4 address is public.
func routable4(b [4]byte) bool {
	switch {
	case b[0] == 0, b[0] >= 224: // "this network", multicast, reserved, broadcast
		return false
	case b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2): // IETF protocol assignments, TEST-NET-1
		return false
	case b[0] == 198 && b[1]&0xfe == 18: // 198.18.0.0/15, benchmarking
		return false
	case b[0] == 198 && b[1] == 51 && b[2] == 100, b[0] == 203 && b[1] == 0 && b[2] == 113: // TEST-NET-2, -3
		return false
	}
	return true
}
