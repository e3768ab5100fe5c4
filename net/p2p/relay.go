package p2p

import (
	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/wire"
)

// onChainEvent announces a new tip. Events come in order after each commit;
// while catching up many come at once, and only the last (the tip) is worth
// announcing: peers fetch the rest through headers.
func (s *Server) onChainEvent(e chain.Event) {
	if e.Kind != chain.BlockConnected || e.Node != s.chain.Tip() {
		return
	}
	s.mu.Lock()
	var sendHeaders, sendInv []*peerState
	for _, st := range s.peers {
		if !st.ready || st.known.has(e.Node.Hash) {
			continue
		}
		st.known.add(e.Node.Hash)
		st.noteBest(e.Node) // it will have it once it follows the announcement
		if st.p.WantsHeaders() {
			sendHeaders = append(sendHeaders, st)
		} else {
			sendInv = append(sendInv, st)
		}
	}
	s.mu.Unlock()
	for _, st := range sendHeaders {
		st.p.Send(&wire.MsgHeaders{Headers: []wire.Header{e.Node.Header}})
	}
	for _, st := range sendInv {
		st.p.Send(&wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvBlock, Hash: e.Node.Hash}}})
	}
}

// onTxAccepted queues a new pool transaction for announcement to every peer
// that wants transactions, does not know it yet and whose fee filter it passes.
func (s *Server) onTxAccepted(e *mempool.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.peers {
		if !st.ready || st.known.has(e.TxID) || !st.p.Version().Relay || e.FeeRate() < st.p.FeeFilter() {
			continue
		}
		if len(st.txq) < maxTxQueue {
			st.txq = append(st.txq, wire.InvVect{Type: s.txInvType(st.p), Hash: e.TxID})
		}
		st.known.add(e.TxID)
	}
}

// flushTxAnnouncements sends each peer its queued announcements when its
// randomized timer is due.
func (s *Server) flushTxAnnouncements() {
	now := s.cfg.Now()
	type batch struct {
		st  *peerState
		inv []wire.InvVect
	}
	var batches []batch
	s.mu.Lock()
	for _, st := range s.peers {
		if len(st.txq) == 0 || now.Before(st.nextTxFlush) {
			continue
		}
		batches = append(batches, batch{st, st.txq})
		st.txq = nil
		st.nextTxFlush = now.Add(randomDelay(s.cfg.TxBatchInterval))
	}
	s.mu.Unlock()
	for _, b := range batches {
		for len(b.inv) > 0 {
			n := min(len(b.inv), wire.MaxInvEntries)
			b.st.p.Send(&wire.MsgInv{Inv: b.inv[:n]})
			b.inv = b.inv[n:]
		}
	}
}
