package p2p

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/addrbook"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// onGetData serves blocks and transactions, and notfound for the rest.
//
// Lazily, as Bitcoin Core does: each block is read from the store only when
// the peer's send buffer has room for it (peer.WaitSendRoom), so a getdata
// of thousands of blocks is served at the pace the peer reads, costing at
// most the send buffer and one block, and the peer's further messages wait
// meanwhile. A hash named twice in one getdata is served once.
func (s *Server) onGetData(p *peer.Peer, m *wire.MsgGetData) error {
	var missing []wire.InvVect
	seen := make(map[sha256d.Hash]struct{}, min(len(m.Inv), 1024))
	for _, iv := range m.Inv {
		if _, dup := seen[iv.Hash]; dup {
			continue
		}
		seen[iv.Hash] = struct{}{}
		switch iv.Type &^ wire.InvWitnessFlag {
		case wire.InvBlock, wire.InvCmpctBlock:
			n := s.chain.NodeByHash(iv.Hash)
			if n == nil || s.chain.Status(n)&chain.StatusHaveData == 0 {
				missing = append(missing, iv)
				continue
			}
			if err := p.WaitSendRoom(); err != nil {
				return err
			}
			if iv.Type == wire.InvCmpctBlock && s.serveCompact(p, n) {
				continue
			}
			raw, err := s.chain.RawBlock(n)
			if err != nil {
				missing = append(missing, iv)
				continue
			}
			if !p.Send(rawBlock(raw)) {
				return nil // closed: Run reports why
			}
			s.counters.blocksServed.Add(1)
		case wire.InvTx, wire.InvWTx:
			var e *mempool.Entry
			if s.pool != nil {
				e = s.pool.Get(iv.Hash)
			}
			if e == nil {
				missing = append(missing, iv)
				continue
			}
			if err := p.WaitSendRoom(); err != nil {
				return err
			}
			if !p.Send(e.Tx) {
				return nil
			}
			s.counters.txsServed.Add(1)
		default:
			missing = append(missing, iv)
		}
	}
	if len(missing) > 0 {
		p.Send(&wire.MsgNotFound{Inv: missing})
	}
	return nil
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

// errMempoolNotAllowed ends the connection of a peer that sent mempool
// without the permission (as Bitcoin Core disconnects it).
var errMempoolNotAllowed = errors.New("p2p: mempool request without the permission")

// onMempool announces the pool's transactions (BIP35) to a peer allowed to
// ask (Config.MempoolPeers).
func (s *Server) onMempool(p *peer.Peer, st *peerState) error {
	if !slices.ContainsFunc(s.cfg.MempoolPeers, func(pf netip.Prefix) bool { return pf.Contains(p.Addr().Addr()) }) {
		return errMempoolNotAllowed
	}
	if s.pool == nil {
		return nil
	}
	var inv []wire.InvVect
	for _, e := range s.pool.Entries() {
		if !st.tell(e.TxID) {
			continue
		}
		inv = append(inv, wire.InvVect{Type: txInvType(p), Hash: e.TxID})
		if len(inv) == wire.MaxInvEntries {
			if err := p.WaitSendRoom(); err != nil {
				return err
			}
			p.Send(&wire.MsgInv{Inv: inv})
			inv = nil
		}
	}
	if len(inv) > 0 {
		p.Send(&wire.MsgInv{Inv: inv})
	}
	return nil
}

// The getaddr answer (Bitcoin Core's): a random selection of at most
// addrAnswerPct percent of the book, at most wire.MaxAddrs, made once per
// addrCacheLife and served from that cache, so that repeated getaddrs over
// many connections cannot map the whole book.
const (
	addrAnswerPct = 23
	addrCacheLife = 24 * time.Hour
)

// addrCache is the current getaddr answer.
type addrCache struct {
	mu      sync.Mutex
	entries []addrbook.Entry
	until   time.Time
}

// onGetAddr answers an inbound peer's first getaddr from the cache (Core
// answers only inbound peers: an outbound peer asking what we know is how a
// spy maps the network). Addresses on our LAN are not told to a peer from
// outside it.
func (s *Server) onGetAddr(p *peer.Peer, st *peerState) {
	if st.kind != inbound || !st.relaysAddrs() || !st.firstGetAddr() {
		return
	}
	now := s.cfg.Now()
	c := &s.addrCache
	c.mu.Lock()
	if now.After(c.until) {
		c.entries = s.book.GetAddr(wire.MaxAddrs, addrAnswerPct)
		c.until = now.Add(addrCacheLife)
	}
	cached := c.entries
	c.mu.Unlock()
	public := addrbook.IsRoutable(p.Addr().Addr())
	m := &wire.MsgAddr{}
	for _, e := range cached {
		if public && !addrbook.IsRoutable(e.Addr.Addr()) {
			continue
		}
		m.Addrs = append(m.Addrs, wire.TimedAddr{Time: uint32(e.LastSeen.Unix()),
			NetAddr: wire.NetAddr{Services: e.Services, Addr: e.Addr}})
	}
	if len(m.Addrs) > 0 {
		p.Send(m)
	}
}
