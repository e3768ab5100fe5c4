package p2p

import (
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/wire"
)

// readyPeers returns the connections whose handshake completed.
func (s *Server) readyPeers() []*peerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*peerState, 0, len(s.peers))
	for _, st := range s.peers {
		out = append(out, st)
	}
	return out
}

// onChainEvent announces a new tip. Events come in order after each commit;
// while catching up many come at once, and only the last (the tip) is worth
// announcing: peers fetch the rest through headers.
func (s *Server) onChainEvent(e chain.Event) {
	if e.Kind != chain.BlockConnected || e.Node != s.chain.Tip() {
		return
	}
	var compact *wire.MsgCmpctBlock
	for _, st := range s.readyPeers() {
		if !st.tell(e.Node.Hash) {
			continue
		}
		s.sched.noteBest(st, e.Node) // it will have it once it follows the announcement
		if _, hb := st.compactInfo(); hb && e.Block != nil {
			// A peer that asked for new blocks pushed as compact blocks
			// (and did not get it early, before we validated it).
			if compact == nil {
				compact, _ = newCompact(e.Block)
			}
			if compact != nil {
				st.p.Send(compact)
				s.counters.compact.sent.Add(1)
				continue
			}
		}
		if st.p.WantsHeaders() {
			st.p.Send(&wire.MsgHeaders{Headers: []wire.Header{e.Node.Header}})
		} else {
			st.p.Send(&wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvBlock, Hash: e.Node.Hash}}})
		}
	}
}

// onTxAccepted queues a new pool transaction for announcement to every peer
// that wants transactions, does not know it yet and whose fee filter it passes.
func (s *Server) onTxAccepted(e *mempool.Entry) {
	for _, st := range s.readyPeers() {
		if !st.relaysTxs() || !st.p.Version().Relay || e.FeeRate() < st.p.FeeFilter() {
			continue
		}
		st.queueTx(wire.InvVect{Type: txInvType(st.p), Hash: e.TxID})
	}
}

// flushTxAnnouncements sends each peer its queued announcements when its
// randomized timer is due. A peer whose send buffer is full gets them
// later: announcements are what we volunteer, not what it asked for.
func (s *Server) flushTxAnnouncements() {
	now := s.cfg.Now()
	next := func() time.Duration { return randomDelay(s.cfg.TxBatchInterval) }
	for _, st := range s.readyPeers() {
		if st.p.SendBufferFull() {
			continue
		}
		inv := st.dueTxs(now, next)
		for len(inv) > 0 {
			n := min(len(inv), wire.MaxInvEntries)
			st.p.Send(&wire.MsgInv{Inv: inv[:n]})
			inv = inv[n:]
		}
	}
}
