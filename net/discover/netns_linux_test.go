package discover

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/sock/nstest"
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
