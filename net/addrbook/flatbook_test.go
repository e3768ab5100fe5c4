package addrbook

// flatBook is the address book this package was before the address manager
// (commit ce75f03): one map of at most 10,000 entries where, when full, the
// entry seen longest ago makes room, and Pick takes the best of a random
// score divided by age. It stays here, test-only, so that the flood tests
// and the simulation can show what the new tables change. Two changes from
// that code: discouragement is gone (the tests do not use it), and the
// oldest entry is found with a heap instead of a scan of the whole map
// (the same entry, without making a flood quadratic).

import (
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"time"
)

type flatConfig struct {
	MaxAddresses int // default 10,000
	Now          func() time.Time
	Seed         uint64
}

type flatEntry struct {
	Addr        netip.AddrPort `json:"addr"`
	Services    uint64         `json:"services"`
	LastSeen    time.Time      `json:"last_seen"`
	LastTry     time.Time      `json:"last_try"`
	LastSuccess time.Time      `json:"last_success"`
	Failures    int            `json:"failures"`
}

type flatBook struct {
	cfg     flatConfig
	entries map[netip.AddrPort]*flatEntry
	byAge   ageHeap
	rng     *rand.Rand
}

func newFlatBook(cfg flatConfig) *flatBook {
	if cfg.MaxAddresses == 0 {
		cfg.MaxAddresses = 10_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &flatBook{cfg: cfg, entries: map[netip.AddrPort]*flatEntry{}, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
}

func flatUsable(a netip.AddrPort) bool {
	ip := a.Addr()
	return a.IsValid() && a.Port() != 0 && !ip.IsUnspecified() && !ip.IsMulticast()
}

func (b *flatBook) Add(entries ...flatEntry) int {
	now := b.cfg.Now()
	added := 0
	for _, e := range entries {
		e.Addr = netip.AddrPortFrom(e.Addr.Addr().Unmap(), e.Addr.Port())
		if !flatUsable(e.Addr) {
			continue
		}
		if e.LastSeen.IsZero() || e.LastSeen.After(now) {
			e.LastSeen = now
		}
		if old, ok := b.entries[e.Addr]; ok {
			old.Services |= e.Services
			if e.LastSeen.After(old.LastSeen) {
				old.LastSeen = e.LastSeen
				b.aged(old)
			}
			continue
		}
		if len(b.entries) >= b.cfg.MaxAddresses {
			b.evictOldest()
		}
		ne := &flatEntry{Addr: e.Addr, Services: e.Services, LastSeen: e.LastSeen}
		b.entries[e.Addr] = ne
		b.aged(ne)
		added++
	}
	return added
}

func (b *flatBook) evictOldest() {
	for b.byAge.Len() > 0 {
		it := heap.Pop(&b.byAge).(ageItem)
		if e, ok := b.entries[it.addr]; ok && e.LastSeen.Equal(it.seen) {
			delete(b.entries, it.addr)
			return
		}
	}
}

// aged records e's LastSeen in the heap (older records of it go stale).
func (b *flatBook) aged(e *flatEntry) {
	if b.byAge.Len() > 4*len(b.entries)+1024 {
		b.byAge = b.byAge[:0]
		for _, x := range b.entries {
			b.byAge = append(b.byAge, ageItem{x.LastSeen, x.Addr})
		}
		heap.Init(&b.byAge)
		return
	}
	heap.Push(&b.byAge, ageItem{e.LastSeen, e.Addr})
}

func (b *flatBook) Attempt(a netip.AddrPort) {
	if e, ok := b.entries[a]; ok {
		e.LastTry = b.cfg.Now()
	}
}

func (b *flatBook) Failed(a netip.AddrPort) {
	if e, ok := b.entries[a]; ok {
		e.Failures++
	}
}

func (b *flatBook) Good(a netip.AddrPort, services uint64) {
	b.Add(flatEntry{Addr: a, Services: services})
	if e, ok := b.entries[a]; ok {
		e.LastSuccess, e.LastSeen, e.Failures = b.cfg.Now(), b.cfg.Now(), 0
		b.aged(e)
	}
}

func flatBackoff(failures int) time.Duration {
	if failures == 0 {
		return 0
	}
	return min(time.Minute<<min(failures-1, 11), 24*time.Hour)
}

func (b *flatBook) Pick(exclude func(netip.AddrPort) bool) (netip.AddrPort, bool) {
	now := b.cfg.Now()
	var best *flatEntry
	var bestScore float64
	for _, e := range b.entries {
		if exclude != nil && exclude(e.Addr) {
			continue
		}
		if now.Sub(e.LastTry) < flatBackoff(e.Failures) {
			continue
		}
		age := now.Sub(e.LastSeen).Hours()
		score := b.rng.Float64() / (1 + age/24)
		if best == nil || score > bestScore {
			best, bestScore = e, score
		}
	}
	if best == nil {
		return netip.AddrPort{}, false
	}
	return best.Addr, true
}

func (b *flatBook) Len() int { return len(b.entries) }

func (b *flatBook) Save(path string) error {
	var s struct {
		Entries []flatEntry `json:"addresses"`
	}
	for _, e := range b.entries {
		s.Entries = append(s.Entries, *e)
	}
	raw, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("addrbook: save %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("addrbook: save %s: %w", path, errors.Join(err, os.Remove(tmp)))
	}
	return nil
}

func (b *flatBook) Load(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("addrbook: load %s: %w", path, err)
	}
	var s struct {
		Entries []flatEntry `json:"addresses"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("addrbook: load %s: %w", path, err)
	}
	b.Add(s.Entries...)
	for _, e := range s.Entries {
		if have, ok := b.entries[e.Addr]; ok {
			have.LastTry, have.LastSuccess, have.Failures = e.LastTry, e.LastSuccess, e.Failures
		}
	}
	return nil
}

type ageItem struct {
	seen time.Time
	addr netip.AddrPort
}

type ageHeap []ageItem

func (h ageHeap) Len() int           { return len(h) }
func (h ageHeap) Less(i, j int) bool { return h[i].seen.Before(h[j].seen) }
func (h ageHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ageHeap) Push(x any)        { *h = append(*h, x.(ageItem)) }
func (h *ageHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
