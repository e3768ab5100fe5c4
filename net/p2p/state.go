package p2p

import (
	"net/netip"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// Per-peer bounds: nothing a peer sends grows these beyond them.
const (
	knownInventory = 50_000 // hashes remembered per peer
	maxTxQueue     = 50_000 // announcements waiting per peer
	addrRate       = 0.1    // addresses accepted per second (Bitcoin Core's)
	addrBurst      = 1000
)

// peerState is what the server keeps about a connection. Guarded by
// Server.mu.
type peerState struct {
	p          *peer.Peer
	outbound   bool
	persistent bool
	addr       netip.AddrPort // dialled address, or the remote address if inbound

	known       *knownSet
	best        *chain.Node // the best header we know the peer has
	inflight    int         // blocks requested from it
	txq         []wire.InvVect
	nextTxFlush time.Time
	addrTokens  float64
	addrRefill  time.Time
	gotGetAddr  bool
	ready       bool
	unconnected int  // headers messages in a row that did not connect
	stalled     bool // stalled the download and has delivered nothing since
}

func newPeerState(outbound bool, addr netip.AddrPort, persistent bool, now time.Time) *peerState {
	return &peerState{outbound: outbound, addr: addr, persistent: persistent, known: newKnownSet(knownInventory),
		addrTokens: addrBurst, addrRefill: now}
}

// noteBest raises what we know of the peer's chain.
func (st *peerState) noteBest(n *chain.Node) {
	if n != nil && (st.best == nil || n.Work.Gt(&st.best.Work)) {
		st.best = n
	}
}

// request is a block asked of a peer.
type request struct {
	peer *peerState
	at   time.Time
}

// knownSet is a bounded set of hashes; the oldest is forgotten first.
type knownSet struct {
	set  map[sha256d.Hash]struct{}
	ring []sha256d.Hash
	next int
}

func newKnownSet(n int) *knownSet {
	return &knownSet{set: make(map[sha256d.Hash]struct{}), ring: make([]sha256d.Hash, 0, n)}
}

func (k *knownSet) add(h sha256d.Hash) {
	if _, ok := k.set[h]; ok {
		return
	}
	if len(k.ring) < cap(k.ring) {
		k.ring = append(k.ring, h)
	} else {
		delete(k.set, k.ring[k.next])
		k.ring[k.next] = h
		k.next = (k.next + 1) % len(k.ring)
	}
	k.set[h] = struct{}{}
}

func (k *knownSet) has(h sha256d.Hash) bool {
	_, ok := k.set[h]
	return ok
}

// rawBlock is a block served from disk as the bytes it is stored as, without
// decoding and encoding it again.
type rawBlock []byte

func (rawBlock) Command() string                           { return wire.CmdBlock }
func (b rawBlock) AppendBinary(dst []byte) ([]byte, error) { return append(dst, b...), nil }
func (rawBlock) Decode([]byte) error                       { return wire.ErrInvalid }
