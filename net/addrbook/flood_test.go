package addrbook

import (
	"net/netip"
	"testing"
	"time"
)

// floodAddrs is what 10 attacking connections send: 1,000 made-up addresses
// each, spread over 16 /16 groups (the attacker's own space), claiming to be
// fresh.
func floodAddrs(conn int, now time.Time) []Entry {
	out := make([]Entry, 1000)
	for i := range out {
		out[i] = Entry{Addr: pub(3000+i%16, conn*1000+i), LastSeen: now}
	}
	return out
}

// TestAddrFlood is issue 10's flood: 20 honest addresses learned from one
// outbound peer, then 10 sources in the attacker's groups each sending
// 1,000 made-up addresses. At least 90% of the honest ones must stay; the
// flat book this package used to be loses them all, which shows the test
// is a real flood.
func TestAddrFlood(t *testing.T) {
	honestSource := ip("80.1.2.3")
	var honest []netip.AddrPort
	for i := range 20 {
		honest = append(honest, pub(100+i*7, i+1))
	}
	for seed := range uint64(20) {
		c := newClock()
		b := testBook(t, seed+1, c)
		flat := newFlatBook(flatConfig{Now: c.now, Seed: seed})
		for _, a := range honest {
			e := Entry{Addr: a, LastSeen: c.now().Add(-time.Hour)}
			if b.Add(honestSource, 2*time.Hour, e) != 1 {
				t.Fatalf("key %d: honest %v not taken", seed, a)
			}
			flat.Add(flatEntry{Addr: a, LastSeen: e.LastSeen})
		}
		c.advance(10 * time.Minute)
		for conn := range 10 {
			src := pub(3000+conn, 1).Addr() // the attacker connects from its own groups
			flood := floodAddrs(conn, c.now())
			b.Add(src, 2*time.Hour, flood...)
			for _, e := range flood {
				flat.Add(flatEntry{Addr: e.Addr, LastSeen: e.LastSeen})
			}
			c.advance(time.Second)
		}
		kept, flatKept := 0, 0
		for _, a := range honest {
			if _, ok := b.Lookup(a); ok {
				kept++
			}
			if _, ok := flat.entries[a]; ok {
				flatKept++
			}
		}
		if kept < 18 {
			t.Errorf("key %d: %d of 20 honest addresses kept, want at least 18", seed, kept)
		}
		if flatKept > 2 {
			t.Errorf("key %d: the flat book kept %d of 20 honest addresses; the flood is not a flood", seed, flatKept)
		}
		if seed == 0 {
			n, _ := b.Len()
			t.Logf("after 10 × 1,000 made-up addresses: %d/20 honest kept (flat book: %d/20); the new table holds %d", kept, flatKept, n)
		}
		check(t, b)
	}
}
