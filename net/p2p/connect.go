package p2p

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/renga-p2p/renga/net/addrbook"
)

// The connection policy's numbers (Bitcoin Core's where it has them).
const (
	dialTimeout = 5 * time.Second
	// blockRelayConns is how many outbound block-relay-only connections
	// are kept (Core's 2): they relay no transactions and no addresses, so
	// an attacker cannot map them, and they are kept as anchors across
	// restarts.
	blockRelayConns = 2
	// feelerEvery is the mean time between feeler connections, which test
	// an address of the new table (moving it to tried if it answers) or an
	// old tried entry a newer one collides with.
	feelerEvery = 2 * time.Minute
	// handshakeGrace is how long a dialled connection that has not
	// completed its handshake holds its outbound slot: after it, another
	// address is dialled too (a tarpit that accepts and never answers must
	// not hold every slot for the whole handshake timeout). At most
	// maxPending connections wait for their handshake at once.
	handshakeGrace = 3 * time.Second
	// recentTry: for the first tries of a round, an address tried this
	// recently is skipped (Core: 10 minutes, 30 tries).
	recentTry      = 10 * time.Minute
	recentTryLimit = 30
	// selectTries bounds the addresses drawn from the book per slot.
	selectTries = 100
	// Backoff for an address whose dial or handshake failed: doubling from
	// backoffMin to backoffMax.
	backoffMin = 2 * time.Second
	backoffMax = 10 * time.Minute
	// maxBackoffs bounds the addresses remembered for backoff.
	maxBackoffs = 4096
)

// backoff is when an address may be dialled again after failures.
type backoff struct {
	failures int
	next     time.Time
}

// maintain keeps the connections and the downloads going until ctx ends.
func (s *Server) maintain(ctx context.Context) {
	fast := time.NewTicker(100 * time.Millisecond)
	slow := time.NewTicker(time.Second)
	defer fast.Stop()
	defer slow.Stop()
	nextFeeler := s.cfg.Now().Add(randomDelay(feelerEvery))
	s.connect(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-fast.C:
			s.flushTxAnnouncements()
			s.requestTxs()
			s.schedule()
		case <-slow.C:
			s.connect(ctx)
			if now := s.cfg.Now(); !now.Before(nextFeeler) && len(s.cfg.Connect) == 0 {
				nextFeeler = now.Add(randomDelay(feelerEvery))
				s.feel(ctx)
			}
			if err := s.chain.Flush(); err != nil {
				s.log.Error("chain flush", "err", err)
			}
		}
	}
}

// outboundView is what the policy sees of the current connections.
type outboundView struct {
	connected map[netip.AddrPort]bool // connected, claimed by an inbound peer, or ourselves
	groups    map[addrbook.Group]bool // public groups of full-relay outbound peers
	full      int                     // full-relay outbound slots taken (counting fresh dials)
	relay     int                     // block-relay-only slots taken
	pending   int                     // dialled, handshake not yet complete
}

// view gathers the outbound view. s.mu is held.
func (s *Server) view(now time.Time) outboundView {
	v := outboundView{connected: map[netip.AddrPort]bool{}, groups: map[addrbook.Group]bool{}}
	for a := range s.selfAddrs {
		v.connected[a] = true
	}
	if s.listenAddr.IsValid() {
		v.connected[s.listenAddr] = true
	}
	for _, st := range s.peers {
		v.connected[st.addr] = true
		st.mu.Lock()
		ready, claim := st.ready, st.claim
		st.mu.Unlock()
		if claim.IsValid() {
			v.connected[claim] = true
		}
		if !ready && st.outbound() {
			v.pending++
		}
		// A dial that has not handshaken within the grace stops holding
		// its slot (see handshakeGrace).
		holds := ready || now.Sub(st.connected) < handshakeGrace
		switch {
		case st.kind == outbound && holds:
			v.full++
			if ip := st.addr.Addr(); addrbook.IsRoutable(ip) {
				v.groups[addrbook.GroupOf(ip)] = true
			}
		case st.kind == blockRelay && holds:
			v.relay++
		}
	}
	for a, kind := range s.dialing {
		v.connected[a] = true
		v.pending++
		switch kind {
		case outbound:
			v.full++
			if addrbook.IsRoutable(a.Addr()) {
				v.groups[addrbook.GroupOf(a.Addr())] = true
			}
		case blockRelay:
			v.relay++
		}
	}
	return v
}

// maxPending bounds the connections waiting for their handshake at once.
func (s *Server) maxPending() int { return 2 * (s.cfg.MaxOutbound + blockRelayConns) }

// connect dials whatever the policy says is missing: the manual addresses,
// then, unless Config.Connect limits us to those, anchors, discovered LAN
// peers and addresses from the book, up to MaxOutbound full-relay and
// blockRelayConns block-relay-only connections, at most one full-relay
// connection per public network group.
func (s *Server) connect(ctx context.Context) {
	now := s.cfg.Now()
	s.mu.Lock()
	v := s.view(now)
	var manualDials []netip.AddrPort
	for _, a := range s.persistent {
		if !v.connected[a] {
			manualDials = append(manualDials, a)
		}
	}
	manualDials = append(manualDials, s.oneShot...)
	s.oneShot = nil
	anchors := s.anchors
	s.anchors = nil
	var discovered []netip.AddrPort
	if len(s.cfg.Connect) == 0 {
		for _, d := range s.discovered {
			if !v.connected[d.Addr] && s.mayDial(d.Addr, now) {
				discovered = append(discovered, d.Addr)
			}
		}
	}
	s.mu.Unlock()

	for _, a := range manualDials {
		s.dial(ctx, a, manual)
	}
	if len(s.cfg.Connect) > 0 {
		return
	}
	room := func() bool { return v.pending < s.maxPending() }
	for _, a := range anchors {
		if v.relay < blockRelayConns && room() && !v.connected[a] && !s.bans.banned(a.Addr()) {
			s.dial(ctx, a, blockRelay)
			v.relay++
			v.pending++
			v.connected[a] = true
		}
	}
	// LAN peers in random order (not the order their beacons chose), then
	// the book.
	rand.Shuffle(len(discovered), func(i, j int) { discovered[i], discovered[j] = discovered[j], discovered[i] })
	for _, a := range discovered {
		if v.full >= s.cfg.MaxOutbound || !room() {
			break
		}
		if s.bans.banned(a.Addr()) || s.discouraged.has(a.Addr()) {
			continue
		}
		s.dial(ctx, a, outbound)
		v.full++
		v.pending++
		v.connected[a] = true
	}
	for v.full < s.cfg.MaxOutbound && room() {
		a, ok := s.pick(&v, now, false, true)
		if !ok {
			break
		}
		s.dial(ctx, a, outbound)
		v.full++
		v.pending++
	}
	for v.relay < blockRelayConns && room() {
		a, ok := s.pick(&v, now, false, false)
		if !ok {
			break
		}
		s.dial(ctx, a, blockRelay)
		v.relay++
		v.pending++
	}
}

// pick draws an address to dial from the book: one not connected, not ours,
// not banned or discouraged, not in backoff, (for full relay) not in a
// public group we already have, and, in the first tries, not tried
// recently. It marks it connected in v.
func (s *Server) pick(v *outboundView, now time.Time, newOnly, fullRelay bool) (netip.AddrPort, bool) {
	for try := range selectTries {
		e, ok := s.book.Select(newOnly, func(e addrbook.Entry) bool {
			a := e.Addr
			ip := a.Addr()
			if v.connected[a] || fullRelay && addrbook.IsRoutable(ip) && v.groups[addrbook.GroupOf(ip)] {
				return true
			}
			return try < recentTryLimit && !e.LastTry.IsZero() && now.Sub(e.LastTry) < recentTry
		})
		if !ok {
			return netip.AddrPort{}, false
		}
		a := e.Addr
		if s.bans.banned(a.Addr()) || s.discouraged.has(a.Addr()) || !s.mayDialLocked(a, now) {
			continue
		}
		v.connected[a] = true
		if fullRelay && addrbook.IsRoutable(a.Addr()) {
			v.groups[addrbook.GroupOf(a.Addr())] = true
		}
		return a, true
	}
	return netip.AddrPort{}, false
}

// feel opens a feeler connection: to the old entry a newer tried address
// collides with (test-before-evict), or else to an address of the new
// table, so that reachable addresses move to tried.
func (s *Server) feel(ctx context.Context) {
	s.book.ResolveCollisions()
	now := s.cfg.Now()
	s.mu.Lock()
	v := s.view(now)
	busy := v.pending >= s.maxPending()
	for _, st := range s.peers {
		busy = busy || st.kind == feeler
	}
	for _, kind := range s.dialing {
		busy = busy || kind == feeler
	}
	s.mu.Unlock()
	if busy {
		return
	}
	if e, ok := s.book.SelectTriedCollision(); ok && !v.connected[e.Addr] {
		s.dial(ctx, e.Addr, feeler)
		return
	}
	if a, ok := s.pick(&v, now, true, false); ok {
		s.dial(ctx, a, feeler)
	}
}

// mayDial reports whether addr is out of backoff. s.mu is held.
func (s *Server) mayDial(addr netip.AddrPort, now time.Time) bool {
	b, ok := s.backoffs[addr]
	return !ok || !now.Before(b.next)
}

// mayDialLocked is mayDial taking s.mu.
func (s *Server) mayDialLocked(addr netip.AddrPort, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mayDial(addr, now)
}

// failed puts addr in backoff after a failed dial or handshake. s.mu is
// held.
func (s *Server) failed(addr netip.AddrPort, now time.Time) {
	if len(s.backoffs) >= maxBackoffs {
		clear(s.backoffs)
	}
	b := s.backoffs[addr]
	b.failures++
	wait := min(backoffMax, backoffMin<<min(b.failures-1, 20))
	b.next = now.Add(wait)
	s.backoffs[addr] = b
}

// dial connects to addr in the background (once at a time per address).
func (s *Server) dial(ctx context.Context, addr netip.AddrPort, kind connKind) {
	s.mu.Lock()
	if _, busy := s.dialing[addr]; busy || ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	s.dialing[addr] = kind
	s.mu.Unlock()
	s.counters.dials.Add(1)
	if kind != manual {
		s.book.Attempt(addr, true)
	}
	s.wg.Go(func() {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		conn, err := s.cfg.Transport.Dial(dctx, addr)
		cancel()
		if err != nil {
			s.mu.Lock()
			delete(s.dialing, addr)
			s.failed(addr, s.cfg.Now())
			s.mu.Unlock()
			s.log.Debug("dial failed", "addr", addr, "kind", kind.String(), "err", err)
			return
		}
		st := s.newPeer(conn, kind, addr)
		s.mu.Lock()
		delete(s.dialing, addr) // and registered in the same moment
		s.peers[st.p] = st
		s.mu.Unlock()
		s.runPeer(ctx, st)
	})
}
