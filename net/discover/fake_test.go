package discover

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/renga-p2p/renga/net/sock"
)

// hub is a fake LAN segment, subnet 10.0.0.0/24 on interface fakeIfindex of
// every host, with one multicast group that every conn on it has joined,
// loop-back included: a datagram written to a multicast address by any conn
// reaches every conn, the writer too, with the writer's address as its
// source; one written to a unicast address reaches the conns at that
// address. A conn may have an address outside the subnet: an off-link
// sender whose datagrams reach the segment anyway. Made inside a synctest
// bubble, its channels and timers are the bubble's.
type hub struct {
	mu    sync.Mutex
	conns []*fakeConn
}

var fakeSubnet = netip.MustParsePrefix("10.0.0.0/24")

// fakeIfindex is the hub's interface index at every host.
const fakeIfindex = 2

type datagram struct {
	data    []byte
	from    netip.AddrPort
	to      netip.Addr
	ifindex int // the interface it arrives on
}

// conn attaches a conn with source address addr.
func (h *hub) conn(addr string) *fakeConn {
	c := &fakeConn{hub: h, addr: netip.MustParseAddrPort(addr), in: make(chan datagram, 256), wake: make(chan struct{})}
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	return c
}

// fakeConn is one socket on a hub. It implements Conn.
type fakeConn struct {
	hub  *hub
	addr netip.AddrPort
	in   chan datagram

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed when the deadline changes
	writeErr error         // what writes fail with, if not nil
	readErr  error         // what reads fail with, if not nil
}

var errFakeNetDown = errors.New("fake: network is down")

func (c *fakeConn) ReadDatagram(b []byte) (sock.Datagram, error) {
	for {
		c.mu.Lock()
		deadline, wake, rerr := c.deadline, c.wake, c.readErr
		c.mu.Unlock()
		if rerr != nil {
			return sock.Datagram{}, rerr
		}
		var expired <-chan time.Time
		var timer *time.Timer
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return sock.Datagram{}, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expired = timer.C
		}
		select {
		case dg := <-c.in:
			if timer != nil {
				timer.Stop()
			}
			return sock.Datagram{N: copy(b, dg.data), Src: dg.from, Dst: dg.to, Ifindex: dg.ifindex}, nil
		case <-expired:
		case <-wake:
			if timer != nil {
				timer.Stop()
			}
		}
	}
}

func (c *fakeConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	d, err := c.ReadDatagram(b)
	return d.N, d.Src, err
}

// OnLink: the hub's subnet, on the hub's interface.
func (c *fakeConn) OnLink(ifindex int, addr netip.Addr) bool {
	return ifindex == fakeIfindex && fakeSubnet.Contains(addr)
}

func (c *fakeConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return c.writeVia(b, to, fakeIfindex)
}

// writeVia writes b to to, arriving at its receivers on interface ifindex
// (fakeIfindex unless the test makes up another link).
func (c *fakeConn) writeVia(b []byte, to netip.AddrPort, ifindex int) (int, error) {
	c.mu.Lock()
	werr := c.writeErr
	c.mu.Unlock()
	if werr != nil {
		return 0, werr
	}
	dg := datagram{data: append([]byte(nil), b...), from: c.addr, to: to.Addr(), ifindex: ifindex}
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	for _, o := range c.hub.conns {
		if !to.Addr().IsMulticast() && o.addr.Addr() != to.Addr() {
			continue
		}
		select {
		case o.in <- dg:
		default: // a full receive queue drops, as a socket's does
		}
	}
	return len(b), nil
}

func (c *fakeConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.wake)
	c.wake = make(chan struct{})
	return nil
}

// failReads makes pending and later reads fail with err.
func (c *fakeConn) failReads(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readErr = err
	close(c.wake)
	c.wake = make(chan struct{})
}

// failWrites makes later writes fail with err (nil: succeed again).
func (c *fakeConn) failWrites(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeErr = err
}

// plainConn hides a fakeConn's ReadDatagram and OnLink: a PacketConn that
// is not a Conn, as a bare *net.UDPConn is.
type plainConn struct{ c *fakeConn }

func (p plainConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	return p.c.ReadFromUDPAddrPort(b)
}

func (p plainConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return p.c.WriteToUDPAddrPort(b, to)
}

func (p plainConn) SetReadDeadline(t time.Time) error { return p.c.SetReadDeadline(t) }
