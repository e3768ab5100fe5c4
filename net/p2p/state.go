package p2p

import (
	"net/netip"
	"sync"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// Per-peer bounds: nothing a peer sends grows these beyond them.
const (
	knownInventory = 50_000 // hashes remembered per peer
	maxTxQueue     = 50_000 // announcements waiting per peer
	// Address relay (Bitcoin Core's token bucket): a peer's addresses are
	// taken at addrRate a second up to addrBurst, starting from one token,
	// and addrBurst more only when we asked it (getaddr).
	addrRate  = 0.1
	addrBurst = 1000
)

// connKind is why a connection exists.
type connKind int

const (
	inbound    connKind = iota
	outbound            // full relay, chosen by the connection policy
	blockRelay          // outbound, blocks only (no transactions, no addresses): Core's anchors
	feeler              // outbound, short-lived: tests an address, then ends
	manual              // --connect, --addnode, RPC addnode: never punished
)

// String is the kind as bitcoind's getpeerinfo connection_type names it.
func (k connKind) String() string {
	switch k {
	case inbound:
		return "inbound"
	case outbound:
		return "outbound-full-relay"
	case blockRelay:
		return "block-relay-only"
	case feeler:
		return "feeler"
	case manual:
		return "manual"
	}
	return "unknown"
}

// peerState is what the server keeps about one connection. The fields
// above mu are set when the connection starts and never change; the rest
// are the peer's gossip state, behind its own lock (touched by the peer's
// reading goroutine, the announcement loop and chain events). What the
// download scheduler knows of the peer lives in the scheduler.
type peerState struct {
	p         *peer.Peer
	kind      connKind
	addr      netip.AddrPort // the dialled address, or the remote one if inbound
	connected time.Time
	seq       uint64 // order of the connections' starts (ties of connected)
	// cmpct: the peer speaks compact blocks version 2; cmpctHB: it asked
	// us to push new blocks to it as compact blocks; partial: a compact
	// block of its waiting for the blocktxn we asked for. Under mu.
	cmpct, cmpctHB bool
	partial        *partialBlock
	// hsync takes the peer's headers under the anti-DoS work threshold;
	// used by the peer's reading goroutine only.
	hsync *chain.HeaderSync
	// msgs records the connection in message-capture files when enabled
	// (nil without a Config.MessageCapture).
	msgs *capture.MessageConn

	mu          sync.Mutex
	ready       bool // the handshake completed
	known       *knownSet
	txq         []wire.InvVect
	nextTxFlush time.Time
	addrTokens  float64
	addrRefill  time.Time
	gotGetAddr  bool
	unconnected int // headers messages in a row that did not connect
	// headersAsked is when we sent the peer a getheaders it has not yet
	// answered (zero when answered).
	headersAsked time.Time
	// claim is the listening address an inbound peer says it has: its
	// version's addr_from port at the IP it connects from (never believed
	// for another IP). Not dialled while this connection lives.
	claim netip.AddrPort
	// lastBlock and lastTx are when it last sent a novel block or
	// transaction (what eviction protects).
	lastBlock, lastTx time.Time
}

// headersResponseTime is how long a getheaders may go unanswered before
// another may be sent for an announcement (Core's HEADERS_RESPONSE_TIME).
const headersResponseTime = 2 * time.Minute

// mayAskHeaders reports whether a getheaders may be sent to the peer now
// (none is unanswered, or the last is older than headersResponseTime), and
// if so records it as sent.
func (st *peerState) mayAskHeaders(now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.headersAsked.IsZero() && now.Sub(st.headersAsked) < headersResponseTime {
		return false
	}
	st.headersAsked = now
	return true
}

// askedHeaders records a getheaders sent (in answer to headers, say).
func (st *peerState) askedHeaders(now time.Time) {
	st.mu.Lock()
	st.headersAsked = now
	st.mu.Unlock()
}

// answeredHeaders records that the peer sent headers.
func (st *peerState) answeredHeaders() {
	st.mu.Lock()
	st.headersAsked = time.Time{}
	st.mu.Unlock()
}

func newPeerState(kind connKind, addr netip.AddrPort, now time.Time) *peerState {
	return &peerState{kind: kind, addr: addr, connected: now, known: newKnownSet(knownInventory), addrTokens: 1, addrRefill: now}
}

func (st *peerState) outbound() bool { return st.kind != inbound }

// relaysTxs reports whether transactions are exchanged on the connection.
func (st *peerState) relaysTxs() bool { return st.kind != blockRelay && st.kind != feeler }

// relaysAddrs reports whether addresses are exchanged on the connection.
func (st *peerState) relaysAddrs() bool { return st.kind != blockRelay && st.kind != feeler }

// askedAddrs grants the tokens for the answer to our getaddr.
func (st *peerState) askedAddrs() {
	st.mu.Lock()
	st.addrTokens += addrBurst
	st.mu.Unlock()
}

// novel records that the peer sent a novel block (or transaction) now.
func (st *peerState) novel(block bool, now time.Time) {
	st.mu.Lock()
	if block {
		st.lastBlock = now
	} else {
		st.lastTx = now
	}
	st.mu.Unlock()
}

// isReady reports whether the handshake completed.
func (st *peerState) isReady() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ready
}

// learn records that the peer has these hashes (it sent or announced them,
// or was told them), so they are not announced to it.
func (st *peerState) learn(hashes ...sha256d.Hash) {
	st.mu.Lock()
	for _, h := range hashes {
		st.known.add(h)
	}
	st.mu.Unlock()
}

// tell reports whether h is news to a ready peer, and if so records that
// it is being told.
func (st *peerState) tell(h sha256d.Hash) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.ready || st.known.has(h) {
		return false
	}
	st.known.add(h)
	return true
}

// queueTx queues an announcement unless the peer knows the transaction.
func (st *peerState) queueTx(iv wire.InvVect) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.ready || st.known.has(iv.Hash) {
		return
	}
	st.known.add(iv.Hash)
	if len(st.txq) < maxTxQueue {
		st.txq = append(st.txq, iv)
	}
}

// dueTxs takes the queued announcements if the peer's randomized timer is
// due, and sets the next one.
func (st *peerState) dueTxs(now time.Time, next func() time.Duration) []wire.InvVect {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.txq) == 0 || now.Before(st.nextTxFlush) {
		return nil
	}
	q := st.txq
	st.txq = nil
	st.nextTxFlush = now.Add(next())
	return q
}

// takeAddrTokens spends up to n address tokens (Bitcoin Core's rate: 0.1
// a second, a burst of 1,000) and returns how many were granted.
func (st *peerState) takeAddrTokens(n int, now time.Time) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	// Refilled up to the burst; what our getaddr granted may exceed it.
	st.addrTokens = min(max(addrBurst, st.addrTokens), st.addrTokens+now.Sub(st.addrRefill).Seconds()*addrRate)
	st.addrRefill = now
	n = min(n, int(st.addrTokens))
	st.addrTokens -= float64(n)
	return n
}

// firstGetAddr reports whether this is the peer's first getaddr.
func (st *peerState) firstGetAddr() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	first := !st.gotGetAddr
	st.gotGetAddr = true
	return first
}

// headersUnconnected counts headers messages that did not connect (and
// resets the count when one does), returning the run's length.
func (st *peerState) headersUnconnected(connected bool) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	if connected {
		st.unconnected = 0
	} else {
		st.unconnected++
	}
	return st.unconnected
}

// knownSet is a bounded set of hashes; the oldest is forgotten first. It
// grows as hashes come (a quiet peer costs little), up to its limit.
type knownSet struct {
	set   map[sha256d.Hash]struct{}
	ring  []sha256d.Hash
	limit int
	next  int
}

func newKnownSet(limit int) *knownSet {
	return &knownSet{set: make(map[sha256d.Hash]struct{}), limit: limit}
}

func (k *knownSet) add(h sha256d.Hash) {
	if _, ok := k.set[h]; ok {
		return
	}
	if len(k.ring) < k.limit {
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

// named reports whether addr names the connection, as the RPC names peers
// (disconnectnode, setmessagecapture): its remote address with or without
// the port, or the address it was dialled at.
func (st *peerState) named(addr string) bool {
	remote := st.p.Addr()
	return remote.String() == addr || remote.Addr().String() == addr || st.addr.String() == addr
}
