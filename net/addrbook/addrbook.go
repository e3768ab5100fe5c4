//go:build !addrman

// This file and addrbook_test.go are the book net/p2p uses until it moves to
// the address manager (doc.go, book.go, built with -tags addrman). The move
// deletes both files and the addrman build lines.

// Package addrbook remembers the addresses of nodes: those heard of (addr
// messages, LAN discovery, the command line), when they were last seen and
// tried, and which addresses are discouraged because they misbehaved. The P2P
// server picks addresses to dial from it and answers getaddr with a sample.
//
// It is bounded ([Config.MaxAddresses]; when full, the entry seen longest ago
// makes room), so no peer can make it grow without limit. A Book is safe for
// concurrent use. Save and Load keep it across restarts as JSON.
package addrbook

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"
)

// Config configures a Book. Zero values take the defaults.
type Config struct {
	MaxAddresses   int           // default 10,000
	DiscourageTime time.Duration // default 24 hours
	Now            func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxAddresses == 0 {
		c.MaxAddresses = 10_000
	}
	if c.DiscourageTime == 0 {
		c.DiscourageTime = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Entry is what the book knows of an address.
type Entry struct {
	Addr        netip.AddrPort `json:"addr"`
	Services    uint64         `json:"services"`
	LastSeen    time.Time      `json:"last_seen"`    // when someone last vouched for it
	LastTry     time.Time      `json:"last_try"`     // when we last dialled it
	LastSuccess time.Time      `json:"last_success"` // when a handshake with it last completed
	Failures    int            `json:"failures"`     // dials failed since the last success
}

// Book is a bounded set of addresses and a list of discouraged ones.
type Book struct {
	cfg        Config
	mu         sync.Mutex
	entries    map[netip.AddrPort]*Entry
	discourage map[netip.Addr]time.Time // until when
	rng        *rand.Rand
}

// New returns an empty book.
func New(cfg Config) *Book {
	cfg = cfg.withDefaults()
	return &Book{cfg: cfg, entries: map[netip.AddrPort]*Entry{}, discourage: map[netip.Addr]time.Time{},
		rng: rand.New(rand.NewPCG(uint64(cfg.Now().UnixNano()), 0x5eed))}
}

// usable reports whether an address could be a peer at all.
func usable(a netip.AddrPort) bool {
	ip := a.Addr()
	return a.IsValid() && a.Port() != 0 && !ip.IsUnspecified() && !ip.IsMulticast()
}

// Add records addresses with their services and when they were seen (a zero
// time means now). It returns how many were new.
func (b *Book) Add(entries ...Entry) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	added := 0
	for _, e := range entries {
		e.Addr = netip.AddrPortFrom(e.Addr.Addr().Unmap(), e.Addr.Port())
		if !usable(e.Addr) {
			continue
		}
		if e.LastSeen.IsZero() || e.LastSeen.After(now) {
			e.LastSeen = now // a claim from the future is a claim of now
		}
		if old, ok := b.entries[e.Addr]; ok {
			old.Services |= e.Services
			if e.LastSeen.After(old.LastSeen) {
				old.LastSeen = e.LastSeen
			}
			continue
		}
		if len(b.entries) >= b.cfg.MaxAddresses {
			b.evictOldest()
		}
		b.entries[e.Addr] = &Entry{Addr: e.Addr, Services: e.Services, LastSeen: e.LastSeen}
		added++
	}
	return added
}

func (b *Book) evictOldest() {
	var oldest *Entry
	for _, e := range b.entries {
		if oldest == nil || e.LastSeen.Before(oldest.LastSeen) {
			oldest = e
		}
	}
	if oldest != nil {
		delete(b.entries, oldest.Addr)
	}
}

// Attempt records a dial of a.
func (b *Book) Attempt(a netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[a]; ok {
		e.LastTry = b.cfg.Now()
	}
}

// Failed records a failed dial of a.
func (b *Book) Failed(a netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[a]; ok {
		e.Failures++
	}
}

// Good records a completed handshake with a (adding it if it is new).
func (b *Book) Good(a netip.AddrPort, services uint64) {
	b.Add(Entry{Addr: a, Services: services})
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[a]; ok {
		e.LastSuccess, e.LastSeen, e.Failures = b.cfg.Now(), b.cfg.Now(), 0
	}
}

// backoff is how long to wait before dialling an address again after
// failures: a minute, doubling, at most a day.
func backoff(failures int) time.Duration {
	if failures == 0 {
		return 0
	}
	return min(time.Minute<<min(failures-1, 11), 24*time.Hour)
}

// Pick returns an address worth dialling: not discouraged, not excluded (the
// caller's current peers), not failed recently; among those, a random one
// weighted towards addresses seen recently.
func (b *Book) Pick(exclude func(netip.AddrPort) bool) (netip.AddrPort, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	var best *Entry
	var bestScore float64
	for _, e := range b.entries {
		if b.discouragedLocked(e.Addr.Addr(), now) || (exclude != nil && exclude(e.Addr)) {
			continue
		}
		if now.Sub(e.LastTry) < backoff(e.Failures) {
			continue
		}
		// Recently seen addresses score higher; the random factor spreads
		// the choice so that every node does not pick the same peer.
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

// Sample returns up to n addresses seen in the last day (for getaddr),
// at random.
func (b *Book) Sample(n int) []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	var out []Entry
	for _, e := range b.entries {
		if now.Sub(e.LastSeen) <= 24*time.Hour && !b.discouragedLocked(e.Addr.Addr(), now) {
			out = append(out, *e)
		}
	}
	b.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(n, len(out))]
}

// Len is the number of addresses.
func (b *Book) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}

// Discourage refuses connections from and to an IP address for
// Config.DiscourageTime (its port does not matter: it misbehaved).
func (b *Book) Discourage(ip netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.discourage[ip.Unmap()] = b.cfg.Now().Add(b.cfg.DiscourageTime)
}

// Discouraged reports whether ip is currently discouraged.
func (b *Book) Discouraged(ip netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.discouragedLocked(ip.Unmap(), b.cfg.Now())
}

func (b *Book) discouragedLocked(ip netip.Addr, now time.Time) bool {
	until, ok := b.discourage[ip]
	if ok && now.After(until) {
		delete(b.discourage, ip)
		return false
	}
	return ok
}

type saved struct {
	Entries    []Entry                  `json:"addresses"`
	Discourage map[netip.Addr]time.Time `json:"discouraged"`
}

// Save writes the book to path (atomically: a temporary file renamed).
func (b *Book) Save(path string) error {
	b.mu.Lock()
	s := saved{Discourage: b.discourage}
	for _, e := range b.entries {
		s.Entries = append(s.Entries, *e)
	}
	raw, err := json.MarshalIndent(s, "", " ")
	b.mu.Unlock()
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

// Load adds what a Save wrote. A missing file is an empty book; a file that
// does not parse is an error naming it.
func (b *Book) Load(path string) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("addrbook: load %s: %w", path, err)
	}
	var s saved
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("addrbook: load %s: %w", path, err)
	}
	b.Add(s.Entries...)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range s.Entries {
		if have, ok := b.entries[e.Addr]; ok {
			have.LastTry, have.LastSuccess, have.Failures = e.LastTry, e.LastSuccess, e.Failures
		}
	}
	now := b.cfg.Now()
	for ip, until := range s.Discourage {
		if until.After(now) {
			b.discourage[ip] = until
		}
	}
	return nil
}

// Entries returns a copy of every entry, most recently seen first.
func (b *Book) Entries() []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Entry, 0, len(b.entries))
	for _, e := range b.entries {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(x, y Entry) int { return y.LastSeen.Compare(x.LastSeen) })
	return out
}
