package sock

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// MulticastOptions describe a UDP socket for LAN discovery: one IPv4 group on
// one interface. It is passed by value and not retained.
type MulticastOptions struct {
	// Interface is the name of the interface to join the group on and to
	// send from ("eth0", "lo"). Required: there is no default, because the
	// kernel's default is the route to the group, which may leave the machine.
	Interface string
	// Group is the IPv4 multicast address to join and the UDP port to bind.
	Group netip.AddrPort
	// ReceiveBuffer is SO_RCVBUF in bytes; zero keeps the kernel's default.
	ReceiveBuffer int
}

// Validate reports every problem with o, each wrapping [ErrInvalidOptions].
func (o MulticastOptions) Validate() error {
	var errs []error
	if o.Interface == "" {
		errs = append(errs, fmt.Errorf("%w: no interface named", ErrInvalidOptions))
	}
	if a := o.Group.Addr(); !a.Is4() || !a.IsMulticast() {
		errs = append(errs, fmt.Errorf("%w: group %v is not an IPv4 multicast address", ErrInvalidOptions, a))
	}
	if o.Group.Port() == 0 {
		errs = append(errs, fmt.Errorf("%w: group port is zero", ErrInvalidOptions))
	}
	errs = append(errs, validBuffer("ReceiveBuffer", o.ReceiveBuffer))
	return errors.Join(errs...)
}

// Datagram describes one datagram read by [MulticastConn.ReadDatagram]: who
// sent it, to which address, and on which interface it arrived.
type Datagram struct {
	N   int            // bytes stored in the buffer
	Src netip.AddrPort // the sender's address and port
	// Dst is the destination address of the datagram's IP header
	// (IP_PKTINFO's ipi_addr): the group for a multicast datagram, one of
	// this host's addresses for a unicast one, a broadcast address for a
	// broadcast. It is the zero Addr when the kernel did not say.
	Dst netip.Addr
	// Ifindex is the index of the interface it arrived on (ipi_ifindex),
	// 0 when the kernel did not say.
	Ifindex int
}

// linkRefresh is how old the cached addresses of a MulticastConn's interface
// may get: an address added or removed (by DHCP, say) counts within a
// second, and a flood of datagrams costs at most one read of the interface's
// addresses a second.
const linkRefresh = time.Second

// MulticastConn is the discovery socket [ListenMulticast] opens: a
// *net.UDPConn joined to one group on one interface (see the package
// comment), which also tells, of each datagram it reads, where it was sent
// and on which interface it arrived ([MulticastConn.ReadDatagram]), and
// whether a source address is on that interface's subnets
// ([MulticastConn.OnLink]). The embedded UDPConn's methods work as usual;
// ReadDatagram and ReadFromUDPAddrPort may be mixed, and Close closes the
// socket.
type MulticastConn struct {
	*net.UDPConn
	ifi net.Interface

	mu        sync.Mutex // guards the cache below; OnLink may be called from any goroutine
	prefixes  []netip.Prefix
	refreshed time.Time
}

// Interface returns the index of the interface the conn joined its group on.
func (c *MulticastConn) Interface() int { return c.ifi.Index }

// OnLink reports whether addr is a neighbour on interface ifindex: ifindex
// must be the conn's interface, and addr inside one of the prefixes of that
// interface's addresses (an IPv4-mapped address is taken as IPv4). A /32
// address has no neighbours. The addresses are read when the conn is opened
// and again when the copy is a second old; if they cannot be read, nothing is
// on the link until they can.
func (c *MulticastConn) OnLink(ifindex int, addr netip.Addr) bool {
	if ifindex != c.ifi.Index || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.refreshed) >= linkRefresh {
		c.prefixes, _ = interfacePrefixes(&c.ifi, c.prefixes[:0])
		c.refreshed = now
	}
	for _, p := range c.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// interfacePrefixes appends the prefixes of ifi's addresses (IPv4 ones
// unmapped) to dst. On an error it returns dst as it was given.
func interfacePrefixes(ifi *net.Interface, dst []netip.Prefix) ([]netip.Prefix, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return dst, fmt.Errorf("sock: addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		ones, bits := n.Mask.Size()
		if bits == 128 && ip.Is4() {
			ones -= 96
		}
		if p, err := ip.Prefix(ones); err == nil && bits != 0 {
			dst = append(dst, p)
		}
	}
	return dst, nil
}
