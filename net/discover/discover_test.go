package discover

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// The tests of this file run in synctest bubbles over a fake LAN (hub):
// every wait is on a channel, and the bubble's clock jumps to the next timer
// when everything is blocked, so times are exact and nothing sleeps.

var (
	testMagic   = wire.Magic{0x72, 0x6e, 0x67, 0x61}
	testGenesis = sha256d.Hash{0x6b, 0x65, 0x6e}
	testSecret  = []byte("the LAN secret")
)

const (
	nodeAddr   = "10.0.0.1:28334"
	remoteAddr = "10.0.0.2:28334"
	nodeID     = 0x1111
	nodePort   = 28333
)

// testConfig is the node under test's configuration, with the defaults'
// intervals (15–30 s, answers 1 s apart).
func testConfig() Config {
	return Config{Magic: testMagic, Genesis: testGenesis, Port: nodePort, Instance: nodeID, Secret: testSecret}
}

// node is a Discovery serving over a conn of a hub.
type node struct {
	d      *Discovery
	conn   *fakeConn
	events chan Event
	stop   func() error // cancels Serve and returns what it returned
}

func startNode(t *testing.T, h *hub, addr string, cfg Config) *node {
	t.Helper()
	return startNodeOn(t, h.conn(addr), cfg)
}

// startNodeOn starts a node on a conn already attached to its hub.
func startNodeOn(t *testing.T, conn *fakeConn, cfg Config) *node {
	t.Helper()
	n := &node{conn: conn, events: make(chan Event, 1024)}
	cfg.OnEvent = func(e Event) { n.events <- e }
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.d = d
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, n.conn) }()
	n.stop = sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() {
		if err := n.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return n
}

// event returns the node's next event, waiting as long as it takes.
func (n *node) event(t *testing.T) Event {
	t.Helper()
	select {
	case e := <-n.events:
		return e
	case <-time.After(24 * time.Hour):
		t.Fatal("no event in a day")
		return Event{}
	}
}

// noEvent fails if the node has reported an event not yet read.
func (n *node) noEvent(t *testing.T) {
	t.Helper()
	synctest.Wait()
	select {
	case e := <-n.events:
		t.Fatalf("unexpected event %v %+v", e.Kind, e.Peer)
	default:
	}
}

// remote is the test's own hand on the LAN: it sends crafted datagrams and
// sees everything the nodes send.
type remote struct {
	conn   *fakeConn
	secret []byte
	seq    uint64 // of the last beacon stamped
}

func newRemote(h *hub, addr string) *remote {
	return &remote{conn: h.conn(addr), secret: testSecret}
}

// beacon is a valid beacon of the test network from instance id, whose
// node listens on a port of its own (instances at one address and port
// displace each other). Its time and sequence number are zero: send stamps
// them.
func beacon(id uint64) wire.Beacon {
	return wire.Beacon{Magic: testMagic, Genesis: testGenesis, Instance: id, Port: 20000 + uint16(id), Services: DefaultServices, StartHeight: 7}
}

// stamp returns the datagram of b sent now, with the remote's next
// sequence number (one counter for all the instances it speaks for: each
// sees its numbers rise), signed with its secret.
func (r *remote) stamp(b wire.Beacon) []byte {
	r.seq++
	b.Time, b.Sequence = time.Now().UnixMilli(), r.seq
	return wire.AppendBeacon(nil, &b, r.secret)
}

// send sends b, stamped, to the group.
func (r *remote) send(t *testing.T, b wire.Beacon) {
	t.Helper()
	r.sendRaw(t, r.stamp(b))
}

// sendRaw sends p to the group as it is.
func (r *remote) sendRaw(t *testing.T, p []byte) {
	t.Helper()
	r.sendTo(t, p, DefaultGroup())
}

// sendTo sends p to an address of the test's choice.
func (r *remote) sendTo(t *testing.T, p []byte, to netip.AddrPort) {
	t.Helper()
	if _, err := r.conn.WriteToUDPAddrPort(p, to); err != nil {
		t.Fatal(err)
	}
}

// heard is a beacon the remote received.
type heard struct {
	wire.Beacon
	from netip.AddrPort
	at   time.Time
}

// next returns the next beacon someone else sent, when it arrived.
func (r *remote) next(t *testing.T) heard {
	t.Helper()
	buf := make([]byte, 256)
	if err := r.conn.SetReadDeadline(time.Now().Add(24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("remote read: %v", err)
		}
		if from == r.conn.addr {
			continue
		}
		b, err := wire.DecodeBeacon(buf[:n], r.secret)
		if err != nil {
			t.Fatalf("the node sent a bad beacon: %v", err)
		}
		return heard{Beacon: b, from: from, at: time.Now()}
	}
}

// TestInitialQuery: the first beacon goes at once, as a query, with every
// field from the configuration and the height from BestHeight.
func TestInitialQuery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		r := newRemote(h, remoteAddr)
		start := time.Now()
		cfg := testConfig()
		cfg.BestHeight = func() int32 { return 4242 }
		cfg.Services = wire.SFNodeNetwork | wire.SFNodeCompress
		startNode(t, h, nodeAddr, cfg)
		got := r.next(t)
		want := wire.Beacon{Query: true, Magic: testMagic, Genesis: testGenesis, Instance: nodeID, Port: nodePort, Services: cfg.Services, StartHeight: 4242,
			Time: start.UnixMilli(), Sequence: 1}
		if got.Beacon != want {
			t.Errorf("first beacon %+v, want %+v", got.Beacon, want)
		}
		if d := got.at.Sub(start); d != 0 {
			t.Errorf("first beacon after %v, want at once", d)
		}
		if got.from != netip.MustParseAddrPort(nodeAddr) {
			t.Errorf("from %v", got.from)
		}
	})
}

// TestPeriodicJitter: after the query, beacons (never queries) come every
// 15–30 s, at times drawn across that whole range, and carry the height,
// the time and the next sequence number of the moment.
func TestPeriodicJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		r := newRemote(h, remoteAddr)
		var height atomic.Int32
		cfg := testConfig()
		cfg.BestHeight = height.Load
		n := startNode(t, h, nodeAddr, cfg)
		last := r.next(t).at
		lo, hi := time.Hour, time.Duration(0)
		const beacons = 100
		for i := range beacons {
			height.Store(int32(i))
			b := r.next(t)
			gap := b.at.Sub(last)
			last = b.at
			if gap < DefaultMinInterval || gap > DefaultMaxInterval {
				t.Fatalf("beacon %d came %v after the previous one, want 15–30 s", i, gap)
			}
			if b.Query {
				t.Fatalf("beacon %d is a query", i)
			}
			if b.StartHeight != int32(i) {
				t.Fatalf("beacon %d carries height %d, want %d", i, b.StartHeight, i)
			}
			if b.Time != b.at.UnixMilli() || b.Sequence != uint64(i+2) {
				t.Fatalf("beacon %d carries time %d and sequence %d, want %d and %d", i, b.Time, b.Sequence, b.at.UnixMilli(), i+2)
			}
			lo, hi = min(lo, gap), max(hi, gap)
		}
		// 100 uniform draws all landing in one 11 s slice of the 15 s
		// range has odds below 1e-13.
		if lo > 19*time.Second || hi < 26*time.Second {
			t.Errorf("gaps spread over only %v..%v: the jitter is missing", lo, hi)
		}
		synctest.Wait() // the node's reader has its own last beacon too
		if s := n.d.Stats(); s.Sent != beacons+1 || s.Dropped[DropSelf] != beacons+1 || s.SendErrors != 0 {
			t.Errorf("stats %+v: want %d sent and as many of our own dropped as self", s, beacons+1)
		}
	})
}

// TestAnswers: a query or a new instance is answered at once; answers are
// at least AnswerGap apart, several due inside the gap go as one at its
// end, and a known instance's plain beacon is not answered.
func TestAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		r := newRemote(h, remoteAddr)
		n := startNode(t, h, nodeAddr, testConfig())
		r.next(t) // the query
		p := r.next(t)

		q := beacon(0xa)
		q.Query = true
		r.send(t, q) // a new instance, and a query
		sentAt := time.Now()
		a := r.next(t)
		if a.at != sentAt || a.Query {
			t.Fatalf("answer after %v (query %v), want at once and not a query", a.at.Sub(sentAt), a.Query)
		}
		if e := n.event(t); e.Kind != PeerNew || e.Peer.Instance != 0xa {
			t.Fatalf("event %v %+v, want new 0xa", e.Kind, e.Peer)
		}

		// Inside the gap: a query from the known instance and two new
		// instances, all answered by one beacon when the gap ends.
		r.send(t, q)
		r.send(t, beacon(0xb))
		r.send(t, beacon(0xc))
		b := r.next(t)
		if d := b.at.Sub(a.at); d != DefaultAnswerGap {
			t.Fatalf("second answer %v after the first, want %v", d, DefaultAnswerGap)
		}
		c := r.next(t)
		if d := c.at.Sub(p.at); d < DefaultMinInterval || d > DefaultMaxInterval {
			t.Fatalf("the beacon after the second answer came %v after the last periodic one: a third answer was sent", d)
		}

		// A known instance's plain beacon: no answer (the next beacon is
		// periodic again).
		r.send(t, beacon(0xb))
		d := r.next(t)
		if gap := d.at.Sub(c.at); gap < DefaultMinInterval {
			t.Fatalf("a known instance's beacon was answered (%v after the periodic one)", gap)
		}

		// A known instance's query alone: answered at once.
		qb := beacon(0xb)
		qb.Query = true
		r.send(t, qb)
		sentAt = time.Now()
		if e := r.next(t); e.at != sentAt {
			t.Fatalf("a known instance's query was answered after %v, want at once", e.at.Sub(sentAt))
		}
		if s := n.d.Stats(); s.Accepted != 6 || s.Peers != 3 {
			t.Errorf("stats %+v: want 6 accepted, 3 peers", s)
		}
	})
}

// TestGreetingAfterQuery: a node that has just sent its query greets the
// nodes that answer it (new instances to it) with a beacon at once, not one
// each: answers that reach it after the greeting went out are greeted by
// one more beacon at the end of the gap.
func TestGreetingAfterQuery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		r := newRemote(h, remoteAddr)
		startNode(t, h, nodeAddr, testConfig())
		q := r.next(t)
		for id := range uint64(5) {
			r.send(t, beacon(100+id))
		}
		g := r.next(t)
		if d := g.at.Sub(q.at); d != 0 || g.Query {
			t.Fatalf("greeting %v after the query (query flag %v), want at once, no query", d, g.Query)
		}
		next := r.next(t)
		if next.at.Sub(q.at) == DefaultAnswerGap {
			next = r.next(t) // the greeting of the answers that came after the first
		}
		if d := next.at.Sub(q.at); d < DefaultMinInterval {
			t.Fatalf("another greeting %v after the query", d)
		}
	})
}

// TestExpiry: a peer is expired exactly three intervals (3×MaxInterval)
// after its last beacon, not before, however long it kept beaconing; a
// changed height is an update, an unchanged one is not.
func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		r := newRemote(h, remoteAddr)
		n := startNode(t, h, nodeAddr, testConfig())
		b := beacon(0xa)
		r.send(t, b)
		if e := n.event(t); e.Kind != PeerNew || e.Peer.Addr != netip.MustParseAddrPort("10.0.0.2:20010") || e.Peer.Height != 7 {
			t.Fatalf("event %v %+v, want new at 10.0.0.2:20010 height 7", e.Kind, e.Peer)
		}
		// Beacon back each time the node does, for 20 of its intervals,
		// raising the height every other time.
		for i := range 20 {
			r.next(t)
			if i%2 == 1 {
				b.StartHeight++
			}
			r.send(t, b)
			if i%2 == 1 {
				if e := n.event(t); e.Kind != PeerUpdated || e.Peer.Height != b.StartHeight {
					t.Fatalf("event %v %+v, want updated to height %d", e.Kind, e.Peer, b.StartHeight)
				}
			}
			n.noEvent(t)
		}
		last := time.Now()
		e := n.event(t)
		if e.Kind != PeerExpired || e.Peer.Instance != 0xa {
			t.Fatalf("event %v %+v, want expired 0xa", e.Kind, e.Peer)
		}
		if d := time.Since(last); d != MissedIntervals*DefaultMaxInterval {
			t.Fatalf("expired %v after its last beacon, want %v", d, MissedIntervals*DefaultMaxInterval)
		}
		if ps := n.d.Peers(); len(ps) != 0 {
			t.Fatalf("peers after expiry: %+v", ps)
		}
		// Heard again: new again.
		r.send(t, b)
		if e := n.event(t); e.Kind != PeerNew {
			t.Fatalf("event %v, want new", e.Kind)
		}
	})
}

// TestRestart: a new instance at a known address displaces the old one.
func TestRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		r := newRemote(h, remoteAddr)
		n := startNode(t, h, nodeAddr, testConfig())
		r.send(t, beacon(0xa))
		n.event(t)
		restarted := beacon(0xb)
		restarted.Port = beacon(0xa).Port
		r.send(t, restarted)
		if e := n.event(t); e.Kind != PeerExpired || e.Peer.Instance != 0xa {
			t.Fatalf("event %v %+v, want expired 0xa", e.Kind, e.Peer)
		}
		if e := n.event(t); e.Kind != PeerNew || e.Peer.Instance != 0xb {
			t.Fatalf("event %v %+v, want new 0xb", e.Kind, e.Peer)
		}
		if ps := n.d.Peers(); len(ps) != 1 || ps[0].Instance != 0xb {
			t.Fatalf("peers %+v, want only 0xb", ps)
		}
	})
}

// TestSourceRateLimit: one source gets SourceLimit datagrams per
// MinInterval examined; the rest are dropped and counted; other sources are
// not affected, and the bucket refills with time.
func TestSourceRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		flood := newRemote(h, remoteAddr)
		other := newRemote(h, "10.0.0.3:28334")
		cfg := testConfig()
		cfg.SourceLimit = 4
		n := startNode(t, h, nodeAddr, cfg)
		q := flood.next(t)
		for id := range uint64(10) {
			flood.send(t, beacon(0x100+id))
		}
		other.send(t, beacon(0x200))
		synctest.Wait()
		s := n.d.Stats()
		if s.Accepted != 5 || s.Dropped[DropRate] != 6 || s.Peers != 5 {
			t.Fatalf("stats %+v: want 4 of the flood and the other source accepted, 6 dropped by rate", s)
		}
		// A full MinInterval later (the first periodic beacon comes at
		// least that late), the bucket is full again.
		for flood.next(t).at.Sub(q.at) < DefaultMinInterval {
		}
		for id := range uint64(10) {
			flood.send(t, beacon(0x300+id))
		}
		synctest.Wait()
		if s := n.d.Stats(); s.Accepted != 9 || s.Dropped[DropRate] != 12 {
			t.Fatalf("stats %+v: want 4 more accepted, 6 more dropped", s)
		}
	})
}

// TestDrops: each kind of bad datagram is dropped, counted under its reason,
// and reported to no one. Each case makes its datagram inside the bubble,
// whose clock the beacon's time is read from.
func TestDrops(t *testing.T) {
	good := beacon(0xa)
	// stamped is good as sent now by r, with f applied and signed with
	// secret.
	stamped := func(f func(*wire.Beacon), secret []byte) func(*remote) []byte {
		return func(r *remote) []byte {
			b := good
			r.seq++
			b.Time, b.Sequence = time.Now().UnixMilli(), r.seq
			f(&b)
			return wire.AppendBeacon(nil, &b, secret)
		}
	}
	with := func(f func(*wire.Beacon)) func(*remote) []byte { return stamped(f, testSecret) }
	valid := with(func(*wire.Beacon) {})
	raw := func(p []byte) func(*remote) []byte { return func(*remote) []byte { return p } }
	group := DefaultGroup()
	tests := []struct {
		name string
		from string
		to   netip.AddrPort // the group unless set
		via  int            // the interface it arrives on; the hub's unless set
		p    func(*remote) []byte
		want DropReason
	}{
		{name: "unicast to the port", from: remoteAddr, to: netip.MustParseAddrPort(nodeAddr), p: valid, want: DropUnicast},
		{name: "another group", from: remoteAddr, to: netip.MustParseAddrPort("239.255.82.99:28334"), p: valid, want: DropUnicast},
		{name: "unspecified source", from: "0.0.0.0:28334", p: valid, want: DropSource},
		{name: "multicast source", from: "224.0.0.1:28334", p: valid, want: DropSource},
		{name: "off-link source", from: "192.168.7.9:28334", p: valid, want: DropOffLink},
		{name: "neighbour's address on another interface", from: remoteAddr, via: fakeIfindex + 1, p: valid, want: DropOffLink},
		{name: "self", from: remoteAddr, p: with(func(b *wire.Beacon) { b.Instance = nodeID }), want: DropSelf},
		{name: "other magic", from: remoteAddr, p: with(func(b *wire.Beacon) { b.Magic = wire.Magic{0xfa, 0xbf, 0xb5, 0xda} }), want: DropNetwork},
		{name: "other genesis", from: remoteAddr, p: with(func(b *wire.Beacon) { b.Genesis[31] = 1 }), want: DropNetwork},
		{name: "unsigned", from: remoteAddr, p: stamped(func(*wire.Beacon) {}, nil), want: DropAuth},
		{name: "wrong secret", from: remoteAddr, p: stamped(func(*wire.Beacon) {}, []byte("another LAN")), want: DropAuth},
		{name: "flipped HMAC bit", from: remoteAddr, p: func(r *remote) []byte {
			p := valid(r)
			p[len(p)-1] ^= 1
			return p
		}, want: DropAuth},
		{name: "time a window and a millisecond ago", from: remoteAddr, p: with(func(b *wire.Beacon) {
			b.Time -= (DefaultReplayWindow + time.Millisecond).Milliseconds()
		}), want: DropStale},
		{name: "time a window and a millisecond ahead", from: remoteAddr, p: with(func(b *wire.Beacon) {
			b.Time += (DefaultReplayWindow + time.Millisecond).Milliseconds()
		}), want: DropStale},
		{name: "time zero", from: remoteAddr, p: with(func(b *wire.Beacon) { b.Time = 0 }), want: DropStale},
		{name: "port zero", from: remoteAddr, p: with(func(b *wire.Beacon) { b.Port = 0 }), want: DropMalformed},
		{name: "empty", from: remoteAddr, p: raw(nil), want: DropMalformed},
		{name: "truncated", from: remoteAddr, p: func(r *remote) []byte { return valid(r)[:40] }, want: DropMalformed},
		{name: "trailing byte", from: remoteAddr, p: func(r *remote) []byte { return append(valid(r), 0) }, want: DropMalformed},
		{name: "format version 1", from: remoteAddr, p: func(r *remote) []byte {
			p := valid(r)
			p[6] = 1
			return p
		}, want: DropMalformed},
		{name: "oversized", from: remoteAddr, p: raw(make([]byte, 1500)), want: DropMalformed},
		{name: "not a beacon", from: remoteAddr, p: raw([]byte("GET / HTTP/1.1\r\n\r\n")), want: DropMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &hub{}
				r := newRemote(h, tt.from)
				n := startNode(t, h, nodeAddr, testConfig())
				to, via := cmp.Or(tt.to, group), cmp.Or(tt.via, fakeIfindex)
				if _, err := r.conn.writeVia(tt.p(r), to, via); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				s := n.d.Stats()
				// Our own query, looped back, is the other drop.
				want := Stats{Sent: 1, Received: 2, Dropped: [NumDropReasons]uint64{DropSelf: 1}}
				want.Dropped[tt.want]++
				if s != want {
					t.Errorf("stats %+v, want %+v", s, want)
				}
				n.noEvent(t)
			})
		})
	}
	// And the datagram all but one of them bend, as it is: accepted.
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		r := newRemote(h, remoteAddr)
		n := startNode(t, h, nodeAddr, testConfig())
		r.sendRaw(t, valid(r))
		if e := n.event(t); e.Kind != PeerNew || e.Peer.Instance != good.Instance {
			t.Fatalf("event %v %+v, want the good beacon's new peer", e.Kind, e.Peer)
		}
	})
}

// TestNoSecret: without a secret, signed and unsigned beacons are both
// accepted (the node cannot check an HMAC, design: the secret is optional).
func TestNoSecret(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		r := newRemote(h, remoteAddr)
		cfg := testConfig()
		cfg.Secret = nil
		n := startNode(t, h, nodeAddr, cfg)
		r.secret = nil
		r.send(t, beacon(0xa))
		other := newRemote(h, "10.0.0.3:28334")
		other.send(t, beacon(0xb))
		n.event(t)
		n.event(t)
		if s := n.d.Stats(); s.Accepted != 2 || s.Peers != 2 {
			t.Errorf("stats %+v: want both accepted", s)
		}
	})
}

// TestFull: in a full table a new instance takes the place of the
// unverified peer heard from least recently, never of a verified one; with
// every peer verified it is dropped, and finds room when a peer expires.
func TestFull(t *testing.T) {
	tests := []struct {
		name     string
		verify   []uint64 // of 0xa (heard second, from the lowest address) and 0xb (heard first)
		gone     uint64   // the peer 0xc replaces; 0 if it is dropped
		verified int
	}{
		{"none verified: the least recent goes", nil, 0xb, 0},
		{"the least recent verified: the other goes", []uint64{0xb}, 0xa, 1},
		{"the other verified: the least recent goes", []uint64{0xa}, 0xb, 1},
		{"all verified: the newcomer is dropped", []uint64{0xa, 0xb}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &hub{}
				cfg := testConfig()
				cfg.MaxPeers = 2
				n := startNode(t, h, nodeAddr, cfg)
				ra, rb, rc := newRemote(h, "10.0.0.2:1"), newRemote(h, "10.0.0.3:1"), newRemote(h, "10.0.0.4:1")
				rb.send(t, beacon(0xb))
				b := n.event(t)
				time.Sleep(time.Second)
				ra.send(t, beacon(0xa))
				a := n.event(t)
				for _, id := range tt.verify {
					p := map[uint64]Peer{0xa: a.Peer, 0xb: b.Peer}[id]
					if !n.d.Verified(id, p.Addr) {
						t.Fatalf("Verified(%x, %v) = false", id, p.Addr)
					}
				}
				time.Sleep(time.Second)
				rc.send(t, beacon(0xc))
				synctest.Wait()
				s := n.d.Stats()
				if tt.gone == 0 {
					n.noEvent(t)
					if s.Dropped[DropFull] != 1 || s.Evicted != 0 || s.Peers != 2 || s.Verified != 2 {
						t.Fatalf("stats %+v: want 0xc dropped as full, both verified peers kept", s)
					}
					// Room again once the two expire.
					n.event(t)
					n.event(t)
					rc.send(t, beacon(0xc))
					if e := n.event(t); e.Kind != PeerNew || e.Peer.Instance != 0xc {
						t.Fatalf("event %v %+v, want new 0xc", e.Kind, e.Peer)
					}
					return
				}
				if e := n.event(t); e.Kind != PeerExpired || e.Peer.Instance != tt.gone || e.Peer.Verified {
					t.Fatalf("event %v %+v, want unverified %x expired", e.Kind, e.Peer, tt.gone)
				}
				if e := n.event(t); e.Kind != PeerNew || e.Peer.Instance != 0xc {
					t.Fatalf("event %v %+v, want new 0xc", e.Kind, e.Peer)
				}
				if s.Dropped[DropFull] != 0 || s.Evicted != 1 || s.Accepted != 3 || s.Peers != 2 || s.Verified != tt.verified {
					t.Fatalf("stats %+v: want 3 accepted, 1 evicted, %d verified", s, tt.verified)
				}
			})
		})
	}
}

// TestThreeNodes: nodes on one fake LAN find each other at once through the
// queries, and the survivors expire a node that stops three intervals after
// its last beacon. (All are on the LAN before any starts, so every query
// reaches everyone; a node that joins later may have to wait AnswerGap for
// an answer from a node that has just answered someone else.)
func TestThreeNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		start := time.Now()
		var conns []*fakeConn
		for _, addr := range []string{"10.0.0.1:28334", "10.0.0.2:28334", "10.0.0.3:28334"} {
			conns = append(conns, h.conn(addr))
		}
		var nodes []*node
		for i, conn := range conns {
			cfg := testConfig()
			cfg.Instance = uint64(i + 1)
			cfg.Port = uint16(28333 + i)
			nodes = append(nodes, startNodeOn(t, conn, cfg))
		}
		for i, n := range nodes {
			for range 2 {
				e := n.event(t)
				j := int(e.Peer.Instance) - 1
				want := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(j + 1)}), uint16(28333+j))
				if e.Kind != PeerNew || j == i || e.Peer.Addr != want {
					t.Fatalf("node %d: event %v %+v, want new peer at %v", i, e.Kind, e.Peer, want)
				}
				if d := time.Since(start); d != 0 {
					t.Fatalf("node %d found %d after %v, want at once", i, j, d)
				}
			}
		}
		// Node 0 stops; its last beacon is the last it sent.
		if err := nodes[0].stop(); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		for i, n := range nodes[1:] {
			e := n.event(t)
			if e.Kind != PeerExpired || e.Peer.Instance != 1 {
				t.Fatalf("node %d: event %v %+v, want expired 1", i+1, e.Kind, e.Peer)
			}
			if d := time.Since(stopped); d > MissedIntervals*DefaultMaxInterval {
				t.Fatalf("node %d expired node 0 %v after it stopped, want at most %v", i+1, d, MissedIntervals*DefaultMaxInterval)
			}
			if ps := n.d.Peers(); len(ps) != 1 {
				t.Fatalf("node %d peers %+v", i+1, ps)
			}
		}
	})
}

// TestServeLifetime: Serve returns nil when ctx ends it, the read error when
// the socket fails, ErrStarted when called again; a failed send is counted
// and the next beacon goes out.
func TestServeLifetime(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := startNode(t, &hub{}, nodeAddr, testConfig())
			if err := n.stop(); err != nil {
				t.Fatalf("Serve after cancel: %v", err)
			}
			if err := n.d.Serve(t.Context(), n.conn); !errors.Is(err, ErrStarted) {
				t.Fatalf("second Serve: %v, want ErrStarted", err)
			}
			if err := n.d.Run(t.Context()); !errors.Is(err, ErrConfig) {
				t.Fatalf("Run without an interface: %v, want ErrConfig", err)
			}
		})
	})
	t.Run("read error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d, err := New(testConfig())
			if err != nil {
				t.Fatal(err)
			}
			conn := (&hub{}).conn(nodeAddr)
			done := make(chan error)
			go func() { done <- d.Serve(t.Context(), conn) }()
			synctest.Wait()
			conn.failReads(errFakeNetDown)
			if err := <-done; !errors.Is(err, errFakeNetDown) {
				t.Fatalf("Serve: %v, want the read error", err)
			}
		})
	})
	t.Run("send error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := &hub{}
			r := newRemote(h, remoteAddr)
			n := startNode(t, h, nodeAddr, testConfig())
			r.next(t) // the query
			r.next(t) // a periodic beacon, well past the answer gap
			n.conn.failWrites(errFakeNetDown)
			r.send(t, beacon(0xa)) // would be answered at once
			n.event(t)
			synctest.Wait()
			if s := n.d.Stats(); s.SendErrors != 1 || s.Sent != 2 {
				t.Fatalf("stats %+v: want one send error", s)
			}
			n.conn.failWrites(nil)
			if b := r.next(t); b.Query {
				t.Fatal("the next beacon is a query")
			}
		})
	})
}
