package discover

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// table holds the peers heard, by instance id. It is plain data: the caller
// passes the time and serializes access.
type table struct {
	max         int
	expireAfter time.Duration
	peers       map[uint64]*Peer
}

func newTable(c Config) table {
	return table{max: c.MaxPeers, expireAfter: c.expireAfter(), peers: make(map[uint64]*Peer)}
}

// observed is what a beacon did to the table.
type observed struct {
	answer  bool // a new instance, or a query: answer at once
	full    bool // a new instance dropped: every peer is verified
	evicted bool // an unverified peer made room for it
}

// observe records beacon b, whose node is at addr, heard at now, and
// appends the events that causes to ev.
//
// A full table takes a new instance in place of the unverified peer heard
// from least recently, never in place of a verified one: a flood of made-up
// instances churns among themselves and the peers not yet tried, and the
// peers the node has connected to stay. (A real newcomer that a flood
// pushes out comes back with its next beacon, as a PeerNew the node can
// act on.)
func (t *table) observe(ev []Event, b wire.Beacon, addr netip.AddrPort, now time.Time) ([]Event, observed) {
	var o observed
	p, known := t.peers[b.Instance]
	if !known || p.Addr != addr {
		// A node that restarts beacons from its old address with a new
		// instance id: the old instance is gone.
		ev = t.displace(ev, addr, b.Instance)
	}
	if !known {
		if len(t.peers) >= t.max {
			victim := t.leastRecentUnverified()
			if victim == nil {
				o.full = true
				return ev, o
			}
			delete(t.peers, victim.Instance)
			ev = append(ev, Event{Kind: PeerExpired, Peer: *victim})
			o.evicted = true
		}
		p = &Peer{Addr: addr, Instance: b.Instance, Services: b.Services, Height: b.StartHeight, LastSeen: now}
		t.peers[b.Instance] = p
		o.answer = true
		return append(ev, Event{Kind: PeerNew, Peer: *p}), o
	}
	changed := p.Addr != addr || p.Services != b.Services || p.Height != b.StartHeight
	if p.Addr != addr {
		p.Verified = false // the node connected to the old address, not this one
	}
	p.Addr, p.Services, p.Height, p.LastSeen = addr, b.Services, b.StartHeight, now
	if changed {
		ev = append(ev, Event{Kind: PeerUpdated, Peer: *p})
	}
	o.answer = b.Query
	return ev, o
}

// leastRecentUnverified returns the unverified peer heard from least
// recently (ties broken by address and instance, so the choice is the same
// every time), or nil if every peer is verified.
func (t *table) leastRecentUnverified() *Peer {
	var victim *Peer
	for _, p := range t.peers {
		if p.Verified {
			continue
		}
		if victim == nil || p.LastSeen.Before(victim.LastSeen) ||
			(p.LastSeen.Equal(victim.LastSeen) && comparePeers(*p, *victim) < 0) {
			victim = p
		}
	}
	return victim
}

// verify marks instance verified if the table holds it at addr.
func (t *table) verify(instance uint64, addr netip.AddrPort) bool {
	p, ok := t.peers[instance]
	if !ok || p.Addr != addr {
		return false
	}
	p.Verified = true
	return true
}

// verified counts the verified peers.
func (t *table) verified() int {
	n := 0
	for _, p := range t.peers {
		if p.Verified {
			n++
		}
	}
	return n
}

// displace removes every instance other than keep at addr.
func (t *table) displace(ev []Event, addr netip.AddrPort, keep uint64) []Event {
	start := len(ev)
	for id, p := range t.peers {
		if id != keep && p.Addr == addr {
			delete(t.peers, id)
			ev = append(ev, Event{Kind: PeerExpired, Peer: *p})
		}
	}
	sortEvents(ev[start:])
	return ev
}

// expire removes the peers silent for expireAfter at now, appending their
// events to ev.
func (t *table) expire(ev []Event, now time.Time) []Event {
	start := len(ev)
	for id, p := range t.peers {
		if !now.Before(p.LastSeen.Add(t.expireAfter)) {
			delete(t.peers, id)
			ev = append(ev, Event{Kind: PeerExpired, Peer: *p})
		}
	}
	sortEvents(ev[start:])
	return ev
}

// nextExpiry returns when the next peer expires, if there is a peer.
func (t *table) nextExpiry() (time.Time, bool) {
	var next time.Time
	for _, p := range t.peers {
		if at := p.LastSeen.Add(t.expireAfter); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// snapshot returns copies of the peers, by address.
func (t *table) snapshot() []Peer {
	ps := make([]Peer, 0, len(t.peers))
	for _, p := range t.peers {
		ps = append(ps, *p)
	}
	slices.SortFunc(ps, comparePeers)
	return ps
}

// sortEvents orders events made from a map walk, so that they come out the
// same every time.
func sortEvents(ev []Event) {
	slices.SortFunc(ev, func(a, b Event) int { return comparePeers(a.Peer, b.Peer) })
}

func comparePeers(a, b Peer) int {
	return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Instance, b.Instance))
}
