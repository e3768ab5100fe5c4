package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"time"
)

// DialFunc dials like net.Dialer.DialContext, from wherever a node is.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Network places a lab's nodes: where each listens, what it dials, where
// its RPC is and how to reach it, and where its process runs.
type Network interface {
	// Start starts node i's process (from 0) in its place.
	Start(i int, cmd *exec.Cmd) error
	// Listen is the P2P address node i listens on.
	Listen(i int) string
	// RPC is node i's RPC address, reached through Dialer(i).
	RPC(i int) string
	// Dialer dials from where node i's RPC can be reached.
	Dialer(i int) DialFunc
	// Connect lists the addresses node i dials and keeps (--connect); nil
	// means it finds its peers by discovery on DiscoverIface.
	Connect(i int) []string
	// DiscoverIface is the interface discovery multicasts on ("" with
	// --connect everywhere).
	DiscoverIface() string
	// Describe says in a few words where the nodes are.
	Describe() string
	Close() error
}

// LinkControl is a Network whose links the lab can change while it runs:
// the per-link namespaces of [NewLinkNetwork].
type LinkControl interface {
	// SetConditions gives link l the conditions c in both directions, and
	// returns what the kernel applied (see [Shaping.Supports]).
	SetConditions(l int, c Conditions) (Conditions, error)
	// Cut drops every packet on link l from node from to the other end;
	// from -1 cuts both ways. Heal restores both ways.
	Cut(l, from int) error
	Heal(l int) error
	// RTT measures link l's round trip between its two ends.
	RTT(ctx context.Context, l int) (time.Duration, error)
	// Applied is the conditions in force on link l.
	Applied(l int) Conditions
	// Shaping is what the kernel can do to links.
	Shaping() Shaping
}

// ErrNoNamespaces: network namespaces are needed (root, Linux) and cannot
// be made here.
var ErrNoNamespaces = errors.New("lab: network namespaces are unavailable")

// loopback runs every node on 127.0.0.1 of this host, on ports
// base+2i (P2P) and base+2i+1 (RPC), with discovery on lo or, given a
// topology's links, connections along them.
type loopback struct {
	base  int
	links []Link // nil: discovery
}

// NewLoopback places n nodes on loopback. With links, node A of each link
// dials node B and discovery is off; without, they find each other by
// multicast on lo (which never leaves the host).
func NewLoopback(base int, links []Link) Network { return &loopback{base: base, links: links} }

func (l *loopback) Start(_ int, cmd *exec.Cmd) error { return cmd.Start() }
func (l *loopback) Listen(i int) string              { return "127.0.0.1:" + strconv.Itoa(l.base+2*i) }
func (l *loopback) RPC(i int) string                 { return "127.0.0.1:" + strconv.Itoa(l.base+2*i+1) }
func (l *loopback) Dialer(int) DialFunc              { return (&net.Dialer{}).DialContext }
func (l *loopback) Close() error                     { return nil }
func (l *loopback) Describe() string {
	if l.links == nil {
		return "on loopback (discovery on lo)"
	}
	return "on loopback, connected along the topology's links (no link conditions on lo)"
}

func (l *loopback) DiscoverIface() string {
	if l.links == nil {
		return "lo"
	}
	return ""
}

func (l *loopback) Connect(i int) []string {
	if l.links == nil {
		return nil
	}
	out := []string{} // not nil: --connect, even to nobody
	for _, k := range l.links {
		if k.A == i {
			out = append(out, l.Listen(k.B))
		}
	}
	return out
}

// linkAddrs are the two ends' addresses of link k: a /30 each in
// 10.200.0.0/13, A at .1 and B at .2 of its four.
func linkAddrs(k int) (a, b netip.Addr) {
	base := uint32(10)<<24 | uint32(200)<<16 + uint32(4*k)
	ip := func(v uint32) netip.Addr {
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	return ip(base + 1), ip(base + 2)
}

// lanAddr is node i's address on the LAN bridge: 10.82.0.0/16 from .0.1.
func lanAddr(i int) netip.Addr {
	v := i + 1
	return netip.AddrFrom4([4]byte{10, 82, byte(v >> 8), byte(v)})
}

func checkLinkCount(n int) error {
	if n > MaxLinks {
		return fmt.Errorf("%w: %d links, at most %d", ErrTopology, n, MaxLinks)
	}
	return nil
}
