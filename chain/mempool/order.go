package mempool

import (
	"hash/maphash"
	"sync"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// rateHeap orders the pool's entries for eviction (container/heap): the
// lowest fee rate first, and among equal rates the newest.
type rateHeap []*Entry

func (h rateHeap) Len() int { return len(h) }
func (h rateHeap) Less(i, j int) bool {
	if h[i].rate != h[j].rate {
		return h[i].rate < h[j].rate
	}
	return h[i].seq > h[j].seq
}
func (h rateHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *rateHeap) Push(x any) {
	e := x.(*Entry)
	e.heapIdx = len(*h)
	*h = append(*h, e)
}
func (h *rateHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heapIdx = -1
	return e
}

// maxRecentRejects bounds the recent-rejects memory: Bitcoin Core's
// m_lazy_recent_rejects holds 120,000 too. At 8 bytes a key in a Go map, it
// is about 2 MB when full.
const maxRecentRejects = 120_000

// recentRejects remembers the transactions refused since the tip last
// changed (Core's rolling filter of recent rejects), so that neither the pool
// nor the p2p layer spends time on them again. It keeps 64-bit salted hashes
// of the txids in two generations of half the bound each: when the current
// one fills, the older is forgotten. A false positive (another txid with the
// same 64 bits under this pool's random seed) has a chance of about 2^-47
// per lookup when full, and costs a valid transaction's relay until the tip
// moves. Safe for concurrent use.
type recentRejects struct {
	max  int
	seed maphash.Seed

	mu       sync.Mutex
	cur, old map[uint64]struct{}
}

func newRecentRejects(max int) *recentRejects {
	return &recentRejects{max: max, seed: maphash.MakeSeed(), cur: map[uint64]struct{}{}}
}

func (r *recentRejects) key(h sha256d.Hash) uint64 { return maphash.Comparable(r.seed, h) }

func (r *recentRejects) add(h sha256d.Hash) {
	k := r.key(h)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cur) >= r.max/2 {
		r.old, r.cur = r.cur, make(map[uint64]struct{}, len(r.cur))
	}
	r.cur[k] = struct{}{}
}

func (r *recentRejects) has(h sha256d.Hash) bool {
	k := r.key(h)
	r.mu.Lock()
	defer r.mu.Unlock()
	_, in := r.cur[k]
	if !in {
		_, in = r.old[k]
	}
	return in
}

func (r *recentRejects) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.cur)
	r.old = nil
}

func (r *recentRejects) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cur) + len(r.old)
}
