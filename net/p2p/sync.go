package p2p

import (
	"slices"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/wire"
)

// schedule assigns the missing blocks of the download window to peers that
// have them, and takes blocks away from a peer that stalls the window.
func (s *Server) schedule() {
	tip := s.chain.Tip()
	best := s.chain.BestHeader()
	if best == nil || !best.Work.Gt(&tip.Work) {
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

	now := s.cfg.Now()
	batches := map[*peerState][]wire.InvVect{}
	s.mu.Lock()
	// A stall: the first block the chain waits for is still out at a peer
	// after the stall timeout while others could fetch it. That peer's
	// requests go back to the pool and the timeout doubles.
	for _, n := range window {
		if n.Status&chain.StatusHaveData != 0 {
			continue
		}
		if r, ok := s.inflight[n.Hash]; ok && now.Sub(r.at) > s.stallTimeout && s.othersHave(n, r.peer) {
			s.log.Info("peer stalls the download; giving its blocks to others", "peer", r.peer.addr,
				"height", n.Height, "waited", now.Sub(r.at), "timeout", s.stallTimeout)
			for h, q := range s.inflight {
				if q.peer == r.peer {
					delete(s.inflight, h)
				}
			}
			r.peer.inflight = 0
			r.peer.stalled = true
			s.stallTimeout = min(2*s.stallTimeout, MaxStallTimeout)
			s.stats.Stalls++
		}
		break
	}
	// Free request slots over all peers: once none is left the rest of the
	// window can wait (without this, every block received walked the whole
	// window asking each peer about each block: an eighth of a sync's CPU).
	free := 0
	for _, st := range s.peers {
		if st.ready && st.best != nil {
			free += max(0, MaxInFlight-st.inflight)
		}
	}
	for _, n := range window {
		if free == 0 {
			break
		}
		if n.Status&chain.StatusHaveData != 0 || n.Status.Invalid() {
			continue
		}
		if _, ok := s.inflight[n.Hash]; ok {
			continue
		}
		st := s.pickPeer(n)
		if st == nil {
			continue
		}
		free--
		st.inflight++
		s.inflight[n.Hash] = &request{peer: st, at: now}
		s.stats.BlocksRequested++
		batches[st] = append(batches[st], wire.InvVect{Type: wire.InvBlock, Hash: n.Hash})
	}
	s.mu.Unlock()
	for st, inv := range batches {
		st.p.Send(&wire.MsgGetData{Inv: inv})
	}
}

// hasBlock reports whether a peer's known chain includes n.
func (st *peerState) hasBlock(n *chain.Node) bool {
	return st.ready && st.best != nil && st.best.Height >= n.Height && st.best.Ancestor(n.Height) == n
}

// othersHave reports whether a peer other than st could serve n.
func (s *Server) othersHave(n *chain.Node, st *peerState) bool {
	for _, o := range s.peers {
		if o != st && o.hasBlock(n) {
			return true
		}
	}
	return false
}

// pickPeer chooses the least loaded peer that has n and room for another
// request. A peer that stalled gets nothing while another can serve n.
func (s *Server) pickPeer(n *chain.Node) *peerState {
	var best *peerState
	for _, st := range s.peers {
		if !st.hasBlock(n) || st.inflight >= MaxInFlight {
			continue
		}
		if st.stalled && s.othersHave(n, st) {
			continue
		}
		if best == nil || st.inflight < best.inflight {
			best = st
		}
	}
	return best
}
