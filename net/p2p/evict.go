package p2p

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"time"

	"github.com/renga-p2p/renga/net/addrbook"
)

// inboundGrace is how long an inbound connection has to complete its
// handshake before it is the first to be evicted for a newcomer.
const inboundGrace = 5 * time.Second

// evictCandidate is what eviction knows of an inbound connection.
type evictCandidate struct {
	st          *peerState
	ready       bool          // sent its version (its handshake is done or under way)
	connected   time.Time     // when the connection was made
	minPing     time.Duration // 0: none measured yet
	lastBlock   time.Time     // last novel block it sent
	lastTx      time.Time     // last novel transaction it sent
	relayTxs    bool          // it asked for transactions
	group       addrbook.Group
	keyedGroup  uint64 // the group hashed with our secret: an order an attacker cannot predict
	local       bool
	discouraged bool
}

// selectEvict chooses the inbound connection to give up for a newcomer, as
// Bitcoin Core's SelectNodeToEvict does, or nil if every one is protected.
//
// First, a connection whose peer has not even sent its version is evicted:
// slots are for peers that talk. The oldest of those that had
// inboundGrace to do it goes first; if all are younger, the youngest (a
// flood of new connections then evicts itself while an honest newcomer
// completes its handshake). Otherwise peers are
// protected, in turn: 4 by keyed network group (an attacker cannot know
// which groups), 8 with the lowest ping, 4 that most recently sent a novel
// transaction, up to 8 peers not relaying transactions that most recently
// sent a novel block, 4 that most recently sent a novel block, and half of
// the rest by longest uptime (a quarter of that half kept first for local
// peers, which are slow to reach otherwise). Of those left, discouraged
// peers are the only candidates if there are any; then the youngest
// connection of the network group with the most connections goes (ties: the
// group whose youngest is youngest).
func selectEvict(cands []evictCandidate, now time.Time) *peerState {
	var late, early []evictCandidate
	for _, c := range cands {
		switch {
		case c.ready:
		case now.Sub(c.connected) >= inboundGrace:
			late = append(late, c)
		default:
			early = append(early, c)
		}
	}
	byAge := func(a, b evictCandidate) int {
		return cmp.Or(a.connected.Compare(b.connected), cmp.Compare(a.st.seq, b.st.seq))
	}
	if len(late) > 0 {
		return slices.MinFunc(late, byAge).st
	}
	if len(early) > 0 {
		return slices.MaxFunc(early, byAge).st
	}
	c := slices.Clone(cands)
	// protect sorts c so that the ones to protect come last and drops up to
	// k of those for which keep holds.
	protect := func(k int, less func(a, b evictCandidate) int, keep func(evictCandidate) bool) {
		slices.SortStableFunc(c, less)
		for i := len(c) - 1; i >= 0 && k > 0; i-- {
			if keep == nil || keep(c[i]) {
				c = slices.Delete(c, i, i+1)
				k--
			}
		}
	}
	protect(4, func(a, b evictCandidate) int { return cmp.Compare(a.keyedGroup, b.keyedGroup) }, nil)
	// Lowest ping last; a peer never pinged counts as slowest.
	ping := func(x evictCandidate) time.Duration {
		if x.minPing == 0 {
			return time.Duration(1<<63 - 1)
		}
		return x.minPing
	}
	protect(8, func(a, b evictCandidate) int { return cmp.Compare(ping(b), ping(a)) }, nil)
	protect(4, func(a, b evictCandidate) int { return a.lastTx.Compare(b.lastTx) }, func(x evictCandidate) bool { return !x.lastTx.IsZero() })
	protect(8, func(a, b evictCandidate) int { return a.lastBlock.Compare(b.lastBlock) },
		func(x evictCandidate) bool { return !x.relayTxs && !x.lastBlock.IsZero() })
	protect(4, func(a, b evictCandidate) int { return a.lastBlock.Compare(b.lastBlock) }, func(x evictCandidate) bool { return !x.lastBlock.IsZero() })
	// Half the rest by uptime, local peers first for a quarter of it.
	half := len(c) / 2
	local := half / 4
	protect(local, func(a, b evictCandidate) int { return b.connected.Compare(a.connected) }, func(x evictCandidate) bool { return x.local })
	protect(half-local, func(a, b evictCandidate) int { return b.connected.Compare(a.connected) }, nil)
	if len(c) == 0 {
		return nil
	}
	if slices.ContainsFunc(c, func(x evictCandidate) bool { return x.discouraged }) {
		c = slices.DeleteFunc(c, func(x evictCandidate) bool { return !x.discouraged })
	}
	groups := map[addrbook.Group][]evictCandidate{}
	for _, x := range c {
		groups[x.group] = append(groups[x.group], x)
	}
	var worst []evictCandidate
	youngest := func(g []evictCandidate) evictCandidate { return slices.MaxFunc(g, byAge) }
	for _, g := range groups {
		if len(g) > len(worst) || len(g) == len(worst) && youngest(g).connected.After(youngest(worst).connected) {
			worst = g
		}
	}
	return youngest(worst).st
}

// keyedGroup orders network groups by a hash salted with the node's secret,
// so that which groups eviction protects cannot be chosen by a peer.
func keyedGroup(key [16]byte, g addrbook.Group) uint64 {
	h := sha256.New()
	h.Write(key[:])
	h.Write([]byte(g.String()))
	return binary.LittleEndian.Uint64(h.Sum(nil))
}
