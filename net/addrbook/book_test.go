package addrbook

import (
	"math"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestBucketPlacementKeyed(t *testing.T) {
	c := newClock()
	k1, k2 := [32]byte{1}, [32]byte{2}
	a, a2, other := New(Config{Key: &k1, Now: c.now}), New(Config{Key: &k1, Seed: 99, Now: c.now}), New(Config{Key: &k2, Now: c.now})
	src := ip("5.6.7.8")
	differ := 0
	const n = 1000
	for i := range n {
		x := pub(i, i)
		nb, tb := a.newBucket(x, src), a.triedBucket(x)
		np, tp := a.position('N', nb, x), a.position('K', tb, x)
		if a2.newBucket(x, src) != nb || a2.triedBucket(x) != tb || a2.position('N', nb, x) != np || a2.position('K', tb, x) != tp {
			t.Fatalf("%v: placement differs between two books with one key", x)
		}
		if other.newBucket(x, src) != nb && other.triedBucket(x) != tb {
			differ++
		}
	}
	if differ < n*9/10 {
		t.Fatalf("another key moved only %d of %d addresses to other buckets", differ, n)
	}
	// The same through Add: two books with one key place every address in
	// the same slots.
	for i := range 200 {
		e := Entry{Addr: pub(i, 1), LastSeen: c.now()}
		a.Add(src, 0, e)
		a2.Add(src, 0, e)
	}
	for i := range 200 {
		r1, _ := a.placement(pub(i, 1))
		r2, _ := a2.placement(pub(i, 1))
		if len(r1) != len(r2) || (len(r1) == 1 && r1[0] != r2[0]) {
			t.Fatalf("%v: slots %v and %v", pub(i, 1), r1, r2)
		}
	}
	check(t, a)
}

func TestAtMostEightNewBuckets(t *testing.T) {
	c := newClock()
	b := testBook(t, 1, c)
	x := pub(7, 7)
	for i := range 2000 {
		c.advance(time.Minute) // each claim must be newer to count
		b.Add(pub(1000+i%500, 1).Addr(), 0, Entry{Addr: x, LastSeen: c.now()})
	}
	refs, tried := b.placement(x)
	if tried != -1 || len(refs) != maxNewRefs {
		t.Fatalf("in %d new buckets (tried slot %d); want %d, the most", len(refs), tried, maxNewRefs)
	}
	check(t, b)
}

func TestSourceGroupReachesAtMost64Buckets(t *testing.T) {
	c := newClock()
	b := testBook(t, 2, c)
	var entries []Entry
	for i := range 20_000 {
		entries = append(entries, Entry{Addr: pub(i%50_000, i/7), LastSeen: c.now()})
	}
	// Sources all over one /16 are one source group.
	for i := range 100 {
		b.Add(netip.AddrFrom4([4]byte{44, 44, byte(i), 1}), 0, entries[i*200:(i+1)*200]...)
	}
	buckets := map[int]bool{}
	for _, e := range b.Entries() {
		refs, _ := b.placement(e.Addr)
		for _, s := range refs {
			buckets[int(s)/bucketSize] = true
		}
	}
	if len(buckets) > newBucketsPerSourceGroup || len(buckets) < newBucketsPerSourceGroup*3/4 {
		t.Fatalf("one source group reached %d new buckets; want at most %d (and most of them)", len(buckets), newBucketsPerSourceGroup)
	}
	if n, _ := b.Len(); n > newBucketsPerSourceGroup*bucketSize {
		t.Fatalf("%d new entries from one source group; at most %d fit", n, newBucketsPerSourceGroup*bucketSize)
	}
	check(t, b)
}

func TestTimestamps(t *testing.T) {
	c := newClock()
	now := c.now()
	src := ip("9.9.9.9")
	for _, tc := range []struct {
		name    string
		source  netip.Addr
		seen    time.Time
		penalty time.Duration
		want    time.Time
	}{
		{"future is 5 days ago", src, now.Add(time.Hour), 0, now.Add(-5 * 24 * time.Hour)},
		{"10 minutes ahead is allowed", src, now.Add(9 * time.Minute), 0, now.Add(9 * time.Minute)},
		{"zero is 5 days ago", src, time.Time{}, 0, now.Add(-5 * 24 * time.Hour)},
		{"before 1973 is 5 days ago", src, time.Unix(1000, 0), 0, now.Add(-5 * 24 * time.Hour)},
		{"relayed is aged by the penalty", src, now.Add(-time.Hour), 2 * time.Hour, now.Add(-3 * time.Hour)},
		{"a self-announcement is not", ip("1.2.3.4"), now.Add(-time.Hour), 2 * time.Hour, now.Add(-time.Hour)},
		{"nor is what we found ourselves", netip.Addr{}, now.Add(-time.Hour), 2 * time.Hour, now.Add(-time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBook(t, 3, c)
			a := ap("1.2.3.4:8333")
			if n := b.Add(tc.source, tc.penalty, Entry{Addr: a, LastSeen: tc.seen}); n != 1 {
				t.Fatalf("Add = %d", n)
			}
			e, _ := b.Lookup(a)
			if !e.LastSeen.Equal(tc.want) {
				t.Fatalf("LastSeen %v, want %v", e.LastSeen, tc.want)
			}
		})
	}
}

func TestAcceptable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		addr   string
		source string // "" is ourselves
		ok     bool
	}{
		{"public from public", "1.2.3.4:8333", "5.6.7.8", true},
		{"public from LAN", "1.2.3.4:8333", "192.168.1.2", true},
		{"LAN from LAN", "192.168.1.7:8333", "192.168.1.2", true},
		{"LAN from loopback", "192.168.1.7:8333", "127.0.0.1", true},
		{"LAN from ourselves", "10.0.0.7:8333", "", true},
		{"LAN from public", "192.168.1.7:8333", "5.6.7.8", false},
		{"loopback from loopback", "127.0.0.1:28333", "127.0.0.1", true},
		{"loopback from ourselves", "127.0.0.1:28333", "", true},
		{"loopback from LAN", "127.0.0.1:28333", "192.168.1.2", false},
		{"loopback from public", "127.0.0.1:28333", "5.6.7.8", false},
		{"no port", "1.2.3.4:0", "5.6.7.8", false},
		{"unspecified", "0.0.0.0:8333", "", false},
		{"multicast", "239.1.2.3:8333", "", false},
		{"documentation", "203.0.113.9:8333", "", false},
		{"IPv4-mapped is unmapped", "[::ffff:1.2.3.4]:8333", "5.6.7.8", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBook(t, 4, newClock())
			var src netip.Addr
			if tc.source != "" {
				src = ip(tc.source)
			}
			n := b.Add(src, 0, Entry{Addr: ap(tc.addr), LastSeen: b.cfg.Now()})
			if (n == 1) != tc.ok {
				t.Fatalf("Add = %d, want accepted = %v", n, tc.ok)
			}
			if tc.ok {
				want := unmapAP(ap(tc.addr))
				if _, ok := b.Lookup(want); !ok {
					t.Fatalf("%v not in the book", want)
				}
			}
		})
	}
}

// collidingNew returns two public addresses that a source puts in the same
// new slot.
func collidingNew(t *testing.T, b *Book, src netip.Addr) (netip.AddrPort, netip.AddrPort) {
	t.Helper()
	seen := map[int]netip.AddrPort{}
	for i := range 100_000 {
		x := pub(i, 3)
		bucket := b.newBucket(x, src)
		slot := bucket*bucketSize + b.position('N', bucket, x)
		if y, ok := seen[slot]; ok {
			return y, x
		}
		seen[slot] = x
	}
	t.Fatal("no colliding pair")
	return netip.AddrPort{}, netip.AddrPort{}
}

// collidingTried returns two public addresses with the same tried slot.
func collidingTried(t *testing.T, b *Book) (netip.AddrPort, netip.AddrPort) {
	t.Helper()
	seen := map[int]netip.AddrPort{}
	for i := range 100_000 {
		x := pub(i/64, i%64+1) // 64 per /16: 8 buckets × 64 positions per group
		bucket := b.triedBucket(x)
		slot := bucket*bucketSize + b.position('K', bucket, x)
		if y, ok := seen[slot]; ok {
			return y, x
		}
		seen[slot] = x
	}
	t.Fatal("no colliding pair")
	return netip.AddrPort{}, netip.AddrPort{}
}

func TestTerribleGoesFirst(t *testing.T) {
	src := ip("9.9.9.9")
	for _, tc := range []struct {
		name     string
		setup    func(b *Book, c *clock, old netip.AddrPort)
		replaced bool
	}{
		{"a fresh entry stays", func(b *Book, c *clock, old netip.AddrPort) {}, false},
		{"not seen for 30 days goes", func(b *Book, c *clock, old netip.AddrPort) { c.advance(31 * 24 * time.Hour) }, true},
		{"three failures and never a success go", func(b *Book, c *clock, old netip.AddrPort) {
			for i := range 3 {
				b.Good(pub(60_000, i+1), 0) // a success elsewhere lets the next failure count
				c.advance(2 * time.Minute)
				b.Attempt(old, true)
				c.advance(2 * time.Minute) // never terrible within a minute of a try
			}
		}, true},
		{"a failure just now protects", func(b *Book, c *clock, old netip.AddrPort) {
			c.advance(31 * 24 * time.Hour)
			b.Attempt(old, true)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			b := testBook(t, 5, c)
			old, newer := collidingNew(t, b, src)
			b.Add(src, 0, Entry{Addr: old, LastSeen: c.now()})
			tc.setup(b, c, old)
			n := b.Add(src, 0, Entry{Addr: newer, LastSeen: c.now()})
			_, oldIn := b.Lookup(old)
			_, newIn := b.Lookup(newer)
			if tc.replaced != (n == 1 && newIn && !oldIn) || !tc.replaced != (n == 0 && !newIn && oldIn) {
				t.Fatalf("Add = %d, old in book %v, newcomer in book %v; want replaced = %v", n, oldIn, newIn, tc.replaced)
			}
			check(t, b)
		})
	}
}

func TestGoodMovesToTried(t *testing.T) {
	c := newClock()
	b := testBook(t, 6, c)
	a := ap("1.2.3.4:8333")
	b.Add(ip("9.9.9.9"), 2*time.Hour, Entry{Addr: a, LastSeen: c.now(), Services: 1})
	if n, tr := b.Len(); n != 1 || tr != 0 {
		t.Fatalf("Len = %d, %d", n, tr)
	}
	c.advance(time.Second)
	b.Attempt(a, true)
	b.Good(a, 9)
	e, _ := b.Lookup(a)
	if !e.Tried || e.Attempts != 0 || !e.LastSuccess.Equal(c.now()) || e.Services != 9 {
		t.Fatalf("after Good: %+v", e)
	}
	if n, tr := b.Len(); n != 0 || tr != 1 {
		t.Fatalf("Len = %d, %d", n, tr)
	}
	// A Good for an address the book never heard of (a --connect peer).
	b.Good(ap("5.5.5.5:8333"), 1)
	if e, ok := b.Lookup(ap("5.5.5.5:8333")); !ok || !e.Tried {
		t.Fatalf("unknown address after Good: %+v %v", e, ok)
	}
	// Tried entries are not moved by what others say.
	if n := b.Add(ip("9.9.9.9"), 0, Entry{Addr: a, LastSeen: c.now().Add(time.Hour)}); n != 0 {
		t.Fatalf("Add of a tried address = %d", n)
	}
	check(t, b)
}

func TestTestBeforeEvict(t *testing.T) {
	src := ip("9.9.9.9")
	for _, tc := range []struct {
		name string
		// test is what the feeler to the old entry finds.
		test     func(b *Book, c *clock, old netip.AddrPort)
		replaced bool
	}{
		{"a reachable old entry stays", func(b *Book, c *clock, old netip.AddrPort) {
			b.Attempt(old, false)
			b.Good(old, 0)
		}, false},
		{"an unreachable one is replaced", func(b *Book, c *clock, old netip.AddrPort) {
			b.Attempt(old, true)
			c.advance(61 * time.Second)
		}, true},
		{"an untested one is replaced after 40 minutes", func(b *Book, c *clock, old netip.AddrPort) {
			c.advance(41 * time.Minute)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			b := testBook(t, 7, c)
			old, newer := collidingTried(t, b)
			b.Add(src, 0, Entry{Addr: old, LastSeen: c.now()}, Entry{Addr: newer, LastSeen: c.now()})
			b.Good(old, 0)
			c.advance(5 * time.Hour) // so that the old entry's success is no longer recent
			b.Good(newer, 0)
			if e, _ := b.Lookup(newer); e.Tried {
				t.Fatal("the newcomer evicted a tried entry without a test")
			}
			if e, _ := b.Lookup(old); !e.Tried {
				t.Fatal("the old entry left tried before the test")
			}
			got, ok := b.SelectTriedCollision()
			if !ok || got.Addr != old {
				t.Fatalf("SelectTriedCollision = %v %v, want the old entry %v", got.Addr, ok, old)
			}
			b.ResolveCollisions() // nothing tested yet: nothing happens
			if e, _ := b.Lookup(old); !e.Tried {
				t.Fatal("resolved before any test")
			}
			tc.test(b, c, old)
			b.ResolveCollisions()
			eo, okOld := b.Lookup(old)
			en, okNew := b.Lookup(newer)
			if tc.replaced {
				if !en.Tried || !okOld || eo.Tried {
					t.Fatalf("want the newcomer tried and the old one back in new: old %+v (%v) new %+v", eo, okOld, en)
				}
			} else if !eo.Tried || !okNew || en.Tried {
				t.Fatalf("want the old one kept in tried and the newcomer in new: old %+v new %+v (%v)", eo, en, okNew)
			}
			if _, ok := b.SelectTriedCollision(); ok {
				t.Fatal("the collision is still waiting")
			}
			check(t, b)
		})
	}
	t.Run("a test under way is waited for", func(t *testing.T) {
		c := newClock()
		b := testBook(t, 7, c)
		old, newer := collidingTried(t, b)
		b.Add(src, 0, Entry{Addr: old, LastSeen: c.now()}, Entry{Addr: newer, LastSeen: c.now()})
		b.Good(old, 0)
		c.advance(5 * time.Hour)
		b.Good(newer, 0)
		b.Attempt(old, true)
		c.advance(30 * time.Second)
		b.ResolveCollisions()
		if e, _ := b.Lookup(old); !e.Tried {
			t.Fatal("replaced while its test had 30 s left")
		}
		if _, ok := b.SelectTriedCollision(); !ok {
			t.Fatal("the collision was dropped")
		}
	})
}

func TestSelect(t *testing.T) {
	c := newClock()
	src := ip("9.9.9.9")
	t.Run("empty", func(t *testing.T) {
		b := testBook(t, 8, c)
		if _, ok := b.Select(false, nil); ok {
			t.Fatal("selected from an empty book")
		}
		b.Good(ap("1.2.3.4:8333"), 0)
		if _, ok := b.Select(true, nil); ok {
			t.Fatal("newOnly selected a tried entry")
		}
		if e, ok := b.Select(false, nil); !ok || e.Addr != ap("1.2.3.4:8333") {
			t.Fatalf("Select = %v %v", e, ok)
		}
	})
	t.Run("even odds between the tables", func(t *testing.T) {
		b := testBook(t, 9, c)
		b.Add(src, 0, Entry{Addr: ap("1.1.1.1:8333"), LastSeen: c.now()})
		b.Good(ap("2.2.2.2:8333"), 0)
		c.advance(time.Hour) // the Good is no longer a recent try
		tried := 0
		const n = 4000
		for range n {
			e, _ := b.Select(false, nil)
			if e.Tried {
				tried++
			}
		}
		if math.Abs(float64(tried)/n-0.5) > 0.05 {
			t.Fatalf("tried %d of %d times, want about half", tried, n)
		}
	})
	t.Run("chance", func(t *testing.T) {
		b := testBook(t, 10, c)
		fresh, recent, failed := ap("1.1.1.1:8333"), ap("2.2.2.2:8333"), ap("3.3.3.3:8333")
		b.Add(src, 0, Entry{Addr: fresh, LastSeen: c.now()}, Entry{Addr: recent, LastSeen: c.now()}, Entry{Addr: failed, LastSeen: c.now()})
		b.Good(ap("4.4.4.4:8333"), 0) // lets failures count
		b.Attempt(failed, true)
		c.advance(time.Hour)
		b.Attempt(recent, false)
		count := map[netip.AddrPort]int{}
		const n = 6000
		for range n {
			e, _ := b.Select(true, nil)
			count[e.Addr]++
		}
		// Weights 1, 0.01 and 0.66 (Bitcoin Core's GetChance); the chance
		// factor flattens them a little, so check the order and rough size.
		if count[fresh] <= count[failed] || count[failed] <= 10*count[recent] || count[fresh] < n/3 {
			t.Fatalf("selections %v: want fresh > failed once > tried a minute ago (×0.01)", count)
		}
	})
	t.Run("skip", func(t *testing.T) {
		b := testBook(t, 11, c)
		var keep netip.AddrPort
		for i := range 3000 {
			a := pub(i, 1)
			b.Add(src, 0, Entry{Addr: a, LastSeen: c.now()})
			if _, ok := b.Lookup(a); ok {
				keep = a
			}
		}
		e, ok := b.Select(false, func(e Entry) bool { return e.Addr != keep })
		if !ok || e.Addr != keep {
			t.Fatalf("Select with all but %v skipped = %v %v", keep, e.Addr, ok)
		}
		if _, ok := b.Select(false, func(Entry) bool { return true }); ok {
			t.Fatal("selected with everything skipped")
		}
	})
}

func TestGetAddr(t *testing.T) {
	c := newClock()
	b := testBook(t, 12, c)
	for i := range 2000 {
		b.Add(ip("9.9.9.9"), 0, Entry{Addr: pub(i, 1), LastSeen: c.now()})
	}
	for i := range 1000 {
		b.Add(ip("8.8.8.8"), 0, Entry{Addr: pub(10_000+i, 1), LastSeen: c.now().Add(-29 * 24 * time.Hour)})
	}
	c.advance(2 * 24 * time.Hour) // the second thousand is now past the horizon: terrible
	n, _ := b.Len()
	got := b.GetAddr(1000, 23)
	if len(got) != min(1000, 23*n/100) {
		t.Fatalf("GetAddr(1000, 23) of %d = %d entries", n, len(got))
	}
	seen := map[netip.AddrPort]bool{}
	for _, e := range got {
		if seen[e.Addr] {
			t.Fatalf("%v twice", e.Addr)
		}
		seen[e.Addr] = true
		if c.now().Sub(e.LastSeen) > horizon {
			t.Fatalf("%v is terrible (seen %v)", e.Addr, e.LastSeen)
		}
	}
	if got := b.GetAddr(100, 23); len(got) != 100 {
		t.Fatalf("GetAddr(100, 23) = %d entries", len(got))
	}
	good := 0
	for _, e := range b.Entries() {
		if c.now().Sub(e.LastSeen) <= horizon {
			good++
		}
	}
	if got := b.GetAddr(0, 0); len(got) != good || good < 1000 {
		t.Fatalf("GetAddr(0, 0) = %d entries, want every good one (%d)", len(got), good)
	}
	check(t, b)
}

// On one machine every node is 127.0.0.1 with its own port (renga devnet),
// and all of them must be kept and selectable, whatever the key.
func TestLoopbackDevnet(t *testing.T) {
	for seed := range uint64(50) {
		c := newClock()
		b := testBook(t, seed+1, c)
		var nodes []netip.AddrPort
		for i := range 16 {
			nodes = append(nodes, netip.AddrPortFrom(ip("127.0.0.1"), uint16(28333+i*2)))
		}
		// Every node hears of every other: from LAN discovery (ourselves)
		// and relayed by its loopback peers.
		for _, n := range nodes {
			b.Add(netip.Addr{}, 0, Entry{Addr: n, LastSeen: c.now()})
			b.Add(ip("127.0.0.1"), 2*time.Hour, Entry{Addr: n, LastSeen: c.now()})
		}
		if n, tr := b.Len(); n != 16 || tr != 0 {
			t.Fatalf("key %d: %d new %d tried of 16 nodes", seed, n, tr)
		}
		selected := map[netip.AddrPort]bool{}
		for range 2000 {
			e, _ := b.Select(false, nil)
			selected[e.Addr] = true
		}
		if len(selected) != 16 {
			t.Fatalf("key %d: only %d of 16 nodes ever selected", seed, len(selected))
		}
		for _, n := range nodes {
			b.Good(n, 1)
		}
		if n, tr := b.Len(); n != 0 || tr != 16 {
			t.Fatalf("key %d: after connecting to all: %d new %d tried", seed, n, tr)
		}
		check(t, b)
	}
}

func TestConnected(t *testing.T) {
	c := newClock()
	b := testBook(t, 13, c)
	a := ap("1.2.3.4:8333")
	b.Add(ip("9.9.9.9"), 0, Entry{Addr: a, LastSeen: c.now().Add(-time.Hour)})
	b.Connected(a)
	if e, _ := b.Lookup(a); !e.LastSeen.Equal(c.now()) {
		t.Fatalf("LastSeen %v after Connected, want now", e.LastSeen)
	}
	c.advance(10 * time.Minute)
	b.Connected(a)
	if e, _ := b.Lookup(a); e.LastSeen.Equal(c.now()) {
		t.Fatal("refreshed more often than every 20 minutes")
	}
}

// TestRandomOperations runs many random operations and checks the tables'
// invariants after each batch.
func TestRandomOperations(t *testing.T) {
	c := newClock()
	b := testBook(t, 14, c)
	r := b.rng // a deterministic stream for the script, seeded as the book
	for round := range 40 {
		for range 500 {
			a := pub(r.IntN(300), r.IntN(40))
			if r.IntN(10) == 0 {
				a = netip.AddrPortFrom(ip("127.0.0.1"), uint16(20000+r.IntN(100)))
			}
			switch r.IntN(8) {
			case 0, 1, 2:
				src := pub(r.IntN(50), 1).Addr()
				if a.Addr().IsLoopback() {
					src = ip("127.0.0.1")
				}
				b.Add(src, 2*time.Hour, Entry{Addr: a, LastSeen: c.now().Add(-time.Duration(r.IntN(40*24)) * time.Hour)})
			case 3:
				b.Good(a, 1)
			case 4:
				b.Attempt(a, r.IntN(2) == 0)
			case 5:
				b.Select(r.IntN(2) == 0, nil)
			case 6:
				b.ResolveCollisions()
				b.SelectTriedCollision()
			case 7:
				c.advance(time.Duration(r.IntN(3600)) * time.Second)
			}
		}
		b.mu.Lock()
		err := b.consistency()
		b.mu.Unlock()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	n, tr := b.Len()
	if n == 0 || tr == 0 {
		t.Fatalf("the script left %d new %d tried: it exercised too little", n, tr)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newClock()
	b := testBook(t, 15, c)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				a := pub(g*1000+i%200, i)
				b.Add(ip("9.9.9.9"), 0, Entry{Addr: a, LastSeen: c.now()})
				b.Attempt(a, true)
				if i%3 == 0 {
					b.Good(a, 1)
				}
				b.Select(i%2 == 0, nil)
				b.GetAddr(10, 23)
				b.ResolveCollisions()
				b.Connected(a)
				c.advance(time.Second)
			}
		})
	}
	wg.Wait()
	check(t, b)
}
