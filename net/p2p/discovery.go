package p2p

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/sock"
)

// startDiscovery opens the multicast socket (so that a bad interface fails
// Run at once) and serves LAN discovery on it until ctx ends.
func (s *Server) startDiscovery(ctx context.Context) error {
	dc := *s.cfg.Discovery
	dc.Magic, dc.Genesis, dc.Port, dc.Services = s.params.Magic, s.params.GenesisHash, s.ListenAddr().Port(), s.services()
	dc.Instance = s.instance
	dc.BestHeight = func() int32 { return s.chain.Tip().Height }
	dc.OnEvent = s.onDiscovery
	if dc.Logger == nil {
		dc.Logger = s.log.With("part", "discover")
	}
	if !dc.Group.IsValid() {
		dc.Group = discover.DefaultGroup()
	}
	d, err := discover.New(dc)
	if err != nil {
		return fmt.Errorf("p2p: %w", err)
	}
	if dc.Interface == "" {
		return fmt.Errorf("p2p: discovery needs an interface")
	}
	conn, err := sock.ListenMulticast(ctx, sock.MulticastOptions{Interface: dc.Interface, Group: dc.Group})
	if err != nil {
		return fmt.Errorf("p2p: discovery: %w", err)
	}
	var pc discover.Conn = conn
	if s.cfg.Capture != nil {
		pc = &tappedConn{MulticastConn: conn, rec: s.cfg.Capture, local: interfaceAddrPort(dc.Interface, dc.Group.Port()),
			group: dc.Group, now: s.cfg.Now}
	}
	s.mu.Lock()
	s.disc = d
	s.mu.Unlock()
	s.wg.Go(func() {
		err := d.Serve(ctx, pc)
		if cerr := conn.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			s.log.Error("LAN discovery stopped", "err", err)
		}
	})
	return nil
}

// tappedConn records discovery's datagrams in the capture, as UDP packets
// between the interface's address and the group.
type tappedConn struct {
	*sock.MulticastConn
	rec   *capture.Recorder
	local netip.AddrPort // our source address on the interface
	group netip.AddrPort
	now   func() time.Time

	// sent holds our last datagrams: they loop back to us (IP_MULTICAST_LOOP)
	// and are recorded once, as sent. Their source address cannot tell them
	// apart, since nodes sharing a host share it. Reads and writes run on
	// different goroutines.
	mu   sync.Mutex
	sent [4][]byte
	next int
}

func (c *tappedConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, from, err := c.MulticastConn.ReadFromUDPAddrPort(b)
	if err == nil && !c.ours(b[:n]) {
		c.rec.Datagram(c.now(), capture.DirIn, from, c.group, b[:n])
	}
	return n, from, err
}

// ReadDatagram is what discovery reads with: it must be tapped too (the
// embedded conn's would bypass the capture).
func (c *tappedConn) ReadDatagram(b []byte) (sock.Datagram, error) {
	dg, err := c.MulticastConn.ReadDatagram(b)
	if err == nil && !c.ours(b[:dg.N]) {
		c.rec.Datagram(c.now(), capture.DirIn, dg.Src, c.group, b[:dg.N])
	}
	return dg, err
}

func (c *tappedConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	n, err := c.MulticastConn.WriteToUDPAddrPort(b, to)
	if err == nil {
		c.mu.Lock()
		c.sent[c.next] = append(c.sent[c.next][:0], b[:n]...)
		c.next = (c.next + 1) % len(c.sent)
		c.mu.Unlock()
		c.rec.Datagram(c.now(), capture.DirOut, c.local, to, b[:n])
	}
	return n, err
}

func (c *tappedConn) ours(p []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sent {
		if bytes.Equal(s, p) {
			return true
		}
	}
	return false
}

// interfaceAddrPort is the interface's first IPv4 address with port, the
// source of what we multicast on it (0.0.0.0 if it has none).
func interfaceAddrPort(name string, port uint16) netip.AddrPort {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), port)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), port)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP.To4()); ok && ipn.IP.To4() != nil {
				return netip.AddrPortFrom(ip, port)
			}
		}
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), port)
}

// markVerified tells discovery that an outbound connection to a discovered
// peer's address completed its handshake, so that the peer's entry survives
// a flood of new instances.
func (s *Server) markVerified(st *peerState) {
	if !st.outbound() {
		return
	}
	s.mu.Lock()
	d := s.disc
	var ids []uint64
	for id, p := range s.discovered {
		if p.Addr == st.addr {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	if d == nil {
		return
	}
	for _, id := range ids {
		d.Verified(id, st.addr)
	}
}
