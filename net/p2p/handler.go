package p2p

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/addrbook"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// handler is the server as its peers' peer.Handler: an unexported view, so
// that Ready and HandleMessage are not part of the Server's API.
type handler Server

func (h *handler) Ready(p *peer.Peer) error { return (*Server)(h).ready(p) }

func (h *handler) HandleMessage(p *peer.Peer, msg wire.Message) error {
	return (*Server)(h).handle(p, msg)
}

// misbehaving wraps peer.ErrProtocol so that the address is discouraged.
func misbehaving(format string, args ...any) error {
	return fmt.Errorf("%w: %s", peer.ErrProtocol, fmt.Sprintf(format, args...))
}

func (s *Server) state(p *peer.Peer) *peerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[p]
}

// ready runs when a peer's handshake completes.
func (s *Server) ready(p *peer.Peer) error {
	v := p.Version()
	st := s.state(p)
	if st == nil {
		return errShutdown // closed meanwhile (evicted, say)
	}
	now := s.cfg.Now()
	st.mu.Lock()
	st.ready = true
	st.nextTxFlush = now
	if st.kind == inbound && v.AddrFrom.Addr.Port() != 0 {
		// Its claim to be the node listening at this port is believed for
		// the address it connects from only (an identity cannot be borrowed
		// from elsewhere), and only keeps us from dialling that address
		// while this connection lives.
		st.claim = netip.AddrPortFrom(p.Addr().Addr(), v.AddrFrom.Addr.Port())
	}
	st.mu.Unlock()
	if st.outbound() {
		s.book.Good(st.addr, v.Services) // a manual peer too: it is known good
	}
	if st.kind == feeler {
		return errFeelerDone // the address answers: that is all a feeler asks
	}
	s.mu.Lock()
	delete(s.backoffs, st.addr)
	s.mu.Unlock()
	s.markVerified(st)
	s.sched.add(st)

	s.log.Info("peer connected", "peer", p.Addr(), "kind", st.kind.String(), "agent", v.UserAgent,
		"height", v.StartHeight)
	if s.cfg.OnPeer != nil {
		s.cfg.OnPeer(PeerEvent{Connected: true, Addr: st.addr, Inbound: !st.outbound()})
	}
	// Headers first: ask where the peer's chain goes, from one block below
	// our best header (as Bitcoin Core does), so that a peer with that same
	// header answers with it rather than with nothing, and the scheduler
	// knows it can download those blocks from this peer too.
	from := s.bestHeader()
	if from.Parent != nil {
		from = from.Parent
	}
	st.askedHeaders(now)
	p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: chain.LocatorFrom(from)})
	if st.outbound() && st.relaysAddrs() {
		st.askedAddrs()
		p.Send(&wire.MsgGetAddr{})
	}
	if s.pool != nil && st.relaysTxs() {
		p.Send(&wire.MsgFeeFilter{FeeRate: s.pool.Info().MinRelayFee})
	}
	s.sendCmpct(p)
	return nil
}

func (s *Server) bestHeader() *chain.Node {
	if b := s.chain.BestHeader(); b != nil {
		return b
	}
	return s.chain.Tip()
}

// handle handles one message of a ready peer (on its goroutine).
func (s *Server) handle(p *peer.Peer, msg wire.Message) error {
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
		return s.onGetData(p, m)
	case *wire.MsgNotFound:
		s.onNotFound(st, m)
	case *wire.MsgGetHeaders:
		s.onGetHeaders(p, m)
	case *wire.MsgGetBlocks:
		s.onGetBlocks(p, m)
	case *wire.MsgMempool:
		return s.onMempool(p, st)
	case *wire.MsgGetAddr:
		s.onGetAddr(p, st)
	case *wire.MsgAddr:
		if !st.relaysAddrs() {
			return nil
		}
		var entries []addrbook.Entry
		for _, a := range m.Addrs {
			entries = append(entries, addrbook.Entry{Addr: a.Addr, Services: a.Services, LastSeen: time.Unix(int64(a.Time), 0)})
		}
		s.onAddresses(p, st, entries)
	case *wire.MsgAddrV2:
		if !st.relaysAddrs() {
			return nil
		}
		var entries []addrbook.Entry
		for _, a := range m.Addrs {
			if ap, ok := a.AddrPort(); ok {
				entries = append(entries, addrbook.Entry{Addr: ap, Services: a.Services, LastSeen: time.Unix(int64(a.Time), 0)})
			}
		}
		s.onAddresses(p, st, entries)
	case *wire.MsgSendCmpct:
		s.onSendCmpct(st, m)
	case *wire.MsgCmpctBlock:
		return s.onCmpctBlock(p, st, m)
	case *wire.MsgGetBlockTxn:
		return s.onGetBlockTxn(p, m)
	case *wire.MsgBlockTxn:
		return s.onBlockTxn(p, st, m)
	case *wire.MsgReject:
		s.log.Debug("peer rejected something", "peer", p.Addr(), "message", m.Message, "code", m.Code, "reason", m.Reason)
	}
	// ping, pong, sendheaders, feefilter, sendcmpr: handled by the peer.
	return nil
}

// onHeaders accepts headers, follows up when there may be more, and
// schedules downloads.
func (s *Server) onHeaders(p *peer.Peer, st *peerState, m *wire.MsgHeaders) error {
	st.answeredHeaders()
	if len(m.Headers) == 0 {
		return nil
	}
	last, err := st.hsync.Process(m.Headers)
	switch {
	case errors.Is(err, chain.ErrLowWork):
		// A chain below the anti-DoS threshold so far: its headers are
		// held, not stored, until more of it shows it has the work.
		st.askedHeaders(s.cfg.Now())
		p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: st.hsync.Locator()})
		return nil
	case errors.Is(err, chain.ErrNotUseful):
		return nil // its chain ends below the threshold: nothing to do, nobody's fault
	case errors.Is(err, chain.ErrTooManyHeaders):
		s.log.Info("a low-work chain longer than we hold for one peer; not syncing it", "peer", p.Addr())
		return nil
	case errors.Is(err, chain.ErrUnknownParent):
		// They do not connect to what we know: ask from our best header
		// (Bitcoin Core does the same); a peer that keeps doing it is broken.
		if n := st.headersUnconnected(false); n > 10 {
			return misbehaving("%d headers messages in a row that do not connect", n)
		}
		st.askedHeaders(s.cfg.Now())
		p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: chain.LocatorFrom(s.bestHeader())})
		return nil
	case errors.Is(err, chain.ErrInvalidBlock) && chain.RuleOf(err) != chain.RuleTimeTooNew:
		return fmt.Errorf("%w: invalid header: %v", peer.ErrProtocol, err)
	}
	st.headersUnconnected(true)
	hashes := make([]sha256d.Hash, len(m.Headers))
	for i := range m.Headers {
		hashes[i] = m.Headers[i].Hash()
	}
	st.learn(hashes...)
	s.sched.noteBest(st, last)
	if len(m.Headers) == wire.MaxHeaders && last != nil {
		// There are probably more.
		st.askedHeaders(s.cfg.Now())
		p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: chain.LocatorFrom(last)})
	}
	s.schedule()
	return nil
}

// onBlock processes a block (requested or announced by being pushed).
func (s *Server) onBlock(p *peer.Peer, st *peerState, b *wire.Block) error {
	hash := b.Hash()
	st.learn(hash)
	s.counters.blocksReceived.Add(1)
	// Blocks are asked for after their headers, and announced by headers
	// or inv: no honest peer sends a block whose parent we do not know.
	// Such a block is not kept (it would cost memory before any proof of
	// its work); the sender is treated as Bitcoin Core treats it.
	if s.chain.NodeByHash(b.Header.PrevBlock) == nil && s.chain.NodeByHash(hash) == nil {
		return misbehaving("block %s whose parent %s is unknown", hash, b.Header.PrevBlock)
	}
	return s.takeBlock(p, st, b, false)
}

// takeBlock processes a block a peer sent, whole or rebuilt from its
// compact form (viaCompact).
func (s *Server) takeBlock(p *peer.Peer, st *peerState, b *wire.Block, viaCompact bool) error {
	hash := b.Hash()
	// A candidate for our next tip goes on to the high-bandwidth compact
	// block peers at once, before full validation (BIP152).
	s.earlyRelay(b, st)
	// A block we did not ask for is worth storing only if it would make
	// the best chain (Core's AcceptBlock for unrequested blocks): a pushed
	// fork with less work than our tip is ignored, not written to disk
	// (its header kept if it reaches the work threshold).
	var n *chain.Node
	var err error
	if s.sched.requested(st, hash) {
		n, err = s.chain.ProcessBlock(b, nil)
	} else {
		n, err = s.chain.ProcessUnrequested(b, nil)
	}
	s.sched.delivered(st, hash)
	if errors.Is(err, chain.ErrNotUseful) {
		s.counters.blocksIgnored.Add(1)
		s.log.Debug("ignored an unrequested block that cannot make the best chain", "peer", p.Addr(), "hash", hash)
		return nil
	}
	switch {
	case err == nil, errors.Is(err, chain.ErrDuplicate):
	case errors.Is(err, chain.ErrInvalidBlock):
		switch {
		case viaCompact:
			// Relayed as BIP152 allows, before the sender validated it:
			// what it could not know is not held against it.
			s.log.Info("block rebuilt from a compact block is invalid", "peer", p.Addr(), "hash", hash, "err", err)
		case chain.RuleOf(err) == chain.RuleTimeTooNew, chain.RuleOf(err) == chain.RuleBadMerkle,
			chain.RuleOf(err) == chain.RuleMutated, chain.RuleOf(err) == chain.RuleWitness:
			// Not necessarily the peer's fault (clock skew, or a relayed
			// copy that was tampered with): drop it, keep the peer.
			s.log.Info("block refused", "peer", p.Addr(), "hash", hash, "err", err)
		default:
			return fmt.Errorf("%w: invalid block %s: %v", peer.ErrProtocol, hash, err)
		}
	default:
		return err // the node's own failure (disk): ends this connection, logged by the caller
	}
	if err == nil && n != nil {
		st.novel(true, s.cfg.Now())
		if s.chain.Tip() == n {
			s.noteFirst(st) // it gave us our new tip first
		}
	}
	s.sched.noteBest(st, n)
	s.schedule()
	return nil
}

// onTx offers a transaction to the mempool; the pool's OnAccept announces it.
func (s *Server) onTx(p *peer.Peer, st *peerState, tx *wire.Tx) {
	txid := tx.TxID()
	st.learn(txid)
	s.counters.txsReceived.Add(1)
	if s.pool == nil {
		return
	}
	s.txreq.done(txid)
	if _, err := s.pool.Accept(tx); err == nil {
		st.novel(false, s.cfg.Now())
	} else {
		if !errors.Is(err, mempool.ErrDuplicate) {
			s.extra.add(tx) // it may still be in a block: for compact blocks
		}
		if errors.Is(err, mempool.ErrOrphan) {
			// Ask the peer for the parents we lack, as if it had announced
			// them: through the request tracker, bounded like any.
			now := s.cfg.Now()
			for _, in := range tx.Inputs {
				if s.pool.Get(in.PrevOut.Hash) == nil {
					s.txreq.announced(st, wire.InvVect{Type: wire.InvTx, Hash: in.PrevOut.Hash}, now, true)
				}
			}
			s.requestTxs()
		}
		s.log.Debug("transaction refused", "peer", p.Addr(), "txid", txid, "err", err)
	}
}

// requestTxs asks peers for the announced transactions now due.
func (s *Server) requestTxs() {
	for st, inv := range s.txreq.due(s.cfg.Now()) {
		for len(inv) > 0 {
			n := min(len(inv), wire.MaxInvEntries)
			st.p.Send(&wire.MsgGetData{Inv: inv[:n]})
			inv = inv[n:]
		}
	}
}

// onInv asks for what was announced and we lack.
func (s *Server) onInv(p *peer.Peer, st *peerState, m *wire.MsgInv) error {
	askHeaders, txs := false, false
	now := s.cfg.Now()
	hashes := make([]sha256d.Hash, len(m.Inv))
	for i, iv := range m.Inv {
		hashes[i] = iv.Hash
	}
	st.learn(hashes...)
	for _, iv := range m.Inv {
		switch iv.Type &^ wire.InvWitnessFlag {
		case wire.InvBlock:
			if n := s.chain.NodeByHash(iv.Hash); n == nil {
				askHeaders = true
			} else {
				s.sched.noteBest(st, n)
			}
		case wire.InvTx, wire.InvWTx:
			if s.pool != nil && st.relaysTxs() && s.pool.Get(iv.Hash) == nil && !s.pool.RecentlyRejected(iv.Hash) {
				s.txreq.announced(st, wire.InvVect{Type: iv.Type &^ wire.InvWitnessFlag, Hash: iv.Hash}, now, st.outbound())
				txs = true
			}
		}
	}
	// An announced block we do not know: ask for the headers that lead to
	// it, unless a getheaders to this peer is still unanswered (at most one
	// every 2 minutes then, as Core's HEADERS_RESPONSE_TIME).
	if askHeaders && st.mayAskHeaders(now) {
		p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: chain.LocatorFrom(s.bestHeader())})
	}
	if txs {
		s.requestTxs()
	}
	s.schedule()
	return nil
}

// onNotFound releases block requests the peer cannot serve.
func (s *Server) onNotFound(st *peerState, m *wire.MsgNotFound) {
	var hashes []sha256d.Hash
	for _, iv := range m.Inv {
		switch iv.Type &^ wire.InvWitnessFlag {
		case wire.InvTx, wire.InvWTx:
			s.txreq.notFound(st, iv.Hash)
		default:
			hashes = append(hashes, iv.Hash)
		}
	}
	s.requestTxs()
	s.sched.notFound(st, hashes)
	s.schedule()
}

// schedule asks peers for the blocks the scheduler hands out: near the
// tip, of a peer that speaks BIP152, as compact blocks (what it lacks of a
// block its mempool mostly holds costs a fraction of the block).
func (s *Server) schedule() {
	tip := s.chain.Tip()
	for st, inv := range s.sched.next(s.cfg.Now()) {
		s.counters.blocksRequested.Add(uint64(len(inv)))
		if speaks, _ := st.compactInfo(); speaks && len(inv) == 1 {
			if n := s.chain.NodeByHash(inv[0].Hash); n != nil && n.Height == tip.Height+1 {
				inv[0].Type = wire.InvCmpctBlock
			}
		}
		st.p.Send(&wire.MsgGetData{Inv: inv})
	}
}

// relayPenalty ages the addresses a peer relays (Core's 2 hours): what we
// heard second-hand is less fresh than what it claims.
const relayPenalty = 2 * time.Hour

// onAddresses takes addresses within the peer's rate (Bitcoin Core's token
// bucket: 0.1 a second, one token at the start, 1,000 more when we ask);
// the rest are dropped, so an addr flood costs nothing. They enter the
// book's new table in buckets chosen by the sender's network group, so
// one sender cannot fill it.
func (s *Server) onAddresses(p *peer.Peer, st *peerState, entries []addrbook.Entry) {
	n := st.takeAddrTokens(len(entries), s.cfg.Now())
	s.book.Add(p.Addr().Addr(), relayPenalty, entries[:n]...)
}

// txInvType is how transactions are announced to p.
func txInvType(p *peer.Peer) wire.InvType {
	if p.WTxIDRelay() {
		return wire.InvWTx
	}
	return wire.InvTx
}

// randomDelay draws the wait before a peer's next batch of announcements.
func randomDelay(mean time.Duration) time.Duration {
	return time.Duration(rand.ExpFloat64() * float64(mean))
}
