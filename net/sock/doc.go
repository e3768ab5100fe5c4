// Package sock opens the node's sockets with the options Renga needs, set
// through golang.org/x/sys/unix; it is the only package that imports it
// (design.md §2). It is for the wiring code of the node and its tests: the
// protocol packages (net/peer, net/discover) take narrow interfaces and never
// see a file descriptor.
//
// # TCP
//
// [ListenTCP] and [DialTCP] return ordinary *net.TCPListener and *net.TCPConn
// values, made by net.ListenConfig and net.Dialer with a Control function
// that sets [TCPOptions] on the socket before bind/listen or connect:
// SO_REUSEADDR (listeners), TCP_NODELAY, SO_KEEPALIVE with TCP_KEEPIDLE,
// TCP_KEEPINTVL and TCP_KEEPCNT, and SO_SNDBUF/SO_RCVBUF. Setting them before
// the handshake matters for the buffers: the window scale is fixed by the SYN,
// so a receive buffer enlarged afterwards cannot be advertised in full. Linux
// copies all of these from a listener to the connections it accepts, so
// accepted connections carry the same options. The runtime's own keep-alive
// defaults are switched off (KeepAlive: -1) so they do not overwrite ours.
//
// # UDP multicast
//
// [ListenMulticast] returns a [MulticastConn]: a *net.UDPConn (so it works
// with the runtime poller, deadlines and ReadFromUDPAddrPort) joined to one
// IPv4 group on one named interface, for LAN discovery: SO_REUSEADDR and
// SO_REUSEPORT so several nodes on one host share the group port; bound to
// the wildcard address and the group port; IP_MULTICAST_ALL off so it
// receives only the groups it joined itself; IP_ADD_MEMBERSHIP and
// IP_MULTICAST_IF naming the interface explicitly; IP_MULTICAST_TTL 1 so
// nothing is routed off the link; IP_MULTICAST_LOOP on so nodes on the same
// host hear each other; and IP_PKTINFO on. Only IPv4 multicast is supported:
// discovery needs one group on one link, and IPv4 is what every LAN has.
// ([ListenMulticastUDP] is the same socket without the wrapper.)
//
// A socket bound to the wildcard address also receives datagrams sent to its
// port by unicast, from anywhere a route reaches. [MulticastConn.ReadDatagram]
// therefore reads with recvmsg and reports, from IP_PKTINFO, the destination
// address of each datagram's IP header and the interface it arrived on, so
// that discovery can keep only what was sent to the group; and
// [MulticastConn.OnLink] tells whether a source address is inside a prefix of
// that interface's addresses (read at open, then again when a second old), so
// that it can keep only what its neighbours sent.
//
// The outgoing interface is always explicit. Without IP_MULTICAST_IF the
// kernel picks the interface of the route to the group, which on a host is
// usually the default route: a multicast datagram there leaves the machine
// (design.md §6, "Network safety"). With it, a namespace with nothing but a
// loopback interface needs no multicast route at all. On a loopback interface
// the socket also names the interface's IPv4 address as the multicast source:
// loopback addresses have host scope, and the kernel's choice of a link-scope
// source would otherwise be 0.0.0.0, which tells a receiver nothing.
//
// [DefaultInterface] names the interface of the IPv4 default route, for a
// node whose user names none; tests never use it.
//
// # Live capture
//
// [ListenPacket] opens the AF_PACKET socket of `renga capture` (Linux only,
// CAP_NET_RAW), a [PacketConn] with a BPF filter attached before it is bound.
//
// # Ownership and concurrency
//
// Every function returns a new socket owned by the caller, who closes it;
// the package keeps no state and all functions are safe for concurrent use.
//
// # Errors
//
// Options that cannot be right wrap [ErrInvalidOptions] (checked before any
// socket is made); an interface name that cannot be resolved wraps
// [ErrNoInterface]. Everything else comes from the kernel: it wraps an
// *os.SyscallError whose errno callers match with errors.Is (for example
// syscall.EADDRINUSE), with the option or call that failed in the message.
// On systems other than Linux the TCP and multicast functions return an
// error wrapping errors.ErrUnsupported, and ListenPacket does not exist.
package sock
