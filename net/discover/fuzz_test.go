package discover

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/sock"
	"github.com/renga-p2p/renga/wire"
)

// fixedLink is a linkChecker with one answer.
type fixedLink bool

func (l fixedLink) OnLink(int, netip.Addr) bool { return bool(l) }

// fuzzNow is the admission clock of FuzzAdmit; its seeds are stamped with it.
var fuzzNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// FuzzAdmit: any datagram from any source to any destination is either
// dropped with a reason or admitted as a beacon of our network, not ours,
// with a TCP port, sent to the group by a neighbour, whose canonical
// encoding is the datagram itself, from a dialable address; with a secret,
// its time is within the window and the same datagram again is a replay.
func FuzzAdmit(f *testing.F) {
	for _, secret := range [][]byte{nil, testSecret} {
		b := beacon(0xa)
		b.Time, b.Sequence = fuzzNow.UnixMilli(), 1
		f.Add(wire.AppendBeacon(nil, &b, secret), []byte{10, 0, 0, 2}, true, true, true)
		b.Query = true
		f.Add(wire.AppendBeacon(nil, &b, secret), []byte{127, 0, 0, 1}, false, true, false)
	}
	f.Add([]byte("rnga"), []byte{0, 0, 0, 0}, false, false, true)
	f.Fuzz(func(t *testing.T, p, src []byte, signed, toGroup, onLink bool) {
		cfg := testConfig().withDefaults()
		if !signed {
			cfg.Secret = nil
		}
		addr, ok := netip.AddrFromSlice(src)
		if !ok {
			return
		}
		dg := sock.Datagram{N: len(p), Src: netip.AddrPortFrom(addr, 28334), Dst: netip.MustParseAddr("10.0.0.1"), Ifindex: fakeIfindex}
		if toGroup {
			dg.Dst = cfg.Group.Addr()
		}
		a := newAdmission(cfg)
		b, peer, reason, ok := a.admit(p, dg, fixedLink(onLink), fuzzNow)
		if !ok {
			if reason >= NumDropReasons || reason == DropFull {
				t.Fatalf("admission dropped with reason %v", reason)
			}
			return
		}
		if !toGroup || !onLink {
			t.Fatalf("admitted a datagram to %v (on-link %v)", dg.Dst, onLink)
		}
		if b.Magic != testMagic || b.Genesis != testGenesis || b.Instance == nodeID || b.Port == 0 {
			t.Fatalf("admitted %+v", b)
		}
		if peer.Addr() != addr.Unmap() || peer.Port() != b.Port || !peer.Addr().IsValid() || peer.Addr().IsUnspecified() || peer.Addr().IsMulticast() {
			t.Fatalf("admitted from %v as peer %v", addr, peer)
		}
		// Re-encoding gives the datagram back, with the secret when set or
		// when the datagram carries an HMAC we could not check.
		if got := wire.AppendBeacon(nil, &b, cfg.Secret); len(cfg.Secret) > 0 && !bytes.Equal(got, p) {
			t.Fatalf("re-encoded %x, datagram %x", got, p)
		}
		if len(cfg.Secret) == 0 {
			return
		}
		if age := fuzzNow.Sub(time.UnixMilli(b.Time)); age > cfg.ReplayWindow || age < -cfg.ReplayWindow {
			t.Fatalf("admitted a signed beacon %v old", age)
		}
		if _, _, reason, ok := a.admit(p, dg, fixedLink(true), fuzzNow.Add(time.Millisecond)); ok || reason != DropReplay {
			t.Fatalf("the same signed datagram again: admitted %v, reason %v; want a replay", ok, reason)
		}
	})
}

// FuzzTable: any sequence of beacons, verifications and time steps keeps
// the table consistent with the events it reported: New only for an
// instance not live, Updated and Expired only for a live one, one instance
// per address, at most MaxPeers, nothing older than the expiry time, the
// next expiry right; a verified peer leaves only by expiry or by a new
// instance at its address, never for a newcomer elsewhere, and a beacon is
// turned away as full only when every peer is verified.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 1, 1, 0, 2, 2, 0, 200, 0, 0, 0, 255})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{0x40, 0, 0, 0, 0x49, 1, 0, 0, 0x52, 2, 0, 0, 0x5b, 0, 0, 0, 4, 1, 0, 0, 13, 2, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		cfg := testConfig()
		cfg.MaxPeers = 4
		cfg = cfg.withDefaults()
		tb := newTable(cfg)
		live := map[uint64]bool{}
		now := time.Unix(1e9, 0)
		check := func(ev []Event, at netip.AddrPort, expiry bool) {
			for _, e := range ev {
				switch e.Kind {
				case PeerNew:
					if live[e.Peer.Instance] {
						t.Fatalf("new for live instance %d", e.Peer.Instance)
					}
					live[e.Peer.Instance] = true
				case PeerUpdated:
					if !live[e.Peer.Instance] {
						t.Fatalf("update for unknown instance %d", e.Peer.Instance)
					}
				case PeerExpired:
					if !live[e.Peer.Instance] {
						t.Fatalf("expiry of unknown instance %d", e.Peer.Instance)
					}
					if e.Peer.Verified && !expiry && e.Peer.Addr != at {
						t.Fatalf("verified instance %d at %v pushed out by a beacon from %v", e.Peer.Instance, e.Peer.Addr, at)
					}
					delete(live, e.Peer.Instance)
				}
			}
			if len(live) != len(tb.peers) || len(tb.peers) > cfg.MaxPeers {
				t.Fatalf("%d live by the events, %d in the table (max %d)", len(live), len(tb.peers), cfg.MaxPeers)
			}
			addrs := map[netip.AddrPort]bool{}
			for id, p := range tb.peers {
				if !live[id] || addrs[p.Addr] {
					t.Fatalf("instance %d at %v: unreported or sharing its address", id, p.Addr)
				}
				addrs[p.Addr] = true
			}
		}
		for len(ops) >= 4 {
			op := ops[:4]
			ops = ops[4:]
			// op: instance (3 bits) | address (2 bits) | query (1 bit) | verify
			// (1 bit), port, height, step
			b := beacon(uint64(op[0] & 7))
			b.Query = op[0]&0x20 != 0
			b.Port = uint16(op[1]%3) + 1
			b.StartHeight = int32(op[2] % 4)
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, op[0] >> 3 & 3}), b.Port)
			if op[0]&0x40 != 0 {
				p, ok := tb.peers[b.Instance]
				if got := tb.verify(b.Instance, addr); got != (ok && p.Addr == addr) || (got && !p.Verified) {
					t.Fatalf("verify(%d, %v) = %v with the table at %+v", b.Instance, addr, got, p)
				}
				continue
			}
			verified := tb.verified()
			var ev []Event
			ev, o := tb.observe(ev, b, addr, now)
			if o.full && verified != cfg.MaxPeers {
				t.Fatalf("turned away as full with %d of %d peers verified", verified, cfg.MaxPeers)
			}
			check(ev, addr, false)
			now = now.Add(time.Duration(op[3]) * time.Second)
			ev = tb.expire(ev[:0], now)
			check(ev, addr, true)
			for _, p := range tb.peers {
				if !now.Before(p.LastSeen.Add(cfg.expireAfter())) {
					t.Fatalf("peer %d outlived its expiry", p.Instance)
				}
			}
			if next, ok := tb.nextExpiry(); ok != (len(tb.peers) > 0) || (ok && !next.After(now)) {
				t.Fatalf("next expiry %v, %v at %v", next, ok, now)
			}
		}
	})
}
