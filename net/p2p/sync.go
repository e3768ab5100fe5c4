package p2p

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Protocol limits of the sync (design.md §6).
const (
	DownloadWindow = 1024
	MaxInFlight    = 16
	// StallTimeout is the first stall timeout; it doubles on every stall up
	// to MaxStallTimeout and shrinks again as blocks arrive.
	StallTimeout    = 2 * time.Second
	MaxStallTimeout = 64 * time.Second
)

// chainView is what the scheduler reads of the chain (a *chain.Chain).
type chainView interface {
	Tip() *chain.Node
	BestHeader() *chain.Node
	InActiveChain(*chain.Node) bool
	Missing(list []*chain.Node, max int) []*chain.Node
}

// scheduler decides which blocks to ask of which peer during a sync, and
// which peer stalls it. It keeps what it knows of each ready peer (the best
// header it has, its requests) behind its own lock; the server tells it what
// peers announce and deliver, and sends the batches it hands out.
type scheduler struct {
	chain chainView
	log   *slog.Logger

	mu           sync.Mutex
	peers        map[*peerState]*syncPeer
	inflight     map[sha256d.Hash]*request
	stallTimeout time.Duration
	// blockedSince is when the download window became blocked: a peer
	// free for more requests, nothing left in the window to ask for, and
	// the window's first missing block out at a peer. Zero when not.
	blockedSince time.Time
	stalls       uint64
	// win is the best chain's nodes from some height on, in height order,
	// kept between calls of next: it runs for every block delivered, and
	// walking the 1,024 parents of the window each time cost more than
	// the rest of it. Valid for winBest only.
	win     []*chain.Node
	winBest *chain.Node
}

// syncPeer is the scheduler's view of one peer.
type syncPeer struct {
	best     *chain.Node // the best header we know the peer has
	inflight int         // blocks requested from it
	stalled  bool        // stalled the download and has delivered nothing since
}

// request is a block asked of a peer.
type request struct {
	peer *peerState
	at   time.Time
}

func newScheduler(c chainView, log *slog.Logger) *scheduler {
	return &scheduler{chain: c, log: log, peers: map[*peerState]*syncPeer{}, inflight: map[sha256d.Hash]*request{},
		stallTimeout: StallTimeout}
}

// add makes a ready peer a possible source.
func (d *scheduler) add(st *peerState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.peers[st] == nil {
		d.peers[st] = &syncPeer{}
	}
}

// remove forgets a peer; its requests go to others at the next schedule.
func (d *scheduler) remove(st *peerState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.peers, st)
	for h, r := range d.inflight {
		if r.peer == st {
			delete(d.inflight, h)
		}
	}
}

// noteBest raises what we know of the peer's chain.
func (d *scheduler) noteBest(st *peerState, n *chain.Node) {
	if n == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if sp := d.peers[st]; sp != nil && (sp.best == nil || n.Work.Gt(&sp.best.Work)) {
		sp.best = n
	}
}

// best is the best header the peer is known to have (nil if none), and how
// many blocks are asked of it.
func (d *scheduler) peerInfo(st *peerState) (best *chain.Node, inflight int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sp := d.peers[st]; sp != nil {
		return sp.best, sp.inflight
	}
	return nil, 0
}

// requested reports whether the block was asked of st.
func (d *scheduler) requested(st *peerState, h sha256d.Hash) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.inflight[h]
	return r != nil && r.peer == st
}

// delivered releases the request for a block st sent, once the chain has
// it (released earlier, another goroutine's schedule would ask for it
// again), and reports whether it was asked of anyone.
func (d *scheduler) delivered(st *peerState, h sha256d.Hash) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sp := d.peers[st]; sp != nil {
		sp.stalled = false // it delivers again
	}
	r, ok := d.inflight[h]
	if !ok {
		return false
	}
	if sp := d.peers[r.peer]; sp != nil {
		sp.inflight--
	}
	delete(d.inflight, h)
	// A block arrived: relax the stall timeout (Bitcoin Core's 0.85).
	d.stallTimeout = max(StallTimeout, time.Duration(float64(d.stallTimeout)*0.85))
	return true
}

// notFound releases requests st says it cannot serve.
func (d *scheduler) notFound(st *peerState, hashes []sha256d.Hash) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range hashes {
		if r, ok := d.inflight[h]; ok && r.peer == st {
			if sp := d.peers[st]; sp != nil {
				sp.inflight--
			}
			delete(d.inflight, h)
		}
	}
}

// stallCount is how many stalls were declared.
func (d *scheduler) stallCount() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stalls
}

// next assigns the missing blocks of the download window to peers that
// have them, and takes blocks away from a peer that stalls the window. It
// returns the requests to send, by peer.
//
// A stall is Bitcoin Core's: the window cannot move because its first
// missing block is out at one peer while another peer is free and there is
// nothing else left to ask it for, while blocks beyond the window wait. Only
// then does the clock run, from the moment the window became blocked (not
// from when the request was sent: a block queued behind others at a slow
// peer is not a stall while every peer is busy). After the stall timeout,
// that peer's requests go to others and the timeout doubles.
func (d *scheduler) next(now time.Time) map[*peerState][]wire.InvVect {
	tip := d.chain.Tip()
	best := d.chain.BestHeader()
	if best == nil || !best.Work.Gt(&tip.Work) {
		d.mu.Lock()
		d.blockedSince = time.Time{}
		d.mu.Unlock()
		return nil
	}
	// The window starts after the last block the best chain shares with the
	// active one: usually the tip itself (found in a skip-list jump, where a
	// walk back from the best header would take one step per block to go).
	fork := best.Ancestor(tip.Height)
	if fork != tip {
		fork = best
		for fork != nil && !d.chain.InActiveChain(fork) {
			fork = fork.Parent
		}
	}
	if fork == nil {
		return nil
	}
	start := fork.Height + 1
	end := min(best.Height, fork.Height+DownloadWindow)
	batches := map[*peerState][]wire.InvVect{}
	d.mu.Lock()
	defer d.mu.Unlock()
	window := d.window(best, start, end)
	if len(window) == 0 {
		return nil
	}
	// How far along the window each peer has the best chain: the window is
	// one branch, so a peer that has a block of it has every block before
	// it. Worked out once per peer, not per block and peer.
	var sources []source
	free := 0
	for st, sp := range d.peers {
		if sp.best == nil {
			continue
		}
		if reach := reachOf(sp.best, window); reach >= window[0].Height {
			sources = append(sources, source{st: st, sp: sp, reach: reach})
			free += max(0, MaxInFlight-sp.inflight)
		}
	}
	// Which blocks are missing, read under our lock: a block delivered
	// (stored, then released by delivered, which takes the lock) after the
	// read and before the lock would look missing and unrequested, and be
	// asked for twice. Only as many as can be asked for now, past those in
	// flight, and at least the first (for the stall check): this runs for
	// every block delivered, and the window is 1,024 long.
	missing := d.chain.Missing(window, free+len(d.inflight)+1)
	// In address order, so that ties between equally loaded peers go the
	// same way every time (the tests depend on it, not the network).
	slices.SortFunc(sources, func(a, b source) int { return a.st.addr.Compare(b.st.addr) })
	var firstMissing *chain.Node
	for _, n := range missing {
		if firstMissing == nil {
			firstMissing = n
		}
		if free == 0 {
			break
		}
		if _, ok := d.inflight[n.Hash]; ok {
			continue
		}
		o := pickPeer(sources, n)
		if o == nil {
			continue
		}
		free--
		o.sp.inflight++
		d.inflight[n.Hash] = &request{peer: o.st, at: now}
		batches[o.st] = append(batches[o.st], wire.InvVect{Type: wire.InvBlock, Hash: n.Hash})
	}
	d.checkStall(now, sources, free, firstMissing, end < best.Height)
	return batches
}

// window returns best's ancestors from height start to end, in height
// order, from d.win where it has them: as the tip advances, the window
// slides by the blocks connected, and only the new end is walked to.
// d.mu is held.
func (d *scheduler) window(best *chain.Node, start, end int32) []*chain.Node {
	if d.winBest != best || len(d.win) == 0 || start < d.win[0].Height || start > d.win[len(d.win)-1].Height+1 {
		d.win, d.winBest = nil, best
	} else {
		d.win = d.win[start-d.win[0].Height:]
	}
	from := start // the first height d.win does not have
	if len(d.win) > 0 {
		from = d.win[len(d.win)-1].Height + 1
	}
	if end >= from {
		more := make([]*chain.Node, 0, end-from+1)
		for n := best.Ancestor(end); n != nil && n.Height >= from; n = n.Parent {
			more = append(more, n)
		}
		slices.Reverse(more)
		d.win = append(d.win, more...) // a new array holds only the live part
	}
	if len(d.win) == 0 || d.win[0].Height != start {
		return nil
	}
	return d.win[:min(len(d.win), int(end-start+1))]
}

// source is a peer the window's blocks can come from, up to height reach.
type source struct {
	st    *peerState
	sp    *syncPeer
	reach int32
}

// reachOf is the height of the last block of window that a peer whose best
// header is best has (below the window's first height if none).
func reachOf(best *chain.Node, window []*chain.Node) int32 {
	lo, hi := 0, len(window)-1 // find the last index the peer has
	last := -1
	for lo <= hi {
		mid := (lo + hi) / 2
		if n := window[mid]; best.Height >= n.Height && best.Ancestor(n.Height) == n {
			last, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	if last < 0 {
		return window[0].Height - 1
	}
	return window[last].Height
}

// checkStall runs the stall clock (see next). free is how many request
// slots are left after the window was handed out; first is the window's
// first missing block; full says whether blocks beyond the window wait for
// it to move. d.mu is held.
//
// When the window reaches the best header (the last blocks of a sync) there
// is nothing beyond it to wait for, and every block may be out at once: a
// slow peer's queued blocks would all look stalled. There, as a backstop for
// a peer that never answers, a request counts as stalled only when older
// than MaxStallTimeout.
func (d *scheduler) checkStall(now time.Time, sources []source, free int, first *chain.Node, full bool) {
	r, out := (*request)(nil), false
	if first != nil {
		r, out = d.inflight[first.Hash]
	}
	if !out || free == 0 || !otherSource(sources, first, r.peer) {
		d.blockedSince = time.Time{}
		return
	}
	if d.blockedSince.IsZero() {
		d.blockedSince = now
	}
	if full && now.Sub(d.blockedSince) <= d.stallTimeout || !full && now.Sub(r.at) <= MaxStallTimeout {
		return
	}
	d.log.Info("peer stalls the download; giving its blocks to others", "peer", r.peer.addr,
		"height", first.Height, "blocked", now.Sub(d.blockedSince), "timeout", d.stallTimeout)
	for h, q := range d.inflight {
		if q.peer == r.peer {
			delete(d.inflight, h)
		}
	}
	if sp := d.peers[r.peer]; sp != nil {
		sp.inflight = 0
		sp.stalled = true
	}
	d.stallTimeout = min(2*d.stallTimeout, MaxStallTimeout)
	d.stalls++
	d.blockedSince = time.Time{}
}

// otherSource reports whether a source other than st has n.
func otherSource(sources []source, n *chain.Node, st *peerState) bool {
	for _, o := range sources {
		if o.st != st && o.reach >= n.Height {
			return true
		}
	}
	return false
}

// pickPeer chooses the least loaded source that has n and room for another
// request. A peer that stalled gets nothing while another can serve n.
func pickPeer(sources []source, n *chain.Node) *source {
	var best *source
	for i := range sources {
		o := &sources[i]
		if o.reach < n.Height || o.sp.inflight >= MaxInFlight {
			continue
		}
		if o.sp.stalled && otherSource(sources, n, o.st) {
			continue
		}
		if best == nil || o.sp.inflight < best.sp.inflight {
			best = o
		}
	}
	return best
}
