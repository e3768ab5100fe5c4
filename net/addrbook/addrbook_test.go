//go:build !addrman

package addrbook

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestBounded(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	b := New(Config{MaxAddresses: 3, Now: c.now})
	for i := range 10 {
		c.t = c.t.Add(time.Second)
		b.Add(Entry{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 8333)})
	}
	if b.Len() != 3 {
		t.Fatalf("%d addresses, limit 3", b.Len())
	}
	for _, e := range b.Entries() {
		if e.Addr.Addr().As4()[3] < 7 {
			t.Fatalf("kept %v; the oldest should have gone", e.Addr)
		}
	}
}

func TestRejectsUnusable(t *testing.T) {
	b := New(Config{})
	n := b.Add(Entry{Addr: ap("0.0.0.0:8333")}, Entry{Addr: ap("239.1.2.3:8333")}, Entry{Addr: ap("10.0.0.1:0")},
		Entry{Addr: ap("[::ffff:10.0.0.2]:8333")})
	if n != 1 || b.Entries()[0].Addr != ap("10.0.0.2:8333") {
		t.Fatalf("added %d: %v", n, b.Entries())
	}
}

func TestPickBacksOffAndDiscourages(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	b := New(Config{Now: c.now})
	a1, a2 := ap("10.0.0.1:8333"), ap("10.0.0.2:8333")
	b.Add(Entry{Addr: a1}, Entry{Addr: a2})
	b.Attempt(a1)
	b.Failed(a1)
	for range 20 {
		if got, ok := b.Pick(nil); !ok || got != a2 {
			t.Fatalf("picked %v: a1 just failed", got)
		}
	}
	b.Discourage(a2.Addr())
	if _, ok := b.Pick(nil); ok {
		t.Fatal("picked something while one failed and the other is discouraged")
	}
	c.t = c.t.Add(2 * time.Minute) // a1's backoff is over
	if got, ok := b.Pick(nil); !ok || got != a1 {
		t.Fatalf("after the backoff: %v %v", got, ok)
	}
	if got, ok := b.Pick(func(a netip.AddrPort) bool { return a == a1 }); ok {
		t.Fatalf("picked an excluded address %v", got)
	}
	c.t = c.t.Add(25 * time.Hour)
	if b.Discouraged(a2.Addr()) {
		t.Fatal("discouragement does not expire")
	}
}

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	b := New(Config{})
	b.Add(Entry{Addr: ap("10.0.0.1:8333"), Services: 9})
	b.Good(ap("10.0.0.2:8333"), 1)
	b.Discourage(netip.MustParseAddr("10.6.6.6"))
	if err := b.Save(path); err != nil {
		t.Fatal(err)
	}
	back := New(Config{})
	if err := back.Load(path); err != nil {
		t.Fatal(err)
	}
	if back.Len() != 2 || !back.Discouraged(netip.MustParseAddr("10.6.6.6")) {
		t.Fatalf("loaded %d addresses", back.Len())
	}
	if err := New(Config{}).Load(filepath.Join(t.TempDir(), "none.json")); err != nil {
		t.Fatalf("missing file: %v", err)
	}
}
