package sock

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ListenMulticastUDP is [ListenMulticast] returning the bare *net.UDPConn,
// which cannot tell where a datagram was sent or whether its source is on
// the link. Discovery should have the [MulticastConn]: it needs what
// ReadDatagram and OnLink tell to refuse unicast and off-link datagrams.
func ListenMulticastUDP(ctx context.Context, o MulticastOptions) (*net.UDPConn, error) {
	c, err := ListenMulticast(ctx, o)
	if err != nil {
		return nil, err
	}
	return c.UDPConn, nil
}

// ListenMulticast opens the discovery socket described by o (see the package
// comment for every option and why). Datagrams written to o.Group leave
// through o.Interface only, with TTL 1, and loop back to other sockets of
// this host that joined the group; reads return the datagrams sent to the
// group by anyone on the link, this socket's own included, and those sent to
// its port by unicast, which [MulticastConn.ReadDatagram] tells apart.
func ListenMulticast(ctx context.Context, o MulticastOptions) (*MulticastConn, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrNoInterface, o.Interface, err)
	}
	// The source address the kernel would choose on a loopback interface is
	// 0.0.0.0 (see the package comment), so name the interface's own.
	var source [4]byte
	if ifi.Flags&net.FlagLoopback != 0 {
		source, err = firstIPv4(ifi)
		if err != nil {
			return nil, fmt.Errorf("sock: interface %s: %w", o.Interface, err)
		}
	}
	lc := net.ListenConfig{
		Control: func(_, _ string, c syscall.RawConn) error {
			return control(c, func(fd int) error { return joinGroup(fd, ifi, source, o) })
		},
	}
	// The runtime binds a multicast address as the wildcard anyway; say so
	// here. IP_MULTICAST_ALL off does the filtering a bind to the group
	// would have done.
	bind := net.JoinHostPort("0.0.0.0", strconv.Itoa(int(o.Group.Port())))
	pc, err := lc.ListenPacket(ctx, "udp4", bind)
	if err != nil {
		return nil, fmt.Errorf("sock: multicast %v on %s: %w", o.Group, o.Interface, err)
	}
	c := &MulticastConn{UDPConn: pc.(*net.UDPConn), ifi: *ifi, refreshed: time.Now()}
	if c.prefixes, err = interfacePrefixes(ifi, nil); err != nil {
		_ = c.Close() // the addresses' error is the one to report
		return nil, err
	}
	return c, nil
}

// ReadDatagram reads one datagram into b, like ReadFromUDPAddrPort, and
// tells from IP_PKTINFO where it was sent and on which interface it arrived.
// A datagram longer than b is cut to len(b). Errors are the UDPConn's
// (os.ErrDeadlineExceeded after a deadline, net.ErrClosed after Close).
func (c *MulticastConn) ReadDatagram(b []byte) (Datagram, error) {
	var oob [64]byte // room for one in_pktinfo message (32 bytes on 64-bit Linux)
	n, oobn, _, src, err := c.ReadMsgUDPAddrPort(b, oob[:])
	if err != nil {
		return Datagram{}, err
	}
	d := Datagram{N: n, Src: src}
	d.Dst, d.Ifindex = packetInfo(oob[:oobn])
	return d, nil
}

// packetInfo finds the IP_PKTINFO control message in oob and returns its
// header destination address and interface index (zero values if there is
// none).
func packetInfo(oob []byte) (netip.Addr, int) {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		if h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo {
			// struct in_pktinfo { int ipi_ifindex; struct in_addr
			// ipi_spec_dst; struct in_addr ipi_addr; }
			ifindex := int(int32(binary.NativeEndian.Uint32(data)))
			return netip.AddrFrom4([4]byte(data[8:12])), ifindex
		}
		oob = rest
	}
	return netip.Addr{}, 0
}

// joinGroup sets every option of the discovery socket on fd, before bind.
func joinGroup(fd int, ifi *net.Interface, source [4]byte, o MulticastOptions) error {
	opts := []intOption{
		// Both before bind: several nodes on one host bind the same port.
		{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
		{"SO_REUSEPORT", unix.SOL_SOCKET, unix.SO_REUSEPORT, 1},
		// Linux delivers to a wildcard-bound socket the datagrams of every
		// group any socket of the host joined on that port unless this is
		// off (ip(7)).
		{"IP_MULTICAST_ALL", unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0},
		{"IP_MULTICAST_TTL", unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1},
		{"IP_MULTICAST_LOOP", unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1},
		// Each datagram's destination and interface, for ReadDatagram.
		{"IP_PKTINFO", unix.IPPROTO_IP, unix.IP_PKTINFO, 1},
	}
	if o.ReceiveBuffer > 0 {
		opts = append(opts, intOption{"SO_RCVBUF", unix.SOL_SOCKET, unix.SO_RCVBUF, o.ReceiveBuffer})
	}
	if err := setInts(fd, opts); err != nil {
		return err
	}
	group := o.Group.Addr().As4()
	join := unix.IPMreqn{Multiaddr: group, Ifindex: int32(ifi.Index)}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &join); err != nil {
		return fmt.Errorf("sock: IP_ADD_MEMBERSHIP %v on %s: %w", o.Group.Addr(), ifi.Name, os.NewSyscallError("setsockopt", err))
	}
	// By index, so the choice survives the interface being renumbered; the
	// address is set only where the kernel would not pick a usable one.
	out := unix.IPMreqn{Address: source, Ifindex: int32(ifi.Index)}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &out); err != nil {
		return fmt.Errorf("sock: IP_MULTICAST_IF %s: %w", ifi.Name, os.NewSyscallError("setsockopt", err))
	}
	return nil
}

// firstIPv4 returns the first IPv4 address of ifi.
func firstIPv4(ifi *net.Interface) ([4]byte, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return [4]byte{}, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() {
				return ip.Unmap().As4(), nil
			}
		}
	}
	return [4]byte{}, fmt.Errorf("%w: no IPv4 address to send multicast from", ErrInvalidOptions)
}
