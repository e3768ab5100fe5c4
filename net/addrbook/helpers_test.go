package addrbook

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for tests that do not need synctest.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func testBook(t testing.TB, seed uint64, c *clock) *Book {
	t.Helper()
	return New(Config{Seed: seed, Now: c.now})
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// publicOctets are first octets whose whole /8 is public unicast.
var publicOctets = func() []byte {
	var out []byte
	for a := 1; a < 224; a++ {
		switch a {
		case 10, 100, 127, 169, 172, 192, 198, 203:
			continue
		}
		out = append(out, byte(a))
	}
	return out
}()

// pub is a public IPv4 address in group g (a distinct /16 for every g below
// 55,040) with host number h (below 65,536).
func pub(g, h int) netip.AddrPort {
	a := publicOctets[g/256%len(publicOctets)]
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{a, byte(g), byte(h >> 8), byte(h)}), 8333)
}

// check verifies every invariant of the tables, as Bitcoin Core's
// CheckAddrman does.
func check(t testing.TB, b *Book) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.consistency(); err != nil {
		t.Fatal(err)
	}
}

func (b *Book) consistency() error {
	if len(b.random) != len(b.entries) || len(b.random) != b.nNew+b.nTried {
		return fmt.Errorf("%d random, %d entries, %d new + %d tried", len(b.random), len(b.entries), b.nNew, b.nTried)
	}
	nNew, nTried := 0, 0
	for i, e := range b.random {
		if e.randPos != i || b.entries[e.Addr] != e {
			return fmt.Errorf("%v: random position %d at %d, or not in the map", e.Addr, e.randPos, i)
		}
		if e.triedSlot >= 0 {
			nTried++
			if len(e.refs) != 0 || b.triedT.slots[e.triedSlot] != e || e.LastSuccess.IsZero() {
				return fmt.Errorf("%v: tried at %d with %d new refs", e.Addr, e.triedSlot, len(e.refs))
			}
			if !IsLocal(e.Addr.Addr()) && int(e.triedSlot) != b.triedBucket(e.Addr)*bucketSize+b.position('K', b.triedBucket(e.Addr), e.Addr) {
				return fmt.Errorf("%v: tried slot %d is not its hashed one", e.Addr, e.triedSlot)
			}
			continue
		}
		nNew++
		if len(e.refs) == 0 || len(e.refs) > maxNewRefs {
			return fmt.Errorf("%v: %d new refs", e.Addr, len(e.refs))
		}
		buckets := map[int]bool{}
		for _, s := range e.refs {
			bucket := int(s) / bucketSize
			if b.newT.slots[s] != e || buckets[bucket] {
				return fmt.Errorf("%v: ref %d holds another entry or repeats a bucket", e.Addr, s)
			}
			buckets[bucket] = true
			if !IsLocal(e.Addr.Addr()) && int(s)%bucketSize != b.position('N', bucket, e.Addr) {
				return fmt.Errorf("%v: new slot %d is not its hashed one", e.Addr, s)
			}
		}
	}
	if nNew != b.nNew || nTried != b.nTried {
		return fmt.Errorf("counted %d new %d tried, book says %d %d", nNew, nTried, b.nNew, b.nTried)
	}
	for name, t := range map[string]*table{"new": &b.newT, "tried": &b.triedT} {
		for bucket := range t.fill {
			n := 0
			for p := range bucketSize {
				if e := t.slots[bucket*bucketSize+p]; e != nil {
					n++
					if b.entries[e.Addr] != e {
						return fmt.Errorf("%s slot holds %v, not in the book", name, e.Addr)
					}
				}
			}
			if int(t.fill[bucket]) != n || (n > 0) != (t.where[bucket] > 0) {
				return fmt.Errorf("%s bucket %d: fill %d, counted %d, where %d", name, bucket, t.fill[bucket], n, t.where[bucket])
			}
			if n > 0 && t.nonEmpty[t.where[bucket]-1] != int32(bucket) {
				return fmt.Errorf("%s bucket %d: non-empty list is wrong", name, bucket)
			}
		}
	}
	return nil
}

// slot is where an address sits: new slots or its tried slot.
func (b *Book) placement(a netip.AddrPort) (refs []int32, tried int32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[a]
	if e == nil {
		return nil, -2
	}
	return slices.Sorted(slices.Values(e.refs)), e.triedSlot
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// find returns the attributes of the first record at level with message msg.
func (l *logRecorder) find(level slog.Level, msg string) (map[string]any, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r.Level == level && r.Message == msg {
			attrs := map[string]any{}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.Any(); return true })
			return attrs, true
		}
	}
	return nil, false
}
