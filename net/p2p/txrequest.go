package p2p

import (
	"sync"
	"time"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Transaction requests (Bitcoin Core's TxRequestTracker, simplified): each
// announced transaction we lack is asked of one announcer at a time, and of
// the next only when that one answers notfound, leaves, or lets the timeout
// pass. What a peer can make us track is bounded.
const (
	// maxTxAnnounced is how many announced transactions we keep per peer
	// (Core's MAX_PEER_TX_ANNOUNCEMENTS); beyond it announcements are
	// dropped.
	maxTxAnnounced = 5000
	// maxTxInFlight is how many transactions we ask of a peer at once
	// (Core's MAX_PEER_TX_REQUEST_IN_FLIGHT).
	maxTxInFlight = 100
	// txRequestTimeout is how long an asked peer has to deliver before the
	// next announcer is asked (Core's GETDATA_TX_INTERVAL).
	txRequestTimeout = time.Minute
	// inboundTxDelay: an inbound peer's announcement is asked for only after
	// this, so that an outbound peer announcing the same is asked first
	// (Core's NONPREF_PEER_TX_DELAY): an attacker with many inbound
	// connections cannot make itself the source of every transaction.
	inboundTxDelay = 2 * time.Second
)

// txRequests tracks the transactions peers announced that we want.
type txRequests struct {
	mu    sync.Mutex
	wants map[sha256d.Hash]*txWant
	peers map[*peerState]*txPeer
	// A scan of wants is due when something changed (dirty) or at next,
	// the earliest time an announcer becomes askable or a request times
	// out; otherwise due returns at once.
	dirty bool
	next  time.Time
}

// txWant is one transaction we want: who announced it, in order, and whom
// we asked.
type txWant struct {
	announcers []txAnnouncer
	asked      *peerState // nil: not asked of anyone now
	askedAt    time.Time
}

type txAnnouncer struct {
	st        *peerState
	at        time.Time // when it may be asked
	typ       wire.InvType
	preferred bool
}

// txPeer counts what one peer costs.
type txPeer struct {
	announced, inflight int
}

func newTxRequests() *txRequests {
	return &txRequests{wants: map[sha256d.Hash]*txWant{}, peers: map[*peerState]*txPeer{}}
}

// announced records that st announced iv at now. preferred peers (those we
// dialled) may be asked at once, others after inboundTxDelay.
func (r *txRequests) announced(st *peerState, iv wire.InvVect, now time.Time, preferred bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tp := r.peers[st]
	if tp == nil {
		tp = &txPeer{}
		r.peers[st] = tp
	}
	if tp.announced >= maxTxAnnounced {
		return
	}
	w := r.wants[iv.Hash]
	if w == nil {
		w = &txWant{}
		r.wants[iv.Hash] = w
	}
	for _, a := range w.announcers {
		if a.st == st {
			return // already counted
		}
	}
	at := now
	if !preferred {
		at = now.Add(inboundTxDelay)
	}
	w.announcers = append(w.announcers, txAnnouncer{st: st, at: at, typ: iv.Type, preferred: preferred})
	tp.announced++
	r.dirty = true
}

// due returns the requests to send now: for each wanted transaction not
// asked of anyone (or whose request timed out, which drops that peer from
// its announcers), the first announcer that may be asked and has room,
// preferred peers first.
func (r *txRequests) due(now time.Time) map[*peerState][]wire.InvVect {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.dirty && (r.next.IsZero() || now.Before(r.next)) {
		return nil
	}
	r.dirty, r.next = false, time.Time{}
	later := func(t time.Time) {
		if r.next.IsZero() || t.Before(r.next) {
			r.next = t
		}
	}
	out := map[*peerState][]wire.InvVect{}
	for h, w := range r.wants {
		if w.asked != nil {
			if timeout := w.askedAt.Add(txRequestTimeout); now.Before(timeout) {
				later(timeout)
				continue
			}
			r.dropAnnouncer(h, w, w.asked) // it had its chance
			if r.wants[h] == nil {
				continue
			}
		}
		var pick *txAnnouncer
		for i := range w.announcers {
			a := &w.announcers[i]
			if now.Before(a.at) {
				later(a.at)
				continue
			}
			if r.peers[a.st].inflight >= maxTxInFlight {
				continue // rescanned when a request of its ends (dirty)
			}
			if pick == nil || a.preferred && !pick.preferred {
				pick = a
			}
		}
		if pick == nil {
			continue
		}
		w.asked, w.askedAt = pick.st, now
		later(now.Add(txRequestTimeout))
		r.peers[pick.st].inflight++
		out[pick.st] = append(out[pick.st], wire.InvVect{Type: pick.typ, Hash: h})
	}
	return out
}

// dropAnnouncer removes st from w's announcers (and w if none is left).
// r.mu is held.
func (r *txRequests) dropAnnouncer(h sha256d.Hash, w *txWant, st *peerState) {
	for i, a := range w.announcers {
		if a.st == st {
			w.announcers = append(w.announcers[:i], w.announcers[i+1:]...)
			if tp := r.peers[st]; tp != nil {
				tp.announced--
			}
			break
		}
	}
	if w.asked == st {
		w.asked = nil
		if tp := r.peers[st]; tp != nil {
			tp.inflight--
		}
	}
	r.dirty = true
	if len(w.announcers) == 0 {
		delete(r.wants, h)
	}
}

// done forgets a transaction: it arrived (from anyone), or we no longer
// want it.
func (r *txRequests) done(h sha256d.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.wants[h]
	if w == nil {
		return
	}
	for len(w.announcers) > 0 {
		r.dropAnnouncer(h, w, w.announcers[0].st)
	}
	delete(r.wants, h)
}

// notFound: st cannot deliver h; the next announcer is asked.
func (r *txRequests) notFound(st *peerState, h sha256d.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.wants[h]; w != nil {
		r.dropAnnouncer(h, w, st)
	}
}

// remove forgets a peer that left; what it was asked goes to others.
func (r *txRequests) remove(st *peerState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for h, w := range r.wants {
		r.dropAnnouncer(h, w, st)
	}
	delete(r.peers, st)
}

// counts reports how many transactions st has announced that we track and
// how many we asked of it.
func (r *txRequests) counts(st *peerState) (announced, inflight int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tp := r.peers[st]; tp != nil {
		return tp.announced, tp.inflight
	}
	return 0, 0
}
