package p2p

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/net/addrbook"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// errMisbehaving wraps peer.ErrProtocol so that the address is discouraged.
func misbehaving(format string, args ...any) error {
	return fmt.Errorf("%w: %s", peer.ErrProtocol, fmt.Sprintf(format, args...))
}

func (s *Server) state(p *peer.Peer) *peerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[p]
}

// Ready runs when a peer's handshake completes.
func (s *Server) Ready(p *peer.Peer) error {
	v := p.Version()
	s.mu.Lock()
	st := s.peers[p]
	if st.outbound {
		s.rememberDialled(st.addr, v.Nonce)
	}
	// One connection per pair of nodes: if another connection to the same
	// node exists, keep the one dialled by the node with the smaller nonce
	// (both ends compute the same answer).
	for op, ost := range s.peers {
		if op == p || !ost.ready || op.Version().Nonce != v.Nonce {
			continue
		}
		if dialer(st, s.nonce, v.Nonce) < dialer(ost, s.nonce, v.Nonce) {
			op.Close(errors.New("p2p: duplicate connection"))
		} else {
			s.mu.Unlock()
			return errors.New("p2p: duplicate connection")
		}
	}
	st.ready = true
	st.nextTxFlush = s.cfg.Now()
	if st.outbound {
		s.book.Good(st.addr, v.Services)
	}
	s.mu.Unlock()

	s.log.Info("peer connected", "peer", p.Addr(), "inbound", p.Inbound(), "agent", v.UserAgent, "height", v.StartHeight)
	// Headers first: ask where the peer's chain goes, from one block below
	// our best header (as Bitcoin Core does), so that a peer with that same
	// header answers with it rather than with nothing, and the scheduler
	// knows it can download those blocks from this peer too.
	from := s.bestHeader()
	if from.Parent != nil {
		from = from.Parent
	}
	p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: chain.LocatorFrom(from)})
	if st.outbound {
		p.Send(&wire.MsgGetAddr{})
	}
	if s.pool != nil {
		p.Send(&wire.MsgFeeFilter{FeeRate: s.pool.Info().MinRelayFee})
	}
	return nil
}

// dialer is the nonce of the node that dialled a connection.
func dialer(st *peerState, ours, theirs uint64) uint64 {
	if st.outbound {
		return ours
	}
	return theirs
}

func (s *Server) bestHeader() *chain.Node {
	if b := s.chain.BestHeader(); b != nil {
		return b
	}
	return s.chain.Tip()
}

// HandleMessage handles one message of a ready peer (on its goroutine).
func (s *Server) HandleMessage(p *peer.Peer, msg wire.Message) error {
	st := s.state(p)
	if st == nil {
		return nil
	}
	switch m := msg.(type) {
	case *wire.MsgHeaders:
		return s.onHeaders(p, st, m)
	case *wire.Block:
		return s.onBlock(p, st, m)
	case *wire.Tx:
		s.onTx(p, st, m)
	case *wire.MsgInv:
		return s.onInv(p, st, m)
	case *wire.MsgGetData:
		s.onGetData(p, m)
	case *wire.MsgNotFound:
		s.onNotFound(st, m)
	case *wire.MsgGetHeaders:
		s.onGetHeaders(p, m)
	case *wire.MsgGetBlocks:
		s.onGetBlocks(p, m)
	case *wire.MsgMempool:
		s.onMempool(p, st)
	case *wire.MsgGetAddr:
		s.onGetAddr(p, st)
	case *wire.MsgAddr:
		var entries []addrbook.Entry
		for _, a := range m.Addrs {
			entries = append(entries, addrbook.Entry{Addr: a.Addr, Services: a.Services, LastSeen: time.Unix(int64(a.Time), 0)})
		}
		s.onAddresses(st, entries)
	case *wire.MsgAddrV2:
		var entries []addrbook.Entry
		for _, a := range m.Addrs {
			if ap, ok := a.AddrPort(); ok {
				entries = append(entries, addrbook.Entry{Addr: ap, Services: a.Services, LastSeen: time.Unix(int64(a.Time), 0)})
			}
		}
		s.onAddresses(st, entries)
	case *wire.MsgReject:
		s.log.Debug("peer rejected something", "peer", p.Addr(), "message", m.Message, "code", m.Code, "reason", m.Reason)
	}
	// ping, pong, sendheaders, feefilter, sendcmpr: handled by the peer.
	// sendcmpct, cmpctblock, getblocktxn, blocktxn: compact blocks are not
	// negotiated, so there is nothing to do with them.
	return nil
}

// onHeaders accepts headers, follows up when there may be more, and
// schedules downloads.
func (s *Server) onHeaders(p *peer.Peer, st *peerState, m *wire.MsgHeaders) error {
	if len(m.Headers) == 0 {
		return nil
	}
	last, err := s.chain.ProcessHeaders(m.Headers)
	switch {
	case errors.Is(err, chain.ErrUnknownParent):
		// They do not connect to what we know: ask from our best header
		// (Bitcoin Core does the same); a peer that keeps doing it is broken.
		s.mu.Lock()
		st.unconnected++
		n := st.unconnected
		s.mu.Unlock()
		if n > 10 {
			return misbehaving("%d headers messages in a row that do not connect", n)
		}
		p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: chain.LocatorFrom(s.bestHeader())})
		return nil
	case errors.Is(err, chain.ErrInvalidBlock) && chain.RuleOf(err) != chain.RuleTimeTooNew:
		return fmt.Errorf("%w: invalid header: %v", peer.ErrProtocol, err)
	}
	s.mu.Lock()
	st.unconnected = 0
	st.noteBest(last)
	for i := range m.Headers {
		st.known.add(m.Headers[i].Hash())
	}
	s.mu.Unlock()
	if len(m.Headers) == wire.MaxHeaders && last != nil {
		// There are probably more.
		p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: chain.LocatorFrom(last)})
	}
	s.schedule()
	return nil
}

// onBlock processes a block (requested or announced by being pushed).
func (s *Server) onBlock(p *peer.Peer, st *peerState, b *wire.Block) error {
	hash := b.Hash()
	s.mu.Lock()
	st.known.add(hash)
	s.stats.BlocksReceived++
	s.mu.Unlock()

	n, err := s.chain.ProcessBlock(b, nil)

	// Release the request only now that the chain has the block: released
	// earlier, another goroutine's schedule would ask for it again.
	s.mu.Lock()
	st.stalled = false // it delivers again
	if r, ok := s.inflight[hash]; ok {
		r.peer.inflight--
		delete(s.inflight, hash)
		// A block arrived: relax the stall timeout (Bitcoin Core's 0.85).
		s.stallTimeout = max(StallTimeout, time.Duration(float64(s.stallTimeout)*0.85))
	}
	s.mu.Unlock()
	switch {
	case err == nil, errors.Is(err, chain.ErrDuplicate):
	case errors.Is(err, chain.ErrUnknownParent):
		// An orphan (kept by the chain): find the headers that lead to it.
		p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: chain.LocatorFrom(s.bestHeader())})
	case errors.Is(err, chain.ErrInvalidBlock):
		switch chain.RuleOf(err) {
		case chain.RuleTimeTooNew, chain.RuleBadMerkle, chain.RuleMutated, chain.RuleWitness:
			// Not necessarily the peer's fault (clock skew, or a relayed
			// copy that was tampered with): drop it, keep the peer.
			s.log.Info("block refused", "peer", p.Addr(), "hash", hash, "err", err)
		default:
			return fmt.Errorf("%w: invalid block %s: %v", peer.ErrProtocol, hash, err)
		}
	default:
		return err // the node's own failure (disk): ends this connection, logged by the caller
	}
	if n != nil {
		s.mu.Lock()
		st.noteBest(n)
		s.mu.Unlock()
	}
	s.schedule()
	return nil
}

// onTx offers a transaction to the mempool; the pool's OnAccept announces it.
func (s *Server) onTx(p *peer.Peer, st *peerState, tx *wire.Tx) {
	txid := tx.TxID()
	s.mu.Lock()
	st.known.add(txid)
	s.stats.TxsReceived++
	s.mu.Unlock()
	if s.pool == nil {
		return
	}
	if _, err := s.pool.Accept(tx); err != nil {
		if errors.Is(err, mempool.ErrOrphan) {
			// Ask for the parents we lack.
			var want []wire.InvVect
			for _, in := range tx.Inputs {
				if s.pool.Get(in.PrevOut.Hash) == nil {
					want = append(want, wire.InvVect{Type: wire.InvTx, Hash: in.PrevOut.Hash})
				}
			}
			p.Send(&wire.MsgGetData{Inv: want})
		}
		s.log.Debug("transaction refused", "peer", p.Addr(), "txid", txid, "err", err)
	}
}

// onInv asks for what was announced and we lack.
func (s *Server) onInv(p *peer.Peer, st *peerState, m *wire.MsgInv) error {
	var want []wire.InvVect
	askHeaders := false
	s.mu.Lock()
	for _, iv := range m.Inv {
		st.known.add(iv.Hash)
	}
	s.mu.Unlock()
	for _, iv := range m.Inv {
		switch iv.Type &^ wire.InvWitnessFlag {
		case wire.InvBlock:
			if n := s.chain.NodeByHash(iv.Hash); n == nil {
				askHeaders = true
			} else {
				s.mu.Lock()
				st.noteBest(n)
				s.mu.Unlock()
			}
		case wire.InvTx, wire.InvWTx:
			if s.pool != nil && s.pool.Get(iv.Hash) == nil {
				want = append(want, wire.InvVect{Type: iv.Type &^ wire.InvWitnessFlag, Hash: iv.Hash})
			}
		}
	}
	if askHeaders {
		p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: chain.LocatorFrom(s.bestHeader())})
	}
	if len(want) > 0 {
		p.Send(&wire.MsgGetData{Inv: want})
	}
	s.schedule()
	return nil
}

// onGetData serves blocks and transactions, and notfound for the rest.
func (s *Server) onGetData(p *peer.Peer, m *wire.MsgGetData) {
	var missing []wire.InvVect
	for _, iv := range m.Inv {
		switch iv.Type &^ wire.InvWitnessFlag {
		case wire.InvBlock:
			n := s.chain.NodeByHash(iv.Hash)
			if n == nil {
				missing = append(missing, iv)
				continue
			}
			raw, err := s.chain.RawBlock(n)
			if err != nil {
				missing = append(missing, iv)
				continue
			}
			if !p.Send(rawBlock(raw)) {
				return
			}
			s.mu.Lock()
			s.stats.BlocksServed++
			s.mu.Unlock()
		case wire.InvTx, wire.InvWTx:
			var e *mempool.Entry
			if s.pool != nil {
				e = s.pool.Get(iv.Hash)
			}
			if e == nil {
				missing = append(missing, iv)
				continue
			}
			if !p.Send(e.Tx) {
				return
			}
			s.mu.Lock()
			s.stats.TxsServed++
			s.mu.Unlock()
		default:
			missing = append(missing, iv)
		}
	}
	if len(missing) > 0 {
		p.Send(&wire.MsgNotFound{Inv: missing})
	}
}

// onNotFound releases block requests the peer cannot serve.
func (s *Server) onNotFound(st *peerState, m *wire.MsgNotFound) {
	s.mu.Lock()
	for _, iv := range m.Inv {
		if r, ok := s.inflight[iv.Hash]; ok && r.peer == st {
			st.inflight--
			delete(s.inflight, iv.Hash)
		}
	}
	s.mu.Unlock()
	s.schedule()
}

// onGetHeaders sends up to 2,000 headers of the active chain after the fork
// point the locator names.
func (s *Server) onGetHeaders(p *peer.Peer, m *wire.MsgGetHeaders) {
	n := s.chain.FindFork(m.Locator)
	var hs []wire.Header
	for len(hs) < wire.MaxHeaders {
		n = s.chain.NodeAt(n.Height + 1)
		if n == nil {
			break
		}
		hs = append(hs, n.Header)
		if n.Hash == m.Stop {
			break
		}
	}
	p.Send(&wire.MsgHeaders{Headers: hs})
}

// onGetBlocks sends an inv of up to 500 blocks after the fork point.
func (s *Server) onGetBlocks(p *peer.Peer, m *wire.MsgGetBlocks) {
	n := s.chain.FindFork(m.Locator)
	var inv []wire.InvVect
	for len(inv) < 500 {
		n = s.chain.NodeAt(n.Height + 1)
		if n == nil {
			break
		}
		inv = append(inv, wire.InvVect{Type: wire.InvBlock, Hash: n.Hash})
		if n.Hash == m.Stop {
			break
		}
	}
	if len(inv) > 0 {
		p.Send(&wire.MsgInv{Inv: inv})
	}
}

// onMempool announces the pool's transactions (BIP35).
func (s *Server) onMempool(p *peer.Peer, st *peerState) {
	if s.pool == nil {
		return
	}
	var inv []wire.InvVect
	for _, e := range s.pool.Entries() {
		inv = append(inv, wire.InvVect{Type: s.txInvType(p), Hash: e.TxID})
		if len(inv) == wire.MaxInvEntries {
			p.Send(&wire.MsgInv{Inv: inv})
			inv = nil
		}
	}
	s.mu.Lock()
	for _, iv := range inv {
		st.known.add(iv.Hash)
	}
	s.mu.Unlock()
	if len(inv) > 0 {
		p.Send(&wire.MsgInv{Inv: inv})
	}
}

// onGetAddr answers once per connection with a sample of known addresses.
func (s *Server) onGetAddr(p *peer.Peer, st *peerState) {
	s.mu.Lock()
	if st.gotGetAddr {
		s.mu.Unlock()
		return
	}
	st.gotGetAddr = true
	s.mu.Unlock()
	sample := s.book.Sample(wire.MaxAddrs)
	if len(sample) == 0 {
		return
	}
	m := &wire.MsgAddr{}
	for _, e := range sample {
		m.Addrs = append(m.Addrs, wire.TimedAddr{Time: uint32(e.LastSeen.Unix()),
			NetAddr: wire.NetAddr{Services: e.Services, Addr: e.Addr}})
	}
	p.Send(m)
}

// onAddresses takes addresses within the peer's rate (Bitcoin Core's 0.1 per
// second with a burst of 1,000); the rest are dropped, so an addr flood costs
// nothing.
func (s *Server) onAddresses(st *peerState, entries []addrbook.Entry) {
	s.mu.Lock()
	now := s.cfg.Now()
	st.addrTokens = min(addrBurst, st.addrTokens+now.Sub(st.addrRefill).Seconds()*addrRate)
	st.addrRefill = now
	n := min(len(entries), int(st.addrTokens))
	st.addrTokens -= float64(n)
	s.mu.Unlock()
	s.book.Add(entries[:n]...)
}

// txInvType is how transactions are announced to p.
func (s *Server) txInvType(p *peer.Peer) wire.InvType {
	if p.WTxIDRelay() {
		return wire.InvWTx
	}
	return wire.InvTx
}

// randomDelay draws the wait before a peer's next batch of announcements.
func randomDelay(mean time.Duration) time.Duration {
	return time.Duration(rand.ExpFloat64() * float64(mean))
}
