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

// observe records beacon b, whose node is at addr, heard at now. It appends
// the events that causes to ev, and reports whether to answer (a new
// instance, or a query) and whether b was dropped because the table is full.
func (t *table) observe(ev []Event, b wire.Beacon, addr netip.AddrPort, now time.Time) (_ []Event, answer, full bool) {
	p, known := t.peers[b.Instance]
	if !known || p.Addr != addr {
		// A node that restarts beacons from its old address with a new
		// instance id: the old instance is gone.
		ev = t.displace(ev, addr, b.Instance)
	}
	if !known {
		if len(t.peers) >= t.max {
			return ev, false, true
		}
		p = &Peer{Addr: addr, Instance: b.Instance, Services: b.Services, Height: b.StartHeight, LastSeen: now}
		t.peers[b.Instance] = p
		return append(ev, Event{Kind: PeerNew, Peer: *p}), true, false
	}
	changed := p.Addr != addr || p.Services != b.Services || p.Height != b.StartHeight
	p.Addr, p.Services, p.Height, p.LastSeen = addr, b.Services, b.StartHeight, now
	if changed {
		ev = append(ev, Event{Kind: PeerUpdated, Peer: *p})
	}
	return ev, b.Query, false
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
