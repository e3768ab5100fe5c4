package discover

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/sock/nstest"
	"github.com/renga-p2p/renga/wire"
)

// Real sockets, in private network namespaces only (design.md §6, "Network
// safety"): nothing here touches the host's interfaces. Intervals are short
// (100–300 ms, so peers expire 900 ms after their last beacon: slack for a
// loaded machine) and every wait is bounded by realTimeout.

const realTimeout = 30 * time.Second

// realConfig is a node of these tests: instance id, TCP port, interface.
func realConfig(id uint64, port uint16, ifname string) Config {
	return Config{
		Magic: testMagic, Genesis: testGenesis, Secret: testSecret,
		Instance: id, Port: port, Interface: ifname,
		MinInterval: 100 * time.Millisecond, MaxInterval: 300 * time.Millisecond,
		AnswerGap: 20 * time.Millisecond,
		// Every node of the loopback test shares 127.0.0.1.
		SourceLimit: 1000,
	}
}

// realNode is a Discovery running on a real socket in this process.
type realNode struct {
	d      *Discovery
	events chan Event
	cancel context.CancelFunc
	done   chan error
}

func startReal(t *testing.T, cfg Config) *realNode {
	t.Helper()
	n := &realNode{events: make(chan Event, 256), done: make(chan error, 1)}
	cfg.OnEvent = func(e Event) {
		select {
		case n.events <- e:
		default:
			t.Errorf("event queue full; lost %v %+v", e.Kind, e.Peer)
		}
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.d = d
	ctx, cancel := context.WithCancel(t.Context())
	n.cancel = cancel
	go func() { n.done <- d.Run(ctx) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop ends the node and checks that Run returned nil.
func (n *realNode) stop(t *testing.T) {
	n.cancel()
	select {
	case err, ok := <-n.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(n.done)
		}
	case <-time.After(realTimeout):
		t.Error("Run did not return after cancel")
	}
}

// next returns the node's next event, or fails after realTimeout.
func (n *realNode) next(t *testing.T) Event {
	t.Helper()
	select {
	case e := <-n.events:
		return e
	case <-time.After(realTimeout):
		t.Fatalf("no event within %v", realTimeout)
		return Event{}
	}
}

// TestLoopbackNodes: several nodes of one host share the group port on lo
// (SO_REUSEPORT), all find each other at 127.0.0.1 and their own TCP ports,
// drop their own beacons and a node with another secret, and expire a node
// that stops.
func TestLoopbackNodes(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	const count = 4
	var nodes []*realNode
	for i := range count {
		nodes = append(nodes, startReal(t, realConfig(uint64(i+1), uint16(28340+i), "lo")))
	}
	stranger := realConfig(99, 28399, "lo")
	stranger.Secret = []byte("another LAN")
	startReal(t, stranger)

	for i, n := range nodes {
		for range count - 1 {
			e := n.next(t)
			j := int(e.Peer.Instance) - 1
			want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(28340+j))
			if e.Kind != PeerNew || j < 0 || j >= count || j == i || e.Peer.Addr != want {
				t.Fatalf("node %d: event %v %+v, want a new peer at %v", i, e.Kind, e.Peer, want)
			}
		}
	}
	nodes[0].stop(t)
	for i, n := range nodes[1:] {
		for {
			e := n.next(t)
			if e.Kind == PeerUpdated {
				continue
			}
			if e.Kind != PeerExpired || e.Peer.Instance != 1 {
				t.Fatalf("node %d: event %v %+v, want node 0 expired", i+1, e.Kind, e.Peer)
			}
			break
		}
	}
	for i, n := range nodes[1:] {
		s := n.d.Stats()
		t.Logf("node %d: %+v", i+1, s)
		if s.Dropped[DropSelf] == 0 || s.Dropped[DropAuth] == 0 || s.Dropped[DropMalformed] != 0 || s.SendErrors != 0 || s.Peers != count-2 {
			t.Errorf("node %d stats %+v: want own beacons and the stranger's dropped, %d peers", i+1, s, count-2)
		}
	}
}

// bridgeNodes is how many namespaces TestBridgedNamespaces makes.
const bridgeNodes = 6

// TestBridgedNamespaces: one node per namespace, each namespace linked by a
// veth pair to one bridge in the test's own namespace; every node finds
// every other at its veth address, and the others expire a node that stops.
func TestBridgedNamespaces(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.RequireLinkType(t, "veth")
	nstest.RequireLinkType(t, "bridge")
	// No IGMP snooping: with no querier on the bridge it would forward the
	// group only once it had seen the members' reports; flooding it is what
	// a plain switch does.
	nstest.IP(t, "link", "add", "rbr0", "type", "bridge", "mcast_snooping", "0")
	nstest.IP(t, "link", "set", "rbr0", "up")

	type line struct {
		node int
		text string
	}
	lines := make(chan line, 1024)
	var stdins []io.WriteCloser
	var waits []chan error
	for i := range bridgeNodes {
		cmd := nstest.Command(t.Context(), t, "TestHelperBridgedNode", fmt.Sprintf("RENGA_DISCOVER_NODE=%d", i))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		veth := fmt.Sprintf("rv%d", i)
		nstest.IP(t, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", strconv.Itoa(cmd.Process.Pid))
		nstest.IP(t, "link", "set", veth, "master", "rbr0")
		nstest.IP(t, "link", "set", veth, "up")
		if _, err := io.WriteString(stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
		stdins = append(stdins, stdin)
		done := make(chan error, 1)
		go func() {
			s := bufio.NewScanner(stdout)
			for s.Scan() {
				lines <- line{i, s.Text()}
			}
			done <- cmd.Wait()
		}()
		waits = append(waits, done)
	}
	t.Cleanup(func() {
		for _, w := range stdins {
			_ = w.Close() // a second close, for the nodes still running on failure
		}
	})

	// next returns the next event a node printed: kind, instance, address.
	var log []string
	next := func(what string) (node int, kind string, id int, addr netip.AddrPort) {
		t.Helper()
		for {
			select {
			case l := <-lines:
				f := strings.Fields(l.text)
				if len(f) != 4 || f[0] != "EVENT" {
					log = append(log, fmt.Sprintf("node %d: %s", l.node, l.text))
					continue
				}
				id, _ := strconv.Atoi(f[2])
				return l.node, f[1], id, netip.MustParseAddrPort(f[3])
			case <-time.After(realTimeout):
				t.Fatalf("no event within %v waiting for %s; output:\n%s", realTimeout, what, strings.Join(log, "\n"))
			}
		}
	}
	nodeAddr := func(j int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 77, 0, byte(j + 1)}), uint16(28333+j))
	}

	found := map[[2]int]bool{}
	for len(found) < bridgeNodes*(bridgeNodes-1) {
		node, kind, id, addr := next(fmt.Sprintf("all to find all (%d of %d found)", len(found), bridgeNodes*(bridgeNodes-1)))
		j := id - 1
		if kind != "new" {
			continue
		}
		if j < 0 || j >= bridgeNodes || j == node || addr != nodeAddr(j) || found[[2]int{node, j}] {
			t.Fatalf("node %d: new peer %d at %v, want each other node once at its veth address", node, id, addr)
		}
		found[[2]int{node, j}] = true
	}

	// Node 0 stops: the others expire it.
	if err := stdins[0].Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waits[0]:
		if err != nil {
			t.Fatalf("node 0: %v\n%s", err, strings.Join(log, "\n"))
		}
	case <-time.After(realTimeout):
		t.Fatal("node 0 did not stop")
	}
	expired := map[int]bool{}
	for len(expired) < bridgeNodes-1 {
		node, kind, id, _ := next("the others to expire node 0")
		switch {
		case kind == "updated":
		case kind == "expired" && id == 1 && node != 0:
			expired[node] = true
		default:
			t.Fatalf("node %d: %s %d while waiting for node 0 to expire", node, kind, id)
		}
	}
	for i, w := range stdins[1:] {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-waits[i+1]; err != nil {
			t.Errorf("node %d: %v", i+1, err)
		}
	}
}

// TestHelperBridgedNode is one node of TestBridgedNamespaces, in its own
// namespace: it waits for "go" on stdin (its veth is there by then),
// configures it, runs discovery until stdin closes, and prints its events.
func TestHelperBridgedNode(t *testing.T) {
	nstest.Helper(t)
	i, err := strconv.Atoi(os.Getenv("RENGA_DISCOVER_NODE"))
	if err != nil {
		t.Fatal(err)
	}
	in := bufio.NewReader(os.Stdin)
	if l, err := in.ReadString('\n'); err != nil || l != "go\n" {
		t.Fatalf("read %q, %v from the test", l, err)
	}
	nstest.IP(t, "addr", "add", fmt.Sprintf("10.77.0.%d/24", i+1), "dev", "eth0")
	nstest.IP(t, "link", "set", "eth0", "up")

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		_, _ = io.Copy(io.Discard, in) // until the test closes our stdin (or it fails)
		cancel()
	}()
	out := make(chan string, 256)
	cfg := realConfig(uint64(i+1), uint16(28333+i), "eth0")
	cfg.OnEvent = func(e Event) {
		out <- fmt.Sprintf("EVENT %v %d %v\n", e.Kind, e.Peer.Instance, e.Peer.Addr)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx); close(out) }()
	for l := range out {
		if _, err := io.WriteString(os.Stdout, l); err != nil {
			t.Error(err) // the test is gone; Run ends with its stdin
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Printf("STATS %+v\n", d.Stats()); err != nil {
		t.Error(err)
	}
}

// sender is a helper process (TestHelperSender) in a namespace of its own on
// the test's bridge: it sends the datagrams the test gives it, from the
// source addresses the test names.
type sender struct {
	name  string
	stdin io.WriteCloser
	lines chan string
	done  chan error
}

// startSender starts a sender whose eth0, a veth linked to bridge, gets
// addrs (CIDR prefixes; the first is its primary address), and waits until
// it is ready.
func startSender(t *testing.T, name, bridge string, addrs ...string) *sender {
	t.Helper()
	cmd := nstest.Command(t.Context(), t, "TestHelperSender", "RENGA_SENDER_ADDRS="+strings.Join(addrs, ","))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &sender{name: name, stdin: stdin, lines: make(chan string, 1024), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // ends the helper; a second close on the way out is harmless
		select {
		case err := <-s.done:
			if err != nil {
				t.Logf("sender %s ended with %v", name, err)
			}
		case <-time.After(realTimeout):
			t.Errorf("sender %s did not stop", name)
		}
	})
	veth := "rv" + name
	nstest.IP(t, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", strconv.Itoa(cmd.Process.Pid))
	nstest.IP(t, "link", "set", veth, "master", bridge)
	nstest.IP(t, "link", "set", veth, "up")
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "READY")
	nstest.WaitLinkUp(t, veth) // each datagram counts: none may go out before the port forwards
	return s
}

// expect waits for the sender to print want.
func (s *sender) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case l := <-s.lines:
		if l != want {
			more := []string{l}
			for len(s.lines) > 0 {
				more = append(more, <-s.lines)
			}
			t.Fatalf("sender %s printed, instead of %q:\n%s", s.name, want, strings.Join(more, "\n"))
		}
	case err := <-s.done:
		t.Fatalf("sender %s ended (%v) before printing %q", s.name, err, want)
	case <-time.After(realTimeout):
		t.Fatalf("sender %s did not print %q within %v", s.name, want, realTimeout)
	}
}

// send has the sender send p from src to dst, and waits until it has.
func (s *sender) send(t *testing.T, src, dst string, p []byte) {
	t.Helper()
	s.sendAll(t, src, dst, [][]byte{p})
}

// sendAll has the sender send each of ps from src to dst, in order, and
// waits until it has: one round trip however many there are, so that a
// loaded machine's scheduling delays are paid once.
func (s *sender) sendAll(t *testing.T, src, dst string, ps [][]byte) {
	t.Helper()
	var cmds strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&cmds, "SEND %s %s %x\n", src, dst, p)
	}
	if _, err := io.WriteString(s.stdin, cmds.String()); err != nil {
		t.Fatal(err)
	}
	for range ps {
		s.expect(t, "SENT")
	}
}

// TestHelperSender is a sender: after "go" it puts the addresses of
// RENGA_SENDER_ADDRS on its eth0 with a multicast route there and prints
// READY; then for each line "SEND src dst hex" it sends the datagram from
// src (any port) to dst and prints SENT, until stdin closes.
func TestHelperSender(t *testing.T) {
	nstest.Helper(t)
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "go" {
		t.Fatalf("read %q, %v from the test", in.Text(), in.Err())
	}
	for _, a := range strings.Split(os.Getenv("RENGA_SENDER_ADDRS"), ",") {
		nstest.IP(t, "addr", "add", a, "dev", "eth0")
	}
	nstest.IP(t, "link", "set", "eth0", "up")
	nstest.IP(t, "route", "add", "224.0.0.0/4", "dev", "eth0")
	nstest.WaitLinkUp(t, "eth0")
	if _, err := fmt.Println("READY"); err != nil {
		t.Fatal(err)
	}
	conns := map[string]*net.UDPConn{}
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) != 4 || f[0] != "SEND" {
			t.Fatalf("bad command %q", in.Text())
		}
		c, ok := conns[f[1]]
		if !ok {
			var err error
			c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(f[1]), 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }() // nothing to flush
			conns[f[1]] = c
		}
		p, err := hex.DecodeString(f[3])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteToUDPAddrPort(p, netip.MustParseAddrPort(f[2])); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Println("SENT"); err != nil {
			t.Fatal(err)
		}
	}
}

// dropLog is a slog.Handler that passes on the reason of every "beacon
// dropped" record but those of our own beacons, which it signals on selfs
// (without waiting: only that they come matters).
type dropLog struct {
	t     *testing.T
	drops chan DropReason
	selfs chan struct{}
}

func (l dropLog) Enabled(context.Context, slog.Level) bool { return true }
func (l dropLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l dropLog) WithGroup(string) slog.Handler            { return l }
func (l dropLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "discover: beacon dropped" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		reason, ok := a.Value.Any().(DropReason)
		switch {
		case !ok || a.Key != "reason":
		case reason == DropSelf:
			select {
			case l.selfs <- struct{}{}:
			default:
			}
		default:
			select {
			case l.drops <- reason:
			default:
				l.t.Errorf("drop queue full; lost %v", reason)
			}
		}
		return true
	})
	return nil
}

// TestHostileLAN: a node on a bridge, in the test's namespace, and two
// sender namespaces: one on its subnet with a dozen addresses, one with an
// address outside it (10.79.0.2, routed to the bridge). Each datagram below
// is a signed beacon that only the rule under test refuses:
//
//   - one sent by unicast to the node's discovery port: dropped (unicast);
//   - one sent to the group from the off-link address: dropped (off-link);
//   - 256 made-up instances from eight neighbours, 32 each, after the node
//     verified a peer: the table stays full (256), the flood pushes out one
//     of its own, and the verified peer stays;
//   - a fresh beacon, accepted (pushing out another of the flood), then the
//     same bytes again, and again from another address: replays; and once
//     its instance has expired, the same bytes from that address: stale,
//     and no new peer.
//
// The node's counters after all that are exact: every datagram is
// accounted for under its reason, and its own beacons as self.
func TestHostileLAN(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.RequireLinkType(t, "veth")
	nstest.RequireLinkType(t, "bridge")
	nstest.IP(t, "link", "add", "rbr0", "type", "bridge", "mcast_snooping", "0")
	nstest.IP(t, "addr", "add", "10.78.0.1/24", "dev", "rbr0")
	nstest.IP(t, "link", "set", "rbr0", "up")
	nstest.IP(t, "route", "add", "10.79.0.0/24", "dev", "rbr0") // the off-link sender is reachable

	lanAddrs := []string{"10.78.0.2/24", "10.78.0.3/24", "10.78.0.4/24"}
	for i := range 8 {
		lanAddrs = append(lanAddrs, fmt.Sprintf("10.78.0.%d/24", 100+i))
	}
	lan := startSender(t, "lan", "rbr0", lanAddrs...)
	far := startSender(t, "far", "rbr0", "10.79.0.2/24")

	drops, selfs := make(chan DropReason, 1024), make(chan struct{}, 1)
	cfg := realConfig(1, 28400, "rbr0")
	cfg.SourceLimit = DefaultSourceLimit // the flood's sources are within it; nothing else comes near
	// Peers expire 4.5 s after their last beacon: the flood (a few hundred
	// milliseconds) is over long before. A beacon is stale a second after
	// it was stamped, well before its peer expires.
	cfg.MinInterval, cfg.MaxInterval, cfg.ReplayWindow = 500*time.Millisecond, 1500*time.Millisecond, time.Second
	cfg.Logger = slog.New(dropLog{t, drops, selfs})
	n := startReal(t, cfg)

	group := DefaultGroup().String()
	seq := uint64(0)
	signed := func(id uint64) []byte {
		seq++
		b := wire.Beacon{Magic: testMagic, Genesis: testGenesis, Instance: id, Port: 30000 + uint16(id%1000),
			Services: DefaultServices, StartHeight: 9, Time: time.Now().UnixMilli(), Sequence: seq}
		return wire.AppendBeacon(nil, &b, testSecret)
	}
	dropped := func(want DropReason) {
		t.Helper()
		select {
		case r := <-drops:
			if r != want {
				t.Fatalf("dropped as %v, want %v", r, want)
			}
		case <-time.After(realTimeout):
			t.Fatalf("nothing dropped as %v within %v", want, realTimeout)
		}
	}
	event := func(kind EventKind, id uint64) Event {
		t.Helper()
		e := n.next(t)
		if e.Kind != kind || e.Peer.Instance != id {
			t.Fatalf("event %v %+v, want %v of instance %x", e.Kind, e.Peer, kind, id)
		}
		return e
	}
	// The node reads once its own query has come back.
	select {
	case <-selfs:
	case <-time.After(realTimeout):
		t.Fatal("the node's own query did not come back")
	}

	lan.send(t, "10.78.0.2", "10.78.0.1:28334", signed(0x21))
	dropped(DropUnicast)
	far.send(t, "10.79.0.2", group, signed(0x22))
	dropped(DropOffLink)

	lan.send(t, "10.78.0.4", group, signed(5))
	verified := event(PeerNew, 5)
	if !n.d.Verified(5, verified.Peer.Addr) || verified.Peer.Addr != netip.MustParseAddrPort("10.78.0.4:30005") {
		t.Fatalf("Verified(5, %v) refused", verified.Peer.Addr)
	}
	id := uint64(0x10000)
	floodStart := time.Now()
	for src := range 8 {
		// 32 at a time, then their events: a burst the socket's buffer holds.
		var burst [][]byte
		for range 32 {
			burst = append(burst, signed(id))
			id++
		}
		lan.sendAll(t, fmt.Sprintf("10.78.0.%d", 100+src), group, burst)
		for i := range uint64(32) {
			if id-32+i == 0x10000+255 {
				event(PeerExpired, 0x10000) // the flood's first, least recent, makes room for its last
			}
			event(PeerNew, id-32+i)
		}
	}
	t.Logf("the flood took %v", time.Since(floodStart))
	s := n.d.Stats()
	if s.Accepted != 257 || s.Evicted != 1 || s.Peers != DefaultMaxPeers || s.Verified != 1 || s.DroppedTotal() != s.Dropped[DropSelf]+2 {
		t.Fatalf("after the flood: %+v; want 257 accepted, 1 evicted, a full table with the verified peer", s)
	}
	if ps := n.d.Peers(); !slicesContainsFunc(ps, func(p Peer) bool { return p.Instance == 5 && p.Verified }) {
		t.Fatal("the verified peer is gone")
	}

	replayed := signed(0xb0)
	lan.send(t, "10.78.0.2", group, replayed)
	event(PeerExpired, 0x10001) // the table is still full of flood
	event(PeerNew, 0xb0)
	lan.send(t, "10.78.0.2", group, replayed)
	dropped(DropReplay)
	lan.send(t, "10.78.0.3", group, replayed)
	dropped(DropReplay)
	// Everything heard before 0xb0 expires with it or before it (those
	// expired at one moment are reported in address order).
	for {
		if e := n.next(t); e.Kind == PeerExpired && e.Peer.Instance == 0xb0 {
			break
		} else if e.Kind != PeerExpired {
			t.Fatalf("event %v %+v while the table empties", e.Kind, e.Peer)
		}
	}
	if s := n.d.Stats(); s.Peers != 0 {
		t.Fatalf("%d peers left when the last one heard expired", s.Peers)
	}
	lan.send(t, "10.78.0.3", group, replayed)
	dropped(DropStale)
	n.stop(t)
	for len(n.events) > 0 {
		if e := <-n.events; e.Kind != PeerExpired {
			t.Fatalf("event %v %+v after the stale replay", e.Kind, e.Peer)
		}
	}

	s = n.d.Stats()
	t.Logf("stats %+v", s)
	want := Stats{Sent: s.Sent, Accepted: 258, Evicted: 2, Dropped: [NumDropReasons]uint64{
		DropUnicast: 1, DropOffLink: 1, DropReplay: 2, DropStale: 1, DropSelf: s.Dropped[DropSelf]}}
	want.Received = want.Accepted + want.DroppedTotal()
	if s != want || s.Dropped[DropSelf] > s.Sent || s.SendErrors != 0 {
		t.Fatalf("stats %+v\nwant  %+v (and no more of our own beacons back than sent)", s, want)
	}
}
