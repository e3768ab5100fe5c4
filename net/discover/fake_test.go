package discover

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"time"
)

// hub is a fake LAN segment with one multicast group that every conn on it
// has joined, loop-back included: a datagram written by any conn reaches
// every conn, the writer too, with the writer's address as its source. Made
// inside a synctest bubble, its channels and timers are the bubble's.
type hub struct {
	mu    sync.Mutex
	conns []*fakeConn
}

type datagram struct {
	data []byte
	from netip.AddrPort
}

// conn attaches a conn with source address addr.
func (h *hub) conn(addr string) *fakeConn {
	c := &fakeConn{hub: h, addr: netip.MustParseAddrPort(addr), in: make(chan datagram, 256), wake: make(chan struct{})}
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	return c
}

// fakeConn is one socket on a hub. It implements PacketConn.
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

func (c *fakeConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		c.mu.Lock()
		deadline, wake, rerr := c.deadline, c.wake, c.readErr
		c.mu.Unlock()
		if rerr != nil {
			return 0, netip.AddrPort{}, rerr
		}
		var expired <-chan time.Time
		var timer *time.Timer
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expired = timer.C
		}
		select {
		case dg := <-c.in:
			if timer != nil {
				timer.Stop()
			}
			return copy(b, dg.data), dg.from, nil
		case <-expired:
		case <-wake:
			if timer != nil {
				timer.Stop()
			}
		}
	}
}

func (c *fakeConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	c.mu.Lock()
	werr := c.writeErr
	c.mu.Unlock()
	if werr != nil {
		return 0, werr
	}
	dg := datagram{data: append([]byte(nil), b...), from: c.addr}
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	for _, o := range c.hub.conns {
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
