package p2p

import (
	"net/netip"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/net/addrbook"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/sock/memnet"
	"github.com/renga-p2p/renga/wire"
)

func TestSelectEvict(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	mk := func(i int, ip string, age time.Duration) evictCandidate {
		a := netip.MustParseAddr(ip)
		st := newPeerState(inbound, netip.AddrPortFrom(a, uint16(1000+i)), t0)
		st.seq = uint64(i)
		return evictCandidate{st: st, ready: true, connected: t0.Add(-age), group: addrbook.GroupOf(a),
			keyedGroup: uint64(i), relayTxs: true}
	}
	t.Run("a connection that never handshook goes first, the oldest", func(t *testing.T) {
		var c []evictCandidate
		for i := range 30 {
			c = append(c, mk(i, "1.2.3.4", time.Duration(i)*time.Minute))
		}
		c[7].ready, c[9].ready = false, false
		if got := selectEvict(c, t0); got != c[9].st {
			t.Fatalf("evicted %v, want the older of the two without a handshake", got.addr)
		}
	})
	t.Run("within the grace, the youngest without a handshake", func(t *testing.T) {
		var c []evictCandidate
		for i := range 10 {
			c = append(c, mk(i, "1.2.3.4", time.Duration(i)*time.Millisecond))
		}
		for i := range c {
			c[i].ready = false
		}
		if got := selectEvict(c, t0); got != c[0].st {
			t.Fatalf("evicted %v, want the youngest", got.addr)
		}
	})
	t.Run("the youngest of the biggest group, the rest protected", func(t *testing.T) {
		var c []evictCandidate
		// 40 honest peers in 40 groups, each with some merit; 20 attackers
		// in one group, connected last, with no merit.
		for i := range 40 {
			x := mk(i, netip.AddrFrom4([4]byte{byte(10 + i), 1, 0, 1}).String(), time.Duration(100+i)*time.Hour)
			x.minPing = time.Duration(10+i) * time.Millisecond
			c = append(c, x)
		}
		for i := range 20 {
			c = append(c, mk(100+i, netip.AddrFrom4([4]byte{99, 99, byte(i), 1}).String(), time.Duration(i)*time.Minute))
		}
		got := selectEvict(c, t0)
		if got != c[40].st { // the attackers' group, its youngest (0 minutes old)
			t.Fatalf("evicted %v, want the youngest attacker %v", got.addr, c[40].st.addr)
		}
	})
	t.Run("a discouraged peer goes before the others", func(t *testing.T) {
		var c []evictCandidate
		for i := range 40 {
			c = append(c, mk(i, netip.AddrFrom4([4]byte{byte(10 + i), 1, 0, 1}).String(), time.Duration(i)*time.Minute))
		}
		c[3].discouraged = true
		if got := selectEvict(c, t0); got != c[3].st {
			t.Fatalf("evicted %v, want the discouraged one", got.addr)
		}
	})
	t.Run("all protected: nobody", func(t *testing.T) {
		c := []evictCandidate{mk(1, "1.1.1.1", time.Hour), mk(2, "2.2.2.2", 2*time.Hour)}
		if got := selectEvict(c, t0); got != nil {
			t.Fatalf("evicted %v from two peers protected by group", got.addr)
		}
	})
}

// idle connects to n and says nothing.
func idle(t *testing.T, host *memnet.Host, n *testNode) {
	t.Helper()
	c, err := host.Dial(t.Context(), netip.MustParseAddrPort(n.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
}

// With every inbound slot held by idle connections, an honest newcomer
// takes one (an idle one is evicted) and keeps it however many more idle
// ones come.
func TestNewcomerEvictsIdleConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		n := tn.start(chaintest.New(t, chain.Regtest), func(c *Config) { c.MaxInbound = 10 })
		for range 12 {
			idle(t, tn.host(), n)
		}
		synctest.Wait()
		honest := tn.dialRaw(n)
		for range 30 {
			idle(t, tn.host(), n)
		}
		passTime(5 * time.Second)
		honest.send(&wire.MsgPing{Nonce: 9})
		if pong := honest.expect(wire.CmdPong).(*wire.MsgPong); pong.Nonce != 9 {
			t.Fatal("wrong pong")
		}
		n.srv.mu.Lock()
		inbound := len(n.srv.peers)
		n.srv.mu.Unlock()
		if inbound > 10 {
			t.Fatalf("%d inbound connections held against a limit of 10", inbound)
		}
		if d := n.srv.Stats().Disconnects[ReasonEvicted]; d < 30 {
			t.Fatalf("%d evictions for 42 idle connections on 10 slots", d)
		}
	})
}

// A local peer (loopback) that misbehaves is disconnected but not
// discouraged: a new connection from it completes a handshake at once. A
// peer from elsewhere is discouraged, and a manual peer is not.
func TestDiscouragement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		n := tn.start(chaintest.New(t, chain.Regtest), nil)
		misbehave := func(host *memnet.Host) PeerEvent {
			r := tn.dialRawFrom(host, n)
			r.send(&wire.MsgVerack{}) // after the handshake: a protocol violation
			return n.waitPeer("the misbehaving peer's disconnect", func(e PeerEvent) bool {
				return !e.Connected && e.Addr.Addr() == host.Addr()
			})
		}
		local := tn.net.Host(netip.MustParseAddr("127.0.0.7"))
		if ev := misbehave(local); ev.Reason != ReasonMisbehaved {
			t.Fatalf("disconnected for %s, want %s", ev.Reason, ReasonMisbehaved)
		}
		if n.srv.discouraged.has(local.Addr()) {
			t.Fatal("a loopback address was discouraged")
		}
		again := tn.dialRawFrom(local, n) // completes the handshake
		again.send(&wire.MsgPing{Nonce: 3})
		again.expect(wire.CmdPong)

		remote := tn.host()
		misbehave(remote)
		if !n.srv.discouraged.has(remote.Addr()) {
			t.Fatal("a misbehaving remote address was not discouraged")
		}
		// Discouraged, it may still connect while slots are free.
		back := tn.dialRawFrom(remote, n)
		back.send(&wire.MsgPing{Nonce: 4})
		back.expect(wire.CmdPong)

		// A manual peer that misbehaves (here: a node we --addnode that
		// sends a block with an unknown parent) is only disconnected.
		bad := tn.start(chaintest.New(t, chain.Regtest), nil)
		m := tn.start(chaintest.New(t, chain.Regtest), func(c *Config) { c.AddNode = []string{bad.addr} })
		m.waitPeers(1)
		other := chaintest.New(t, chain.Regtest)
		other.Mine(2)
		for _, st := range bad.srv.readyPeers() {
			st.p.Send(other.Next(nil, 0))
		}
		m.waitPeer("the manual peer's disconnect", func(e PeerEvent) bool { return !e.Connected })
		if m.srv.discouraged.has(netip.MustParseAddrPort(bad.addr).Addr()) {
			t.Fatal("a manual peer was discouraged")
		}
	})
}

// Bans refuse connections at once, persist across restarts and lift.
func TestBans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		list := filepath.Join(t.TempDir(), "banlist.json")
		h := chaintest.New(t, chain.Regtest)
		host := tn.host()
		n := startServer(t, h, func(c *Config) { c.Transport, c.Listen, c.BanList = host, ":8333", list })
		bad := tn.host()
		r := tn.dialRawFrom(bad, n)
		if err := n.srv.Ban(netip.PrefixFrom(bad.Addr(), 32), time.Hour); err != nil {
			t.Fatal(err)
		}
		if !r.closedWithin(time.Minute) {
			t.Fatal("a banned peer's connection stayed up")
		}
		n.stop()
		n2 := startServer(t, h, func(c *Config) { c.Transport, c.Listen, c.BanList = host, ":8333", list })
		if bans := n2.srv.Bans(); len(bans) != 1 || bans[0].Subnet.Addr() != bad.Addr() {
			t.Fatalf("bans after a restart: %v", bans)
		}
		c, err := bad.Dial(t.Context(), netip.MustParseAddrPort(n2.addr))
		if err != nil {
			t.Fatal(err)
		}
		rp := &rawPeer{t: t, conn: c, r: wire.NewReader(c, chain.Regtest.Magic)}
		if !rp.closedWithin(time.Second) {
			t.Fatal("a banned address was let in after a restart")
		}
		if ok, err := n2.srv.Unban(netip.PrefixFrom(bad.Addr(), 32)); !ok || err != nil {
			t.Fatalf("unban: %v %v", ok, err)
		}
		tn.dialRawFrom(bad, n2)
		passTime(time.Hour + time.Minute)
		if err := n2.srv.Ban(netip.PrefixFrom(bad.Addr(), 32), time.Minute); err != nil {
			t.Fatal(err)
		}
		passTime(2 * time.Minute)
		if bans := n2.srv.Bans(); len(bans) != 0 {
			t.Fatalf("a ban outlived its time: %v", bans)
		}
	})
}

// Outbound full-relay connections go to distinct public groups: with 20
// reachable addresses in one /16 and 20 in others, at most one of the 8 is
// in that /16.
func TestOutboundGroupDiversity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		var entries []addrbook.Entry
		for i := range 20 {
			for _, ip := range []netip.Addr{netip.AddrFrom4([4]byte{44, 1, byte(i), 1}), netip.AddrFrom4([4]byte{byte(50 + i), 2, 0, 1})} {
				h := tn.net.Host(ip)
				startServer(t, chaintest.New(t, chain.Regtest), func(c *Config) { c.Transport, c.Listen = h, ":8333" })
				entries = append(entries, addrbook.Entry{Addr: netip.AddrPortFrom(ip, 8333), LastSeen: time.Now()})
			}
		}
		n := tn.start(chaintest.New(t, chain.Regtest), nil)
		n.srv.book.Add(netip.MustParseAddr("9.9.9.9"), 0, entries...)
		passTime(30 * time.Second)
		same, full := 0, 0
		for _, st := range n.srv.readyPeers() {
			if st.kind == outbound {
				full++
				if addrbook.GroupOf(st.addr.Addr()) == addrbook.GroupOf(netip.MustParseAddr("44.1.0.1")) {
					same++
				}
			}
		}
		if full != 8 || same > 1 {
			t.Fatalf("%d full-relay outbound connections, %d of them in 44.1/16; want 8 and at most 1", full, same)
		}
	})
}

// Eight discovered "peers" that accept connections and never answer (tar
// pits) do not keep the node from the one honest node on the LAN.
func TestTarpitsDoNotTakeEverySlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		for i := range 8 {
			h := tn.host()
			l, err := h.Listen(t.Context(), ":8333")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			go func() { // accept and hold, never a byte
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					t.Cleanup(func() { _ = c.Close() })
				}
			}()
			_ = i
		}
		honest := tn.start(chaintest.New(t, chain.Regtest), nil)
		n := tn.start(chaintest.New(t, chain.Regtest), nil)
		start := time.Now()
		for i := range 9 {
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 8333)
			n.srv.onDiscovery(discover.Event{Kind: discover.PeerNew, Peer: discover.Peer{Instance: uint64(i + 1), Addr: addr}})
		}
		n.waitPeer("the connection to the honest node", func(e PeerEvent) bool { return e.Connected && e.Addr.String() == honest.addr })
		if waited := time.Since(start); waited > 10*time.Second {
			t.Fatalf("connected to the honest node after %v of tarpits, want within 10 s", waited)
		}
	})
}

// Block-relay-only connections are kept as anchors: dialled first after a
// restart.
func TestAnchorsAcrossRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		dir := t.TempDir()
		var entries []addrbook.Entry
		for i := range 6 {
			ip := netip.AddrFrom4([4]byte{byte(60 + i), 3, 0, 1})
			h := tn.net.Host(ip)
			startServer(t, chaintest.New(t, chain.Regtest), func(c *Config) { c.Transport, c.Listen = h, ":8333" })
			entries = append(entries, addrbook.Entry{Addr: netip.AddrPortFrom(ip, 8333), LastSeen: time.Now()})
		}
		host := tn.host()
		h := chaintest.New(t, chain.Regtest)
		cfg := func(c *Config) {
			c.Transport, c.Listen, c.MaxOutbound = host, ":8333", 2
			c.AddrBook, c.Anchors = filepath.Join(dir, "peers.dat"), filepath.Join(dir, "anchors.dat")
		}
		n := startServer(t, h, cfg)
		n.srv.book.Add(netip.MustParseAddr("9.9.9.9"), 0, entries...)
		passTime(30 * time.Second)
		var anchors []netip.AddrPort
		for _, st := range n.srv.readyPeers() {
			if st.kind == blockRelay {
				anchors = append(anchors, st.addr)
			}
		}
		if len(anchors) != blockRelayConns {
			t.Fatalf("%d block-relay-only connections, want %d", len(anchors), blockRelayConns)
		}
		n.stop()
		n2 := startServer(t, h, cfg)
		passTime(5 * time.Second)
		got := map[netip.AddrPort]connKind{}
		for _, st := range n2.srv.readyPeers() {
			got[st.addr] = st.kind
		}
		for _, a := range anchors {
			if got[a] != blockRelay {
				t.Errorf("anchor %v after the restart: %v (peers %v)", a, got[a], got)
			}
		}
	})
}

// A feeler tests an address of the new table and moves it to tried.
func TestFeelerMovesToTried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		ip := netip.MustParseAddr("70.4.0.1")
		h := tn.net.Host(ip)
		startServer(t, chaintest.New(t, chain.Regtest), func(c *Config) { c.Transport, c.Listen = h, ":8333" })
		n := tn.start(chaintest.New(t, chain.Regtest), func(c *Config) { c.MaxOutbound = 1 })
		// The one outbound slot and the anchors go elsewhere: only a feeler
		// can reach this address.
		n.srv.book.Add(netip.MustParseAddr("9.9.9.9"), 0, addrbook.Entry{Addr: netip.AddrPortFrom(ip, 8333), LastSeen: time.Now()})
		passTime(20 * time.Minute)
		e, ok := n.srv.book.Lookup(netip.AddrPortFrom(ip, 8333))
		if !ok || !e.Tried {
			t.Fatalf("after 20 minutes the address is %+v (found %v), want in tried", e, ok)
		}
	})
}

// An address that refuses every dial is tried again after 2 s, 4 s, 8 s and
// so on up to 10 minutes (Core's addrman keeps failing addresses out of
// the way too), not at every round of the connection loop.
func TestDialBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		n := tn.start(chaintest.New(t, chain.Regtest), nil)
		dead := netip.MustParseAddrPort("10.9.9.9:8333") // nothing listens there
		n.srv.onDiscovery(discover.Event{Kind: discover.PeerNew, Peer: discover.Peer{Instance: 99, Addr: dead}})
		passTime(10 * time.Minute)
		// Failures at 0, 2, 6, 14, 30, 62, 126, 254 and 510 s: nine dials,
		// give or take the loop's rounds.
		if d := n.srv.Stats().Dials; d < 6 || d > 12 {
			t.Fatalf("%d dials of an address refusing them for 10 minutes, want about 9 (backoff doubling from 2 s)", d)
		}
	})
}
