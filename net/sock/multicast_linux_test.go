package sock_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/renga-p2p/renga/net/sock"
	"github.com/renga-p2p/renga/net/sock/nstest"
)

var (
	group      = netip.MustParseAddrPort("239.255.82.71:28334")
	otherGroup = netip.MustParseAddrPort("239.255.82.72:28334")
	loopback   = netip.MustParseAddr("127.0.0.1")
)

// readTimeout bounds every read of these tests; nothing waits for it unless
// a datagram is lost.
const readTimeout = 10 * time.Second

func listen(t *testing.T, o sock.MulticastOptions) *sock.MulticastConn {
	t.Helper()
	c, err := sock.ListenMulticast(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// read returns the next datagram on c.
func read(t *testing.T, c *sock.MulticastConn) (string, netip.AddrPort) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf[:n]), from
}

// readDatagram returns the next datagram on c with what IP_PKTINFO says.
func readDatagram(t *testing.T, c *sock.MulticastConn) (string, sock.Datagram) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	d, err := c.ReadDatagram(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf[:d.N]), d
}

// joined reports whether /proc/net/igmp lists group on the interface.
func joined(t *testing.T, ifname string, g netip.Addr) bool {
	t.Helper()
	f, err := os.Open("/proc/net/igmp")
	if err != nil {
		t.Skipf("cannot read /proc/net/igmp: %v", err)
	}
	defer func() { _ = f.Close() }() // read-only
	// Lines: "1\tlo        :     2      V3" starts a device; group lines
	// follow, indented, the address in host-order hex ("4752FFEF" for
	// 239.255.82.71 on little-endian machines).
	a := g.As4()
	want := fmt.Sprintf("%02X%02X%02X%02X", a[3], a[2], a[1], a[0])
	dev := ""
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !strings.HasPrefix(line, "\t") && len(fields) >= 2 {
			dev = fields[1]
			continue
		}
		if dev == ifname && fields[0] == want {
			return true
		}
	}
	return false
}

// TestMulticastLoopback, in a private namespace: the options read back, two
// sockets share the port and both hear a datagram one of them sends, from
// 127.0.0.1, and a socket of another group on the same port hears nothing of
// it (IP_MULTICAST_ALL off).
func TestMulticastLoopback(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	a := listen(t, sock.MulticastOptions{Interface: "lo", Group: group, ReceiveBuffer: 32 << 10})
	b := listen(t, sock.MulticastOptions{Interface: "lo", Group: group})
	c := listen(t, sock.MulticastOptions{Interface: "lo", Group: otherGroup})

	ints := []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
		{"SO_REUSEPORT", unix.SOL_SOCKET, unix.SO_REUSEPORT, 1},
		{"IP_MULTICAST_ALL", unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0},
		{"IP_MULTICAST_TTL", unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1},
		{"IP_MULTICAST_LOOP", unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1},
		{"IP_PKTINFO", unix.IPPROTO_IP, unix.IP_PKTINFO, 1},
	}
	for _, o := range ints {
		if got := getInt(t, a, o.level, o.opt); got != o.want {
			t.Errorf("%s = %d, want %d", o.name, got, o.want)
		}
	}
	if got := getInt(t, a, unix.SOL_SOCKET, unix.SO_RCVBUF); got != 2*(32<<10) {
		t.Errorf("SO_RCVBUF = %d, want %d", got, 2*(32<<10))
	}
	// getsockopt(IP_MULTICAST_IF) returns the address part only (ip(7)).
	rc, err := a.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var mcif [4]byte
	var gerr error
	_ = rc.Control(func(fd uintptr) { // fails only on a closed socket, and then so does gerr
		mcif, gerr = unix.GetsockoptInet4Addr(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF)
	})
	if gerr != nil || netip.AddrFrom4(mcif) != loopback {
		t.Errorf("IP_MULTICAST_IF = %v, %v; want 127.0.0.1", netip.AddrFrom4(mcif), gerr)
	}
	if !joined(t, "lo", group.Addr()) || !joined(t, "lo", otherGroup.Addr()) {
		t.Errorf("/proc/net/igmp does not list both groups on lo")
	}
	if a.LocalAddr().(*net.UDPAddr).Port != int(group.Port()) {
		t.Errorf("bound to %v, want port %d", a.LocalAddr(), group.Port())
	}

	if _, err := a.WriteToUDPAddrPort([]byte("beacon"), group); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteToUDPAddrPort([]byte("other"), otherGroup); err != nil {
		t.Fatal(err)
	}
	for name, conn := range map[string]*sock.MulticastConn{"sender": a, "neighbour": b} {
		msg, from := read(t, conn)
		if msg != "beacon" || from != netip.AddrPortFrom(loopback, group.Port()) {
			t.Errorf("%s read %q from %v, want \"beacon\" from 127.0.0.1:%d", name, msg, from, group.Port())
		}
	}
	// The other group's socket gets its own datagram first: the group's
	// beacon, sent before it, never reached it.
	if msg, _ := read(t, c); msg != "other" {
		t.Errorf("a socket of another group on the same port read %q", msg)
	}
}

// TestMulticastInterfaceExplicit, in a private namespace: datagrams leave by
// the named interface even where the route to the group names another, and
// where there is no route at all (a plain socket's send then fails).
func TestMulticastInterfaceExplicit(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	plain, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	if _, err := plain.WriteToUDPAddrPort([]byte("x"), group); !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("without a route or IP_MULTICAST_IF, send = %v, want ENETUNREACH", err)
	}

	// A veth pair with the multicast route: where the kernel would send.
	nstest.RequireLinkType(t, "veth")
	nstest.IP(t, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	nstest.IP(t, "addr", "add", "10.231.0.1/24", "dev", "v0")
	nstest.IP(t, "link", "set", "v0", "up")
	nstest.IP(t, "link", "set", "v1", "up")
	nstest.IP(t, "route", "add", "224.0.0.0/4", "dev", "v0")

	rx := listen(t, sock.MulticastOptions{Interface: "lo", Group: group})
	tx := listen(t, sock.MulticastOptions{Interface: "lo", Group: group})
	if _, err := plain.WriteToUDPAddrPort([]byte("routed"), group); err != nil {
		t.Fatalf("plain send by the route: %v", err)
	}
	if _, err := tx.WriteToUDPAddrPort([]byte("explicit"), group); err != nil {
		t.Fatal(err)
	}
	if msg, from := read(t, rx); msg != "explicit" || from.Addr() != loopback {
		t.Fatalf("on lo: read %q from %v, want \"explicit\" from 127.0.0.1 (the routed one went to v0)", msg, from)
	}
}

// TestMulticastInvalid: bad options fail before a socket is made (so these
// run in the host's namespace: nothing is opened or sent).
func TestMulticastInvalid(t *testing.T) {
	tests := []struct {
		name string
		opts sock.MulticastOptions
		want error
	}{
		{"no interface", sock.MulticastOptions{Group: group}, sock.ErrInvalidOptions},
		{"unicast group", sock.MulticastOptions{Interface: "lo", Group: netip.MustParseAddrPort("10.0.0.1:28334")}, sock.ErrInvalidOptions},
		{"IPv6 group", sock.MulticastOptions{Interface: "lo", Group: netip.MustParseAddrPort("[ff02::1]:28334")}, sock.ErrInvalidOptions},
		{"zero port", sock.MulticastOptions{Interface: "lo", Group: netip.AddrPortFrom(group.Addr(), 0)}, sock.ErrInvalidOptions},
		{"zero group", sock.MulticastOptions{Interface: "lo"}, sock.ErrInvalidOptions},
		{"negative buffer", sock.MulticastOptions{Interface: "lo", Group: group, ReceiveBuffer: -1}, sock.ErrInvalidOptions},
		{"unknown interface", sock.MulticastOptions{Interface: "renga-none0", Group: group}, sock.ErrNoInterface},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := sock.ListenMulticastUDP(t.Context(), tt.opts)
			if err == nil {
				_ = c.Close() // a socket that should not have opened
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestMulticastPacketInfo, in a private namespace: ReadDatagram tells a
// datagram sent to the group from one sent to the socket's port by unicast
// (the wildcard bind receives both), names the interface it arrived on, and
// cuts a datagram longer than the buffer; OnLink knows the interface's
// subnet and no other interface.
func TestMulticastPacketInfo(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	c := listen(t, sock.MulticastOptions{Interface: "lo", Group: group})
	if c.Interface() != lo.Index {
		t.Errorf("Interface() = %d, want lo's %d", c.Interface(), lo.Index)
	}
	plain, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	plainAddr := plain.LocalAddr().(*net.UDPAddr).AddrPort()

	if _, err := c.WriteToUDPAddrPort([]byte("to the group"), group); err != nil {
		t.Fatal(err)
	}
	msg, d := readDatagram(t, c)
	want := sock.Datagram{N: len("to the group"), Src: netip.AddrPortFrom(loopback, group.Port()), Dst: group.Addr(), Ifindex: lo.Index}
	if msg != "to the group" || d != want {
		t.Errorf("multicast: read %q %+v, want %+v", msg, d, want)
	}

	if _, err := plain.WriteToUDPAddrPort([]byte("unicast"), netip.AddrPortFrom(loopback, group.Port())); err != nil {
		t.Fatal(err)
	}
	msg, d = readDatagram(t, c)
	want = sock.Datagram{N: len("unicast"), Src: plainAddr, Dst: loopback, Ifindex: lo.Index}
	if msg != "unicast" || d != want {
		t.Errorf("unicast: read %q %+v, want %+v", msg, d, want)
	}

	long := strings.Repeat("x", 100)
	if _, err := plain.WriteToUDPAddrPort([]byte(long), group); err != nil {
		t.Fatal(err)
	}
	if msg, d = readDatagram(t, c); msg != long[:64] || d.N != 64 || d.Dst != group.Addr() {
		t.Errorf("a 100-byte datagram read as %q %+v, want its first 64 bytes", msg, d)
	}

	onLink := []struct {
		ifindex int
		addr    string
		want    bool
	}{
		{lo.Index, "127.0.0.1", true},
		{lo.Index, "127.9.8.7", true}, // lo's prefix is 127.0.0.0/8
		{lo.Index, "::ffff:127.0.0.1", true},
		{lo.Index, "10.0.0.1", false},
		{lo.Index, "0.0.0.0", false},
		{lo.Index + 1, "127.0.0.1", false}, // not the conn's interface
		{0, "127.0.0.1", false},
	}
	for _, o := range onLink {
		if got := c.OnLink(o.ifindex, netip.MustParseAddr(o.addr)); got != o.want {
			t.Errorf("OnLink(%d, %s) = %v, want %v", o.ifindex, o.addr, got, o.want)
		}
	}
	if c.OnLink(lo.Index, netip.Addr{}) {
		t.Error("OnLink of the zero Addr")
	}
}

// TestMulticastOnLinkRefresh, in a private namespace and a synctest bubble
// (whose clock the cache reads): an address added to the interface makes its
// subnet on-link once the cached addresses are a second old, and not before;
// removing it takes the subnet away again.
func TestMulticastOnLinkRefresh(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	synctest.Test(t, func(t *testing.T) {
		c := listen(t, sock.MulticastOptions{Interface: "lo", Group: group})
		neighbour := netip.MustParseAddr("10.55.0.7")
		if c.OnLink(c.Interface(), neighbour) {
			t.Fatal("10.55.0.7 on-link before lo has an address there")
		}
		nstest.IP(t, "addr", "add", "10.55.0.1/24", "dev", "lo")
		if c.OnLink(c.Interface(), neighbour) {
			t.Fatal("on-link at once: the cache was read again within the second")
		}
		time.Sleep(time.Second) // the bubble's clock
		if !c.OnLink(c.Interface(), neighbour) {
			t.Fatal("10.55.0.7 not on-link a second after lo got 10.55.0.1/24")
		}
		nstest.IP(t, "addr", "del", "10.55.0.1/24", "dev", "lo")
		time.Sleep(time.Second)
		if c.OnLink(c.Interface(), neighbour) {
			t.Fatal("10.55.0.7 still on-link a second after the address was removed")
		}
	})
}
