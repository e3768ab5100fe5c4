package p2p

import (
	"context"
	"net/netip"
	"slices"
	"time"
)

// dialTimeout bounds one connection attempt.
const dialTimeout = 5 * time.Second

// maintain keeps the connections and the downloads going until ctx ends.
func (s *Server) maintain(ctx context.Context) {
	fast := time.NewTicker(100 * time.Millisecond)
	slow := time.NewTicker(time.Second)
	defer fast.Stop()
	defer slow.Stop()
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
			if err := s.chain.Flush(); err != nil {
				s.log.Error("chain flush", "err", err)
			}
		}
	}
}

// connect dials whatever the policy says is missing: the persistent
// addresses, one-shot ones, then discovered peers and known addresses up to
// MaxOutbound.
func (s *Server) connect(ctx context.Context) {
	s.mu.Lock()
	connected := map[netip.AddrPort]bool{}
	nonces := map[uint64]bool{}
	dialled := 0 // outbound connections the policy chose
	for _, st := range s.peers {
		connected[st.addr] = true
		if v := st.p.Version(); v.Nonce != 0 {
			nonces[v.Nonce] = true
		}
		if st.kind == outbound {
			dialled++
		}
	}
	// Addresses of nodes we are connected to by another address (an
	// inbound connection comes from an ephemeral port), and our own.
	nonces[s.nonce] = true
	for a, id := range s.dialled {
		if nonces[id] {
			connected[a] = true
		}
	}
	for id, d := range s.discovered {
		if nonces[id] {
			connected[d.Addr] = true
		}
	}
	var manualDials []netip.AddrPort
	for _, a := range s.persistent {
		if !connected[a] && !s.dialing[a] {
			manualDials = append(manualDials, a)
		}
	}
	manualDials = append(manualDials, s.oneShot...)
	s.oneShot = nil
	var extra []netip.AddrPort
	if len(s.cfg.Connect) == 0 {
		// LAN peers first, in a stable order, then the address book.
		ids := make([]uint64, 0, len(s.discovered))
		for id := range s.discovered {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			d := s.discovered[id]
			if !nonces[id] && !connected[d.Addr] && !s.dialing[d.Addr] {
				extra = append(extra, d.Addr)
			}
		}
	}
	room := s.cfg.MaxOutbound - dialled - len(s.dialing)
	self := s.listenAddr
	s.mu.Unlock()

	for _, a := range manualDials {
		s.dial(ctx, a, manual)
	}
	for _, a := range extra {
		if room <= 0 {
			return
		}
		if !s.book.Discouraged(a.Addr()) {
			s.dial(ctx, a, outbound)
			room--
		}
	}
	for ; room > 0 && len(s.cfg.Connect) == 0; room-- {
		a, ok := s.book.Pick(func(a netip.AddrPort) bool { return connected[a] || a == self })
		if !ok {
			return
		}
		connected[a] = true
		s.dial(ctx, a, outbound)
	}
}

// dial connects to addr in the background (once at a time per address).
func (s *Server) dial(ctx context.Context, addr netip.AddrPort, kind connKind) {
	s.mu.Lock()
	if s.dialing[addr] || ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	s.dialing[addr] = true
	s.mu.Unlock()
	s.counters.dials.Add(1)
	s.book.Attempt(addr)
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.dialing, addr)
			s.mu.Unlock()
		}()
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		conn, err := s.cfg.Transport.Dial(dctx, addr)
		cancel()
		if err != nil {
			s.book.Failed(addr)
			s.log.Debug("dial failed", "addr", addr, "err", err)
			return
		}
		s.runPeer(ctx, conn, kind, addr)
	})
}
