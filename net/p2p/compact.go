package p2p

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// Compact blocks (BIP152, version 2: short ids of wtxids).
//
// Every peer of protocol 70014 or later is told we speak version 2
// (sendcmpct, announce off). Up to maxHighBandwidth peers, the last ones
// that gave us a new block first, are asked to push new blocks to us as
// compact blocks without announcing them first (sendcmpct, announce on);
// we push ours the same way to the peers that asked us, as soon as a new
// block's header and proof of work check out, before it is fully validated
// (BIP152 allows it; a peer is then not punished for an invalid block that
// passed those checks). Other version 2 peers get headers or inv and ask
// for the compact block; peers without BIP152 (btcd) get full blocks.
//
// A compact block is rebuilt from the mempool and a small pool of recently
// seen transactions the mempool did not keep; what is missing is asked
// for with getblocktxn; a block that cannot be rebuilt (its short ids
// collide, or the rebuilt transactions do not match the merkle root) is
// asked for whole.
const (
	cmpctVersion     = 2
	maxHighBandwidth = 3 // Core's limit on high-bandwidth peers
	// extraPoolTxs and extraPoolBytes bound the pool of recently seen
	// transactions kept for reconstruction (Core's
	// -blockreconstructionextratxn is 100).
	extraPoolTxs   = 100
	extraPoolBytes = 4 << 20
	// maxCmpctDepth: a compact block is served for blocks this close to the
	// tip (Core's MAX_CMPCTBLOCK_DEPTH); older ones whole.
	maxCmpctDepth = 5
	// maxBlockTxnDepth: getblocktxn is answered for blocks this close to
	// the tip (Core's MAX_BLOCKTXN_DEPTH); older ones are sent whole.
	maxBlockTxnDepth = 10
)

// CompactStats counts compact blocks received, by how they were rebuilt.
type CompactStats struct {
	Received      uint64 // compact blocks taken up for reconstruction
	Reconstructed uint64 // rebuilt from what we had, no request
	Requested     uint64 // rebuilt after one getblocktxn
	Fallback      uint64 // asked for whole (a collision, a mismatch, or a peer that could not fill the gap)
	Sent          uint64 // compact blocks sent
}

type compactCounters struct {
	received, reconstructed, requested, fallback, sent atomic.Uint64
}

func (c *compactCounters) snapshot() CompactStats {
	return CompactStats{Received: c.received.Load(), Reconstructed: c.reconstructed.Load(), Requested: c.requested.Load(),
		Fallback: c.fallback.Load(), Sent: c.sent.Load()}
}

// partialBlock is a compact block waiting for the transactions a
// getblocktxn asked for.
type partialBlock struct {
	hash    sha256d.Hash
	block   *wire.Block
	missing []uint16 // the indexes asked for, increasing
}

// extraPool is a bounded ring of transactions seen recently that the
// mempool did not keep (orphans, policy refusals): they may still be in a
// block.
type extraPool struct {
	mu    sync.Mutex
	txs   []*wire.Tx
	bytes int
}

func (x *extraPool) add(tx *wire.Tx) {
	size := tx.SerializeSize()
	if size > extraPoolBytes {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.txs = append(x.txs, tx)
	x.bytes += size
	for len(x.txs) > extraPoolTxs || x.bytes > extraPoolBytes {
		x.bytes -= x.txs[0].SerializeSize()
		x.txs[0] = nil
		x.txs = x.txs[1:]
	}
}

func (x *extraPool) each(fn func(*wire.Tx)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, tx := range x.txs {
		fn(tx)
	}
}

// sendCmpct offers compact blocks to a peer that can speak them.
func (s *Server) sendCmpct(p *peer.Peer) {
	if !s.cfg.NoCompactBlocks && p.Version().ProtocolVersion >= 70014 {
		p.Send(&wire.MsgSendCmpct{Announce: false, Version: cmpctVersion})
	}
}

// onSendCmpct records what a peer speaks: only version 2 is used.
func (s *Server) onSendCmpct(st *peerState, m *wire.MsgSendCmpct) {
	if m.Version != cmpctVersion || s.cfg.NoCompactBlocks {
		return
	}
	st.mu.Lock()
	st.cmpct, st.cmpctHB = true, m.Announce
	st.mu.Unlock()
}

// compactInfo is what the server knows of a peer's BIP152.
func (st *peerState) compactInfo() (speaks, highBandwidth bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.cmpct, st.cmpctHB
}

// newCompact makes a block's compact form with a fresh nonce.
func newCompact(b *wire.Block) (*wire.MsgCmpctBlock, error) {
	var nb [8]byte
	_, _ = rand.Read(nb[:]) // never fails (crypto/rand)
	return wire.NewCmpctBlock(b, binary.LittleEndian.Uint64(nb[:]))
}

// earlyRelay pushes b as a compact block to the high-bandwidth peers that
// do not have it (but from), before it is fully validated, if it is our
// next tip: it extends the tip, no header we know goes further (not a block
// of a sync), its proof of work is valid and its transactions check out
// without context.
func (s *Server) earlyRelay(b *wire.Block, from *peerState) {
	tip := s.chain.Tip()
	hash := b.Hash()
	if b.Header.PrevBlock != tip.Hash {
		return
	}
	if best := s.chain.BestHeader(); best != nil && best.Hash != hash && best.Height > tip.Height {
		return
	}
	var targets []*peerState
	for _, st := range s.readyPeers() {
		if _, hb := st.compactInfo(); hb && st != from {
			targets = append(targets, st)
		}
	}
	if len(targets) == 0 {
		return
	}
	if chain.CheckProofOfWork(&hash, b.Header.Bits, &s.params.PowLimit) != nil || chain.CheckBlock(b, s.params) != nil {
		return
	}
	m, err := newCompact(b)
	if err != nil {
		return
	}
	for _, st := range targets {
		if st.tell(hash) {
			st.p.Send(m)
			s.counters.compact.sent.Add(1)
		}
	}
}

// noteFirst makes a peer that gave us a new block first one of our
// high-bandwidth peers (the newest of maxHighBandwidth; the oldest is told
// to stop pushing).
func (s *Server) noteFirst(st *peerState) {
	if speaks, _ := st.compactInfo(); !speaks {
		return
	}
	s.hbMu.Lock()
	var drop *peerState
	for i, x := range s.hb {
		if x == st {
			s.hb = append(s.hb[:i], s.hb[i+1:]...)
			s.hb = append(s.hb, st)
			s.hbMu.Unlock()
			return
		}
	}
	s.hb = append(s.hb, st)
	if len(s.hb) > maxHighBandwidth {
		drop, s.hb = s.hb[0], s.hb[1:]
	}
	s.hbMu.Unlock()
	st.p.Send(&wire.MsgSendCmpct{Announce: true, Version: cmpctVersion})
	if drop != nil {
		drop.p.Send(&wire.MsgSendCmpct{Announce: false, Version: cmpctVersion})
	}
}

// isHighBandwidth reports whether we asked st to push compact blocks.
func (s *Server) isHighBandwidth(st *peerState) bool {
	s.hbMu.Lock()
	defer s.hbMu.Unlock()
	for _, x := range s.hb {
		if x == st {
			return true
		}
	}
	return false
}

// forgetHighBandwidth drops a peer that left from the high-bandwidth list.
func (s *Server) forgetHighBandwidth(st *peerState) {
	s.hbMu.Lock()
	defer s.hbMu.Unlock()
	for i, x := range s.hb {
		if x == st {
			s.hb = append(s.hb[:i], s.hb[i+1:]...)
			return
		}
	}
}

// onCmpctBlock takes a compact block: its header first, then, if the block
// could extend our best chain soon, its reconstruction.
func (s *Server) onCmpctBlock(p *peer.Peer, st *peerState, m *wire.MsgCmpctBlock) error {
	hash := m.Header.Hash()
	st.learn(hash)
	total := len(m.ShortIDs) + len(m.Prefilled)
	if total == 0 {
		return misbehaving("compact block %s with no transactions", hash)
	}
	for _, pf := range m.Prefilled {
		if int(pf.Index) >= total {
			return misbehaving("compact block %s prefills index %d of %d transactions", hash, pf.Index, total)
		}
	}
	if n := s.chain.NodeByHash(hash); n != nil && s.chain.Status(n)&chain.StatusHaveData != 0 {
		s.sched.delivered(st, hash) // a request of ours it answers
		return nil
	}
	if s.chain.NodeByHash(m.Header.PrevBlock) == nil {
		if st.mayAskHeaders(s.cfg.Now()) {
			p.Send(&wire.MsgGetHeaders{Version: wire.ProtocolVersion, Locator: chain.LocatorFrom(s.bestHeader())})
		}
		return nil
	}
	n, err := st.hsync.Process([]wire.Header{m.Header})
	switch {
	case errors.Is(err, chain.ErrInvalidBlock) && chain.RuleOf(err) != chain.RuleTimeTooNew:
		return fmt.Errorf("%w: compact block with an invalid header: %v", peer.ErrProtocol, err)
	case err != nil || n == nil:
		return nil // below the work threshold, or from the future: nothing to rebuild
	}
	s.sched.noteBest(st, n)
	if tip := s.chain.Tip(); !n.Work.Gt(&tip.Work) || s.chain.Status(n.Parent)&chain.StatusHaveData == 0 {
		s.schedule() // not a block to rebuild now: the header is what matters
		return nil
	}
	// The same block comes from each high-bandwidth peer at once: rebuild
	// it once. Later copies only count for their header; if this rebuild
	// fails, the scheduler fetches the block like any other.
	if !s.startRebuild(hash) {
		return nil
	}
	defer s.endRebuild(hash)
	s.counters.compact.received.Add(1)
	st.novel(true, s.cfg.Now())
	return s.reconstruct(p, st, m, hash, total)
}

// startRebuild claims the reconstruction of a block; false if another
// peer's copy is being rebuilt.
func (s *Server) startRebuild(h sha256d.Hash) bool {
	s.hbMu.Lock()
	defer s.hbMu.Unlock()
	if s.rebuilding == nil {
		s.rebuilding = map[sha256d.Hash]bool{}
	}
	if s.rebuilding[h] {
		return false
	}
	s.rebuilding[h] = true
	return true
}

func (s *Server) endRebuild(h sha256d.Hash) {
	s.hbMu.Lock()
	delete(s.rebuilding, h)
	s.hbMu.Unlock()
}

// reconstruct rebuilds a compact block from the mempool and the extra pool,
// and processes it, or asks for what is missing.
func (s *Server) reconstruct(p *peer.Peer, st *peerState, m *wire.MsgCmpctBlock, hash sha256d.Hash, total int) error {
	b := &wire.Block{Header: m.Header, Txs: make([]wire.Tx, total)}
	filled := make([]bool, total)
	for _, pf := range m.Prefilled {
		b.Txs[pf.Index], filled[pf.Index] = pf.Tx, true
	}
	// Short ids in the order of the slots the prefilled ones leave.
	slot := make(map[wire.ShortID]int, len(m.ShortIDs))
	i := 0
	for _, id := range m.ShortIDs {
		for filled[i] {
			i++
		}
		if _, dup := slot[id]; dup {
			// Two of the block's transactions share a short id: it cannot
			// be rebuilt from short ids (Core asks for the whole block).
			return s.fallback(p, hash, "its short ids collide")
		}
		slot[id] = i
		i++
	}
	key := wire.NewShortIDKey(&m.Header, m.Nonce)
	collided := map[int]bool{}
	offer := func(tx *wire.Tx, wtxid sha256d.Hash) {
		j, ok := slot[key.ShortID(wtxid)]
		if !ok || collided[j] {
			return
		}
		if filled[j] {
			if b.Txs[j].WTxID() != wtxid {
				collided[j] = true // two of ours share the id: ask for it
				filled[j] = false
			}
			return
		}
		b.Txs[j], filled[j] = *tx, true
	}
	if s.pool != nil {
		s.pool.Each(func(e *mempool.Entry) { offer(e.Tx, e.WTxID) })
	}
	s.extra.each(func(tx *wire.Tx) { offer(tx, tx.WTxID()) })
	var missing []uint16
	for j := range filled {
		if !filled[j] {
			missing = append(missing, uint16(j))
		}
	}
	if len(missing) == 0 {
		if root, mutated := b.MerkleRoot(); root != b.Header.MerkleRoot || mutated {
			return s.fallback(p, hash, "the rebuilt transactions do not match its merkle root")
		}
		s.counters.compact.reconstructed.Add(1)
		return s.takeBlock(p, st, b, true)
	}
	st.mu.Lock()
	st.partial = &partialBlock{hash: hash, block: b, missing: missing}
	st.mu.Unlock()
	p.Send(&wire.MsgGetBlockTxn{BlockHash: hash, Indexes: missing})
	return nil
}

// fallback asks for a block whole, as a block (not a compact block), when
// its compact form could not be used.
func (s *Server) fallback(p *peer.Peer, hash sha256d.Hash, why string) error {
	s.counters.compact.fallback.Add(1)
	s.log.Debug("compact block not rebuilt; asking for the whole block", "peer", p.Addr(), "hash", hash, "why", why)
	p.Send(&wire.MsgGetData{Inv: []wire.InvVect{{Type: wire.InvBlock, Hash: hash}}})
	return nil
}

// onBlockTxn fills a partial block with the transactions a getblocktxn
// asked for.
func (s *Server) onBlockTxn(p *peer.Peer, st *peerState, m *wire.MsgBlockTxn) error {
	st.mu.Lock()
	pb := st.partial
	if pb != nil && pb.hash == m.BlockHash {
		st.partial = nil
	}
	st.mu.Unlock()
	if pb == nil || pb.hash != m.BlockHash {
		return nil // not asked for (or no longer): ignored, as Core does
	}
	if len(m.Txs) != len(pb.missing) {
		return misbehaving("blocktxn for %s with %d transactions, %d asked for", m.BlockHash, len(m.Txs), len(pb.missing))
	}
	for i, j := range pb.missing {
		pb.block.Txs[j] = m.Txs[i]
	}
	if root, mutated := pb.block.MerkleRoot(); root != pb.block.Header.MerkleRoot || mutated {
		return s.fallback(p, m.BlockHash, "the rebuilt transactions do not match its merkle root")
	}
	s.counters.compact.requested.Add(1)
	return s.takeBlock(p, st, pb.block, true)
}

// onGetBlockTxn serves the transactions of a recent block by index.
func (s *Server) onGetBlockTxn(p *peer.Peer, m *wire.MsgGetBlockTxn) error {
	n := s.chain.NodeByHash(m.BlockHash)
	if n == nil || s.chain.Status(n)&chain.StatusHaveData == 0 {
		return nil
	}
	if tip := s.chain.Tip(); tip.Height-n.Height >= maxBlockTxnDepth {
		raw, err := s.chain.RawBlock(n)
		if err == nil {
			p.Send(rawBlock(raw))
		}
		return nil
	}
	b, err := s.chain.Block(n)
	if err != nil {
		return nil
	}
	out := &wire.MsgBlockTxn{BlockHash: m.BlockHash, Txs: make([]wire.Tx, 0, len(m.Indexes))}
	for _, i := range m.Indexes {
		if int(i) >= len(b.Txs) {
			return misbehaving("getblocktxn for %s asks for index %d of %d transactions", m.BlockHash, i, len(b.Txs))
		}
		out.Txs = append(out.Txs, b.Txs[i])
	}
	p.Send(out)
	return nil
}

// serveCompact answers a getdata for a compact block: the compact form of a
// recent block, the whole block for older ones.
func (s *Server) serveCompact(p *peer.Peer, n *chain.Node) bool {
	if tip := s.chain.Tip(); tip.Height-n.Height >= maxCmpctDepth {
		return false
	}
	b, err := s.chain.Block(n)
	if err != nil {
		return false
	}
	m, err := newCompact(b)
	if err != nil {
		return false
	}
	s.counters.compact.sent.Add(1)
	return p.Send(m)
}
