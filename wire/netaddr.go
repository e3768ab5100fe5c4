package wire

import (
	"encoding/binary"
	"net/netip"
)

// Service flags carried in version, addr and addrv2.
const (
	SFNodeNetwork        uint64 = 1 << 0  // serves the whole chain
	SFNodeBloom          uint64 = 1 << 2  // BIP111
	SFNodeWitness        uint64 = 1 << 3  // BIP144
	SFNodeNetworkLimited uint64 = 1 << 10 // BIP159
	// SFNodeCompress is Renga's: the node accepts sendcmpr/cmpr link compression.
	// Bit 24 is in the range BIP159 leaves for experiments.
	SFNodeCompress uint64 = 1 << 24
)

// NetAddr is a network address as the version and addr messages carry it:
// services, a 16-byte IP (IPv4 as IPv4-mapped IPv6) and a big-endian port.
// Decoding unmaps IPv4, so Addr.Addr().Is4() holds for IPv4 peers; encoding maps
// it back, so the bytes round-trip exactly.
type NetAddr struct {
	Services uint64
	Addr     netip.AddrPort
}

func (a *NetAddr) appendTo(b []byte) []byte {
	b = appendU64(b, a.Services)
	ip := a.Addr.Addr().As16()
	b = append(b, ip[:]...)
	return binary.BigEndian.AppendUint16(b, a.Addr.Port())
}

func (a *NetAddr) decode(d *decoder, field string) {
	a.Services = d.u64(field)
	var ip [16]byte
	if p := d.bytes(field, 16); p != nil {
		ip = [16]byte(p)
	}
	port := d.u16be(field)
	a.Addr = netip.AddrPortFrom(netip.AddrFrom16(ip).Unmap(), port)
}

// TimedAddr is an entry of the addr message: a NetAddr and when it was last seen.
type TimedAddr struct {
	Time uint32 // seconds since the Unix epoch
	NetAddr
}

// BIP155 network identifiers.
const (
	NetIPv4  uint8 = 1
	NetIPv6  uint8 = 2
	NetTorV2 uint8 = 3
	NetTorV3 uint8 = 4
	NetI2P   uint8 = 5
	NetCJDNS uint8 = 6
)

// addrV2Sizes gives the address length each known BIP155 network requires; an
// address of another length on a known network is malformed (as in Bitcoin Core).
// Unknown networks carry any length up to MaxAddrV2Size and are passed through.
var addrV2Sizes = [...]int{NetIPv4: 4, NetIPv6: 16, NetTorV2: 10, NetTorV3: 32, NetI2P: 32, NetCJDNS: 16}

// AddrV2 is an entry of the BIP155 addrv2 message.
type AddrV2 struct {
	Time     uint32
	Services uint64
	Network  uint8  // a BIP155 network identifier
	Addr     []byte // the raw address, as long as the network requires
	Port     uint16
}

// AddrPort returns the entry's IP address and port if it is IPv4 or IPv6.
func (a *AddrV2) AddrPort() (netip.AddrPort, bool) {
	switch {
	case a.Network == NetIPv4 && len(a.Addr) == 4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a.Addr)), a.Port), true
	case a.Network == NetIPv6 && len(a.Addr) == 16:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(a.Addr)), a.Port), true
	}
	return netip.AddrPort{}, false
}

// NewAddrV2 builds an IPv4 or IPv6 entry from an address and port.
func NewAddrV2(time uint32, services uint64, ap netip.AddrPort) AddrV2 {
	a := AddrV2{Time: time, Services: services, Port: ap.Port()}
	if ip := ap.Addr().Unmap(); ip.Is4() {
		b := ip.As4()
		a.Network, a.Addr = NetIPv4, b[:]
	} else {
		b := ip.As16()
		a.Network, a.Addr = NetIPv6, b[:]
	}
	return a
}

func (a *AddrV2) appendTo(b []byte) []byte {
	b = appendU32(b, a.Time)
	b = AppendVarint(b, a.Services)
	b = append(b, a.Network)
	b = AppendVarBytes(b, a.Addr)
	return binary.BigEndian.AppendUint16(b, a.Port)
}

func (a *AddrV2) decode(d *decoder) {
	a.Time = d.u32("addrv2.time")
	a.Services = d.varint("addrv2.services")
	a.Network = d.u8("addrv2.network")
	start := d.off
	a.Addr = d.varBytes("addrv2.addr", MaxAddrV2Size)
	if int(a.Network) < len(addrV2Sizes) && addrV2Sizes[a.Network] != 0 &&
		len(a.Addr) != addrV2Sizes[a.Network] && d.ok() {
		d.off = start
		d.fault("addrv2.addr", ErrInvalid)
	}
	a.Port = d.u16be("addrv2.port")
}
