package p2p

import (
	"slices"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/wire"
)

// schedule assigns the missing blocks of the download window to peers that
// have them, and takes blocks away from a peer that stalls the window.
//
// A stall is Bitcoin Core's: the window cannot move because its first
// missing block is out at one peer while another peer is free and there is
// nothing else left to ask it for, while blocks beyond the window wait. Only
// then does the clock run, from the moment the window became blocked (not
// from when the request was sent: a block queued behind others at a slow
// peer is not a stall while every peer is busy). After the stall timeout,
// that peer's requests go to others and the timeout doubles.
func (s *Server) schedule() {
	tip := s.chain.Tip()
	best := s.chain.BestHeader()
	if best == nil || !best.Work.Gt(&tip.Work) {
		s.mu.Lock()
		s.blockedSince = time.Time{}
		s.mu.Unlock()
		return
	}
	// The window starts after the last block the best chain shares with the
	// active one: usually the tip itself (found in a skip-list jump, where a
	// walk back from the best header would take one step per block to go).
	fork := best.Ancestor(tip.Height)
	if fork != tip {
		fork = best
		for fork != nil && !s.chain.InActiveChain(fork) {
			fork = fork.Parent
		}
	}
	if fork == nil {
		return
	}
	start := fork.Height + 1
	end := min(best.Height, fork.Height+DownloadWindow)
	window := make([]*chain.Node, 0, end-start+1)
	for n := best.Ancestor(end); n != nil && n.Height >= start; n = n.Parent {
		window = append(window, n)
	}
	slices.Reverse(window)
	if len(window) == 0 {
		return
	}

	now := s.cfg.Now()
	batches := map[*peerState][]wire.InvVect{}
	s.mu.Lock()
	// How far along the window each ready peer has the best chain: the
	// window is one branch, so a peer that has a block of it has every
	// block before it. Worked out once per peer, not per block and peer.
	var sources []source
	free := 0
	for _, st := range s.peers {
		if !st.ready || st.best == nil {
			continue
		}
		if reach := reachOf(st, window); reach >= window[0].Height {
			sources = append(sources, source{st: st, reach: reach})
			free += max(0, MaxInFlight-st.inflight)
		}
	}
	var firstMissing *chain.Node
	for _, n := range window {
		if st := s.chain.Status(n); st&chain.StatusHaveData != 0 || st.Invalid() {
			continue
		}
		if firstMissing == nil {
			firstMissing = n
		}
		if free == 0 {
			break
		}
		if _, ok := s.inflight[n.Hash]; ok {
			continue
		}
		st := pickPeer(sources, n)
		if st == nil {
			continue
		}
		free--
		st.inflight++
		s.inflight[n.Hash] = &request{peer: st, at: now}
		s.stats.BlocksRequested++
		batches[st] = append(batches[st], wire.InvVect{Type: wire.InvBlock, Hash: n.Hash})
	}
	s.checkStall(now, sources, free, firstMissing, end < best.Height)
	s.mu.Unlock()
	for st, inv := range batches {
		st.p.Send(&wire.MsgGetData{Inv: inv})
	}
}

// source is a peer the window's blocks can come from, up to height reach.
type source struct {
	st    *peerState
	reach int32
}

// reachOf is the height of the last block of window that st has (below the
// window's first height if none).
func reachOf(st *peerState, window []*chain.Node) int32 {
	lo, hi := 0, len(window)-1 // find the last index the peer has
	last := -1
	for lo <= hi {
		mid := (lo + hi) / 2
		if st.hasBlock(window[mid]) {
			last, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	if last < 0 {
		return window[0].Height - 1
	}
	return window[last].Height
}

// checkStall runs the stall clock (see schedule). free is how many request
// slots are left after the window was handed out; first is the window's
// first missing block; full says whether blocks beyond the window wait for
// it to move. s.mu is held.
//
// When the window reaches the best header (the last blocks of a sync) there
// is nothing beyond it to wait for, and every block may be out at once: a
// slow peer's queued blocks would all look stalled. There, as a backstop for
// a peer that never answers, a request counts as stalled only when older
// than MaxStallTimeout.
func (s *Server) checkStall(now time.Time, sources []source, free int, first *chain.Node, full bool) {
	r, out := (*request)(nil), false
	if first != nil {
		r, out = s.inflight[first.Hash]
	}
	if !out || free == 0 || !otherSource(sources, first, r.peer) {
		s.blockedSince = time.Time{}
		return
	}
	if s.blockedSince.IsZero() {
		s.blockedSince = now
	}
	if full && now.Sub(s.blockedSince) <= s.stallTimeout || !full && now.Sub(r.at) <= MaxStallTimeout {
		return
	}
	s.log.Info("peer stalls the download; giving its blocks to others", "peer", r.peer.addr,
		"height", first.Height, "blocked", now.Sub(s.blockedSince), "timeout", s.stallTimeout)
	for h, q := range s.inflight {
		if q.peer == r.peer {
			delete(s.inflight, h)
		}
	}
	r.peer.inflight = 0
	r.peer.stalled = true
	s.stallTimeout = min(2*s.stallTimeout, MaxStallTimeout)
	s.stats.Stalls++
	s.blockedSince = time.Time{}
}

// hasBlock reports whether a peer's known chain includes n.
func (st *peerState) hasBlock(n *chain.Node) bool {
	return st.ready && st.best != nil && st.best.Height >= n.Height && st.best.Ancestor(n.Height) == n
}

// otherSource reports whether a source other than st has n.
func otherSource(sources []source, n *chain.Node, st *peerState) bool {
	for _, o := range sources {
		if o.st != st && o.reach >= n.Height {
			return true
		}
	}
	return false
}

// pickPeer chooses the least loaded source that has n and room for another
// request. A peer that stalled gets nothing while another can serve n.
func pickPeer(sources []source, n *chain.Node) *peerState {
	var best *peerState
	for _, o := range sources {
		st := o.st
		if o.reach < n.Height || st.inflight >= MaxInFlight {
			continue
		}
		if st.stalled && otherSource(sources, n, st) {
			continue
		}
		if best == nil || st.inflight < best.inflight {
			best = st
		}
	}
	return best
}
