package discover

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// Tests of the rules that keep discovery to the LAN and to fresh beacons:
// replays, the replay memory, verified peers in a flood, a conn that cannot
// tell destinations, and the secret file. Like discover_test.go they run in
// synctest bubbles over the fake hub.

// TestReplay: with a secret, a signed beacon sent again, from its address
// or another, is a replay while its instance's last sequence number is on
// record, and stale once its time is a window old; a beacon whose number is
// not above the last accepted is a replay whatever its time; fresh numbers
// go through. Without a secret nothing is checked: anyone could forge the
// fields.
func TestReplay(t *testing.T) {
	type step struct {
		wait   time.Duration // before the step
		from   string
		resend int    // send the datagram of step resend (1-based) again, as it is…
		seq    uint64 // …or a beacon of instance 0xa with this sequence number, stamped now
		want   DropReason
		accept bool
	}
	const other = "10.0.0.3:28334"
	tests := []struct {
		name   string
		secret []byte
		steps  []step
	}{
		{"same bytes again", testSecret, []step{
			{from: remoteAddr, seq: 1, accept: true},
			{from: remoteAddr, resend: 1, want: DropReplay},
		}},
		{"same bytes from another address", testSecret, []step{
			{from: remoteAddr, seq: 1, accept: true},
			{wait: 30 * time.Second, from: other, resend: 1, want: DropReplay},
		}},
		{"same bytes a window later", testSecret, []step{
			{from: remoteAddr, seq: 1, accept: true},
			{wait: DefaultReplayWindow + time.Millisecond, from: other, resend: 1, want: DropStale},
		}},
		{"an older number, freshly stamped", testSecret, []step{
			{from: remoteAddr, seq: 5, accept: true},
			{from: remoteAddr, seq: 4, want: DropReplay},
			{from: remoteAddr, seq: 5, want: DropReplay},
			{from: remoteAddr, seq: 6, accept: true},
			{from: other, seq: 7, accept: true}, // the instance moved: numbers go on
		}},
		{"forgotten after two windows", testSecret, []step{
			{from: remoteAddr, seq: 5, accept: true},
			{wait: 2*DefaultReplayWindow - time.Millisecond, from: remoteAddr, seq: 5, want: DropReplay},
			// Anything recorded before is stale now; only the secret's
			// holder can stamp a fresh one.
			{wait: time.Millisecond, from: remoteAddr, seq: 2, accept: true},
		}},
		{"no secret: nothing checked", nil, []step{
			{from: remoteAddr, seq: 1, accept: true},
			{from: remoteAddr, resend: 1, accept: true},
			{wait: DefaultReplayWindow + time.Second, from: other, resend: 1, accept: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &hub{}
				remotes := map[string]*remote{remoteAddr: newRemote(h, remoteAddr), other: newRemote(h, other)}
				cfg := testConfig()
				cfg.Secret = tt.secret
				n := startNode(t, h, nodeAddr, cfg)
				synctest.Wait()
				var sent [][]byte
				var accepted uint64
				var dropped [NumDropReasons]uint64
				for i, st := range tt.steps {
					time.Sleep(st.wait)
					p := func() []byte {
						if st.resend > 0 {
							return sent[st.resend-1]
						}
						b := beacon(0xa)
						b.Time, b.Sequence = time.Now().UnixMilli(), st.seq
						return wire.AppendBeacon(nil, &b, tt.secret)
					}()
					sent = append(sent, p)
					remotes[st.from].sendRaw(t, p)
					synctest.Wait()
					if st.accept {
						accepted++
					} else {
						dropped[st.want]++
					}
					// Besides the steps, every beacon the node sent came
					// back as self.
					got := n.d.Stats()
					want := Stats{Sent: got.Sent, Accepted: accepted, Dropped: dropped, Peers: got.Peers}
					want.Dropped[DropSelf] = got.Sent
					want.Received = want.Accepted + want.DroppedTotal()
					if got != want {
						t.Fatalf("step %d: stats %+v, want %+v", i+1, got, want)
					}
				}
			})
		})
	}
}

// TestReplayMemory: the memory's edges and bound, without a network. A time
// exactly a window away is still good; maxReplayRecords instances fill it,
// after which a new instance is dropped while a known one goes on; two
// windows after the last record, everything is forgotten and there is room.
func TestReplayMemory(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newReplayMemory(time.Minute)
	at := func(id, seq uint64, sent time.Time) *wire.Beacon {
		return &wire.Beacon{Instance: id, Sequence: seq, Time: sent.UnixMilli()}
	}
	edges := []struct {
		name string
		b    *wire.Beacon
		now  time.Time
		want DropReason
		ok   bool
	}{
		{"a window old", at(1, 1, t0), t0.Add(time.Minute), 0, true},
		{"a window ahead", at(2, 1, t0.Add(time.Minute)), t0, 0, true},
		{"a window and a millisecond old", at(3, 1, t0), t0.Add(time.Minute + time.Millisecond), DropStale, false},
		{"a window and a millisecond ahead", at(3, 1, t0.Add(time.Minute+time.Millisecond)), t0, DropStale, false},
		{"the most negative time", at(3, 1, time.UnixMilli(-1<<63)), t0, DropStale, false},
		{"the largest time", at(3, 1, time.UnixMilli(1<<63-1)), t0, DropStale, false},
		{"sequence zero first", at(4, 0, t0), t0, 0, true},
		{"sequence zero again", at(4, 0, t0), t0, DropReplay, false},
	}
	for _, e := range edges {
		if reason, ok := m.check(e.b, e.now); ok != e.ok || reason != e.want {
			t.Errorf("%s: %v, %v; want %v, %v", e.name, reason, ok, e.want, e.ok)
		}
	}

	m = newReplayMemory(time.Minute)
	for id := range uint64(maxReplayRecords) {
		if _, ok := m.check(at(id, 1, t0), t0); !ok {
			t.Fatalf("instance %d of %d refused", id, maxReplayRecords)
		}
	}
	later := t0.Add(time.Minute)
	if reason, ok := m.check(at(maxReplayRecords, 1, later), later); ok || reason != DropFull {
		t.Fatalf("a new instance in a full memory: %v, %v; want dropped as full", reason, ok)
	}
	if _, ok := m.check(at(7, 2, later), later); !ok {
		t.Fatal("a known instance's next beacon refused in a full memory")
	}
	// Instance 7 was refreshed at `later`: the others are forgotten two
	// windows after t0, and it two windows after later.
	forget := t0.Add(2 * time.Minute)
	if _, ok := m.check(at(maxReplayRecords, 1, forget), forget); !ok || len(m.last) != 2 {
		t.Fatalf("after two windows: refused, or %d records kept (want instance 7 and the new one)", len(m.last))
	}
	if reason, ok := m.check(at(7, 2, forget), forget); ok || reason != DropReplay {
		t.Fatalf("instance 7's number again: %v, %v; want a replay (its record is a window old)", reason, ok)
	}
}

// TestFloodKeepsVerified: 256 made-up instances from eight neighbours (32
// each, the per-source limit) fill the default table, but the peer the node
// verified stays: the newcomers push out one another, least recent first.
// A ninth source's beacons past its limit are dropped, and a second flood of
// 256 pushes out only flood.
func TestFloodKeepsVerified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		honest := newRemote(h, remoteAddr)
		n := startNode(t, h, nodeAddr, testConfig())
		synctest.Wait()
		honest.send(t, beacon(5))
		e := n.event(t)
		if e.Kind != PeerNew || !n.d.Verified(5, e.Peer.Addr) {
			t.Fatalf("event %v %+v, or Verified refused it", e.Kind, e.Peer)
		}
		var flood []*remote
		for i := range 16 {
			flood = append(flood, newRemote(h, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)}), 28334).String()))
		}
		id := uint64(0x10000) // far from nodeID
		// Each source's burst is read before the next: the fake socket's
		// queue holds 256 datagrams, and the node's own answers go there too.
		send := func(rs []*remote, each int) {
			for _, r := range rs {
				for range each {
					r.send(t, beacon(id))
					id++
				}
				synctest.Wait()
			}
		}
		send(flood[:8], 32)
		s := n.d.Stats()
		want := Stats{Sent: s.Sent, Received: s.Received, Accepted: 257, Evicted: 1, Peers: DefaultMaxPeers, Verified: 1,
			Dropped: [NumDropReasons]uint64{DropSelf: s.Dropped[DropSelf]}}
		if s != want || s.Received != 257+s.Dropped[DropSelf] {
			t.Fatalf("after 256 made-up instances: stats %+v, want %+v", s, want)
		}
		ps := n.d.Peers()
		if !slicesContainsFunc(ps, func(p Peer) bool { return p.Instance == 5 && p.Verified }) ||
			slicesContainsFunc(ps, func(p Peer) bool { return p.Instance == 0x10000 }) {
			t.Fatal("the verified peer was pushed out, or the flood's first instance was kept over a later one")
		}

		// A ninth source: 32 pass its bucket, 8 do not.
		rate := newRemote(h, "10.0.0.99:28334")
		for range 40 {
			rate.send(t, beacon(id))
			id++
		}
		synctest.Wait()
		if s := n.d.Stats(); s.Dropped[DropRate] != 8 || s.Accepted != 257+32 || s.Evicted != 33 {
			t.Fatalf("stats %+v: want 8 dropped by rate, 32 more accepted and evicted", s)
		}
		send(flood[8:], 32)
		s = n.d.Stats()
		if s.Accepted != 257+32+256 || s.Evicted != 33+256 || s.Peers != DefaultMaxPeers || s.Verified != 1 {
			t.Fatalf("after a second flood: stats %+v", s)
		}
	})
}

func slicesContainsFunc(ps []Peer, f func(Peer) bool) bool {
	for _, p := range ps {
		if f(p) {
			return true
		}
	}
	return false
}

// TestVerified: Verified marks an instance only at the address it is at;
// the mark shows in Peers and Stats, and a new address clears it.
func TestVerified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		r := newRemote(h, remoteAddr)
		n := startNode(t, h, nodeAddr, testConfig())
		if n.d.Verified(0xa, netip.MustParseAddrPort("10.0.0.2:20010")) {
			t.Fatal("an instance not heard yet verified")
		}
		r.send(t, beacon(0xa))
		addr := n.event(t).Peer.Addr
		if n.d.Verified(0xa, netip.AddrPortFrom(addr.Addr(), addr.Port()+1)) || n.d.Verified(0xb, addr) {
			t.Fatal("verified at another port, or another instance")
		}
		if !n.d.Verified(0xa, addr) {
			t.Fatal("Verified refused the instance at its address")
		}
		if ps := n.d.Peers(); len(ps) != 1 || !ps[0].Verified || n.d.Stats().Verified != 1 {
			t.Fatalf("peers %+v, stats %+v: want one verified", ps, n.d.Stats())
		}
		b := beacon(0xa)
		b.Port++
		r.send(t, b)
		if e := n.event(t); e.Kind != PeerUpdated || e.Peer.Verified || n.d.Stats().Verified != 0 {
			t.Fatalf("after a move: event %v %+v, stats %+v; want an update, not verified", e.Kind, e.Peer, n.d.Stats())
		}
	})
}

// TestPlainConn: Serve still runs on a PacketConn that cannot tell where a
// datagram was sent (a bare *net.UDPConn), says so in a warning, and then
// cannot refuse a unicast datagram; the other rules hold.
func TestPlainConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hub{}
		r := newRemote(h, remoteAddr)
		logs := &recordLog{}
		cfg := testConfig()
		cfg.Logger = slog.New(logs)
		events := make(chan Event, 16)
		cfg.OnEvent = func(e Event) { events <- e }
		d, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		conn := plainConn{h.conn(nodeAddr)}
		go func() { done <- d.Serve(ctx, conn) }()
		p := r.stamp(beacon(0xa))
		r.sendTo(t, p, netip.MustParseAddrPort(nodeAddr))
		r.sendRaw(t, p)
		synctest.Wait()
		if len(events) != 1 {
			t.Fatalf("%d events, want the unicast beacon's PeerNew", len(events))
		}
		if s := d.Stats(); s.Accepted != 1 || s.Dropped[DropReplay] != 1 {
			t.Fatalf("stats %+v: want the unicast copy accepted and the group copy a replay", s)
		}
		if !logs.has(slog.LevelWarn, "cannot tell where a datagram was sent") {
			t.Fatal("no warning that unicast datagrams are not refused")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// recordLog is a slog.Handler that keeps the records.
type recordLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *recordLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	return nil
}
func (l *recordLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *recordLog) WithGroup(string) slog.Handler      { return l }

func (l *recordLog) has(level slog.Level, text string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Level == level && strings.Contains(r.Message, text) {
			return true
		}
	}
	return false
}

// TestReadSecretFile: a private file's secret, less one trailing newline;
// a file its group or others can read or write, an empty one, one too
// long, a directory and a missing file are refused with errors that say
// which and name the file.
func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		mode    fs.FileMode
		want    string
		err     error
	}{
		{"plain", "hunter2", 0o600, "hunter2", nil},
		{"trailing newline", "hunter2\n", 0o600, "hunter2", nil},
		{"trailing CRLF", "hunter2\r\n", 0o400, "hunter2", nil},
		{"two newlines: one is the secret's", "hunter2\n\n", 0o600, "hunter2\n", nil},
		{"inner spaces kept", " two words \n", 0o600, " two words ", nil},
		{"group-readable", "hunter2\n", 0o640, "", ErrSecretExposed},
		{"world-readable", "hunter2\n", 0o604, "", ErrSecretExposed},
		{"group-writable", "hunter2\n", 0o620, "", ErrSecretExposed},
		{"empty", "", 0o600, "", ErrSecretEmpty},
		{"just a newline", "\n", 0o600, "", ErrSecretEmpty},
		{"too long", strings.Repeat("x", MaxSecretSize+1), 0o600, "", ErrSecretFile},
		{"longest", strings.Repeat("x", MaxSecretSize), 0o600, strings.Repeat("x", MaxSecretSize), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // not subject to the umask
				t.Fatal(err)
			}
			got, err := ReadSecretFile(path)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !errors.Is(err, ErrSecretFile) || !strings.Contains(err.Error(), path) || got != nil {
					t.Fatalf("ReadSecretFile = %q, %v; want an error wrapping %v that names %s", got, err, tt.err, path)
				}
				return
			}
			if err != nil || !bytes.Equal(got, []byte(tt.want)) {
				t.Fatalf("ReadSecretFile = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		if _, err := ReadSecretFile(dir); !errors.Is(err, ErrSecretFile) {
			t.Fatalf("a directory: %v, want ErrSecretFile", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := ReadSecretFile(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a missing file: %v, want fs.ErrNotExist", err)
		}
	})
}
