package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/sock"
	"github.com/renga-p2p/renga/net/sock/netns"
)

// nsTools checks that ip and tc (iproute2) are on PATH.
func nsTools() error {
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: the %s command is missing (Debian package iproute2)", ErrNoNamespaces, tool)
		}
	}
	return nil
}

// ProbeShaping finds out what the kernel's traffic control can do, on a
// veth pair in a namespace of its own that is gone when it returns.
func ProbeShaping() (Shaping, error) {
	if err := nsTools(); err != nil {
		return Shaping{}, err
	}
	ns, err := netns.New()
	if err != nil {
		return Shaping{}, fmt.Errorf("%w: %v", ErrNoNamespaces, err)
	}
	defer func() { _ = ns.Close() }() // nothing in it outlives the probe
	if err := ns.IP("link", "add", "probe0", "type", "veth", "peer", "name", "probe1"); err != nil {
		return Shaping{}, fmt.Errorf("%w: veth: %v", ErrNoNamespaces, err)
	}
	try := func(args ...string) bool {
		return ns.Do(func() error { return exec.Command("tc", args...).Run() }) == nil
	}
	_, nftErr := exec.LookPath("nft")
	return Shaping{
		Netem: try("qdisc", "add", "dev", "probe0", "root", "netem", "delay", "1ms", "loss", "1%"),
		TBF:   try("qdisc", "add", "dev", "probe1", "root", "tbf", "rate", "1mbit", "burst", "65536", "latency", "200ms"),
		NFT:   nftErr == nil && nft(ns, lossRuleset(map[string]float64{"probe0": 1})) == nil,
	}, nil
}

// nft loads an nftables ruleset in ns (nft -f -).
func nft(ns *netns.Namespace, ruleset string) error {
	return ns.Do(func() error {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(ruleset)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("lab: nft: %w: %s", err, bytes.TrimSpace(out))
		}
		return nil
	})
}

// nftLoss is whether link loss goes through nftables (no netem).
func (nw *linkNetwork) nftLoss() bool { return !nw.shaping.Netem && nw.shaping.NFT }

// applyLoss loads node i's loss rules: one per link of i with loss in
// force. Called with nw.mu held or before the network is shared.
func (nw *linkNetwork) applyLoss(i int) error {
	loss := map[string]float64{}
	for k, l := range nw.top.Links {
		if (l.A == i || l.B == i) && nw.applied[k].Loss > 0 {
			loss[linkDev(k)] = nw.applied[k].Loss
		}
	}
	if err := nft(nw.nodes[i], lossRuleset(loss)); err != nil {
		return fmt.Errorf("lab: node %d's link loss: %w", i+1, err)
	}
	return nil
}

// batch runs `tool -batch -` in ns with one command a line: one process
// for a whole namespace's set-up rather than one per command.
func batch(ns *netns.Namespace, tool string, cmds [][]string) error {
	if len(cmds) == 0 {
		return nil
	}
	var in bytes.Buffer
	for _, c := range cmds {
		in.WriteString(strings.Join(c, " "))
		in.WriteByte('\n')
	}
	run := func() error {
		cmd := exec.Command(tool, "-batch", "-")
		cmd.Stdin = &in
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("lab: %s -batch: %w: %s", tool, err, bytes.TrimSpace(out))
		}
		return nil
	}
	if ns == nil {
		return run()
	}
	return ns.Do(run)
}

// linkNetwork puts each node in a network namespace of its own and makes
// each link of the topology a veth pair between its two nodes' namespaces,
// with a /30 of 10.200.0.0/13 and its conditions applied by tc on both
// ends. Nodes listen on every address at one port and dial their
// neighbours along the links; each serves RPC on its own loopback.
type linkNetwork struct {
	top     *Topology
	port    int
	shaping Shaping
	nodes   []*netns.Namespace

	mu      sync.Mutex
	cut     map[[2]int]bool // [link, from node] blackholed
	applied []Conditions
}

// NewLinkNetwork builds top from namespaces: one per node, a veth pair
// per link. Nodes listen on port; link conditions are applied as far as
// the kernel allows (shaping, from ProbeShaping; [LinkControl.Applied]
// tells what is in force). Everything it makes is inside the namespaces
// and vanishes with Close.
func NewLinkNetwork(top *Topology, port int, shaping Shaping) (_ Network, err error) {
	if err := nsTools(); err != nil {
		return nil, err
	}
	if err := checkLinkCount(len(top.Links)); err != nil {
		return nil, err
	}
	nw := &linkNetwork{top: top, port: port, shaping: shaping, cut: map[[2]int]bool{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, nw.Close())
		}
	}()
	for range top.Nodes {
		ns, err := netns.New()
		if err != nil {
			return nil, fmt.Errorf("%w: %v (root is needed)", ErrNoNamespaces, err)
		}
		nw.nodes = append(nw.nodes, ns)
	}
	// The pairs are made straight into their namespaces: nothing is ever
	// created in the namespace this process runs in.
	var create [][]string
	for k, l := range top.Links {
		dev := linkDev(k)
		create = append(create, []string{"link", "add", dev, "netns", nw.nodes[l.A].Path(), "type", "veth",
			"peer", "name", dev, "netns", nw.nodes[l.B].Path()})
	}
	if err := batch(nil, "ip", create); err != nil {
		return nil, err
	}
	setup := make([][][]string, len(top.Nodes))
	shape := make([][][]string, len(top.Nodes))
	for i := range top.Nodes {
		setup[i] = [][]string{{"link", "set", "lo", "up"}}
	}
	nw.applied = make([]Conditions, len(top.Links))
	for k, l := range top.Links {
		a, b := linkAddrs(k)
		dev := linkDev(k)
		setup[l.A] = append(setup[l.A], []string{"addr", "add", a.String() + "/30", "dev", dev}, []string{"link", "set", dev, "up"})
		setup[l.B] = append(setup[l.B], []string{"addr", "add", b.String() + "/30", "dev", dev}, []string{"link", "set", dev, "up"})
		got, _ := shaping.Supports(l.Cond) // the caller knows what its kernel lacks
		nw.applied[k] = got
		if !shaping.Netem {
			got.Loss = 0 // through nftables, below
		}
		if got.IsZero() {
			continue
		}
		args, err := shaping.qdiscArgs(dev, got)
		if err != nil {
			return nil, err
		}
		shape[l.A] = append(shape[l.A], args)
		shape[l.B] = append(shape[l.B], args)
	}
	for i, ns := range nw.nodes {
		if err := batch(ns, "ip", setup[i]); err != nil {
			return nil, fmt.Errorf("lab: node %d's links: %w", i+1, err)
		}
		if err := batch(ns, "tc", shape[i]); err != nil {
			return nil, fmt.Errorf("lab: node %d's link conditions: %w", i+1, err)
		}
		if nw.nftLoss() {
			if err := nw.applyLoss(i); err != nil {
				return nil, err
			}
		}
	}
	return nw, nil
}

// linkDev names link k's device in both of its namespaces.
func linkDev(k int) string { return "l" + strconv.Itoa(k) }

func (nw *linkNetwork) Start(i int, cmd *exec.Cmd) error { return nw.nodes[i].Start(cmd) }
func (nw *linkNetwork) Listen(int) string                { return "0.0.0.0:" + strconv.Itoa(nw.port) }
func (nw *linkNetwork) RPC(int) string                   { return "127.0.0.1:" + strconv.Itoa(nw.port+1) }
func (nw *linkNetwork) Dialer(i int) DialFunc            { return nw.nodes[i].DialContext }
func (nw *linkNetwork) DiscoverIface() string            { return "" }
func (nw *linkNetwork) Shaping() Shaping                 { return nw.shaping }
func (nw *linkNetwork) Applied(k int) Conditions {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.applied[k]
}
func (nw *linkNetwork) Describe() string {
	return "each in its own network namespace, one veth pair per link"
}

func (nw *linkNetwork) Connect(i int) []string {
	out := []string{}
	for k, l := range nw.top.Links {
		if l.A == i {
			_, b := linkAddrs(k)
			out = append(out, netip.AddrPortFrom(b, uint16(nw.port)).String())
		}
	}
	return out
}

func (nw *linkNetwork) SetConditions(k int, c Conditions) (Conditions, error) {
	if k < 0 || k >= len(nw.top.Links) {
		return Conditions{}, fmt.Errorf("%w: no link %d", ErrTopology, k)
	}
	if err := c.Validate(); err != nil {
		return Conditions{}, err
	}
	got, warn := nw.shaping.Supports(c)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	prev := nw.applied[k]
	if got == prev {
		return got, warn
	}
	l := nw.top.Links[k]
	dev := linkDev(k)
	// The qdisc's part: all of it with netem, else the rate.
	qNew, qOld := got, prev
	if !nw.shaping.Netem {
		qNew.Loss, qOld.Loss = 0, 0
	}
	if qNew != qOld {
		for _, end := range []int{l.A, l.B} {
			args, err := nw.shaping.qdiscArgs(dev, qNew)
			if err != nil {
				return prev, err
			}
			if err := batch(nw.nodes[end], "tc", [][]string{args}); err != nil {
				return prev, err
			}
		}
	}
	nw.applied[k] = got
	if nw.nftLoss() && got.Loss != prev.Loss {
		for _, end := range []int{l.A, l.B} {
			if err := nw.applyLoss(end); err != nil {
				return got, err
			}
		}
	}
	return got, warn
}

// Cut blackholes the far end's address in the sending node's namespace: a
// route lookup that drops the packet silently, as a broken path does (an
// unreachable route would tell the sender at once, which no real
// partition does). Established connections see it at their next packet.
func (nw *linkNetwork) Cut(k, from int) error {
	if k < 0 || k >= len(nw.top.Links) {
		return fmt.Errorf("%w: no link %d", ErrTopology, k)
	}
	l := nw.top.Links[k]
	var froms []int
	switch from {
	case -1:
		froms = []int{l.A, l.B}
	case l.A, l.B:
		froms = []int{from}
	default:
		return fmt.Errorf("%w: node %d is not on link %d-%d", ErrTopology, from+1, l.A+1, l.B+1)
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, f := range froms {
		if nw.cut[[2]int{k, f}] {
			continue
		}
		if err := batch(nw.nodes[f], "ip", [][]string{{"route", "add", "blackhole", nw.farEnd(k, f).String() + "/32"}}); err != nil {
			return err
		}
		nw.cut[[2]int{k, f}] = true
	}
	return nil
}

func (nw *linkNetwork) Heal(k int) error {
	if k < 0 || k >= len(nw.top.Links) {
		return fmt.Errorf("%w: no link %d", ErrTopology, k)
	}
	l := nw.top.Links[k]
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, f := range []int{l.A, l.B} {
		if !nw.cut[[2]int{k, f}] {
			continue
		}
		if err := batch(nw.nodes[f], "ip", [][]string{{"route", "del", "blackhole", nw.farEnd(k, f).String() + "/32"}}); err != nil {
			return err
		}
		delete(nw.cut, [2]int{k, f})
	}
	return nil
}

// farEnd is the address of link k's end that is not node from's.
func (nw *linkNetwork) farEnd(k, from int) netip.Addr {
	a, b := linkAddrs(k)
	if nw.top.Links[k].A == from {
		return b
	}
	return a
}

// RTT times a TCP connection attempt from end A to a port nobody listens
// on at end B: the SYN goes out and the RST comes back, one round trip
// through both directions' conditions, with no process on the far side in
// the way. The median of five.
func (nw *linkNetwork) RTT(ctx context.Context, k int) (time.Duration, error) {
	if k < 0 || k >= len(nw.top.Links) {
		return 0, fmt.Errorf("%w: no link %d", ErrTopology, k)
	}
	l := nw.top.Links[k]
	_, b := linkAddrs(k)
	target := netip.AddrPortFrom(b, 9).String() // discard: nothing listens there
	var samples []time.Duration
	for range 5 {
		var d time.Duration
		err := nw.nodes[l.A].Do(func() error {
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			start := time.Now()
			c, err := (&net.Dialer{}).DialContext(dctx, "tcp", target)
			d = time.Since(start)
			if err == nil {
				_ = c.Close()
				return nil
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil // the RST: the round trip is done
			}
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("lab: rtt of link %d-%d: %w", l.A+1, l.B+1, err)
		}
		samples = append(samples, d)
	}
	slices.Sort(samples)
	return samples[len(samples)/2], nil
}

func (nw *linkNetwork) Close() error {
	var errs []error
	for _, ns := range nw.nodes {
		errs = append(errs, ns.Close())
	}
	return errors.Join(errs...)
}

// lanNetwork puts each node in a namespace of its own with an eth0 on
// 10.82.0.0/16, joined by veth pairs to a bridge in one more namespace: a
// LAN that exists only inside this machine, where nodes find each other by
// multicast discovery.
type lanNetwork struct {
	port  int
	hub   *netns.Namespace
	nodes []*netns.Namespace
}

// NewLANNetwork builds a LAN of n namespaces on a bridge, each node
// listening on port of its eth0 address.
func NewLANNetwork(n, port int) (_ Network, err error) {
	if err := nsTools(); err != nil {
		return nil, err
	}
	hub, err := netns.New()
	if err != nil {
		return nil, fmt.Errorf("%w: %v (root is needed)", ErrNoNamespaces, err)
	}
	nw := &lanNetwork{port: port, hub: hub}
	defer func() {
		if err != nil {
			err = errors.Join(err, nw.Close())
		}
	}()
	hubCmds := [][]string{{"link", "add", "rg0", "type", "bridge"}, {"link", "set", "rg0", "up"}}
	for i := range n {
		ns, err := netns.New()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoNamespaces, err)
		}
		nw.nodes = append(nw.nodes, ns)
		veth := "rgv" + strconv.Itoa(i)
		hubCmds = append(hubCmds,
			[]string{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns.Path()},
			[]string{"link", "set", veth, "master", "rg0", "up"})
	}
	if err := batch(hub, "ip", hubCmds); err != nil {
		return nil, err
	}
	for i, ns := range nw.nodes {
		if err := batch(ns, "ip", [][]string{{"link", "set", "lo", "up"},
			{"addr", "add", lanAddr(i).String() + "/16", "dev", "eth0"}, {"link", "set", "eth0", "up"}}); err != nil {
			return nil, fmt.Errorf("lab: node %d's network: %w", i+1, err)
		}
	}
	return nw, nil
}

func (nw *lanNetwork) Start(i int, cmd *exec.Cmd) error { return nw.nodes[i].Start(cmd) }
func (nw *lanNetwork) Listen(i int) string {
	return netip.AddrPortFrom(lanAddr(i), uint16(nw.port)).String()
}
func (nw *lanNetwork) RPC(int) string        { return "127.0.0.1:" + strconv.Itoa(nw.port+1) }
func (nw *lanNetwork) Dialer(i int) DialFunc { return nw.nodes[i].DialContext }
func (nw *lanNetwork) Connect(int) []string  { return nil }
func (nw *lanNetwork) DiscoverIface() string { return "eth0" }
func (nw *lanNetwork) Describe() string {
	return "each in its own network namespace on one bridge (discovery on it)"
}
func (nw *lanNetwork) Close() error {
	errs := []error{nw.hub.Close()}
	for _, ns := range nw.nodes {
		errs = append(errs, ns.Close())
	}
	return errors.Join(errs...)
}

// procAttr: a node process in a process group of its own, so that Ctrl-C
// reaches only the lab, which stops the nodes in order; and killed if the
// lab dies, so that none outlives it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// rssKiB reads a node process's resident set from /proc (false for an
// in-process node or one that is gone).
func rssKiB(n *labNode) (int, bool) {
	n.mu.Lock()
	proc := n.proc
	n.mu.Unlock()
	if proc == nil || proc.Pid() == os.Getpid() {
		return 0, false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", proc.Pid()))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kib, err == nil
		}
	}
	return 0, false
}

// capturePair watches the link between nodes a and b at both of its ends
// with packet sockets in the two namespaces, decodes the frames and emits
// each message as sent by one end (outgoing there) and received by the
// other (incoming there): the kernel's own times at each end.
func (nw *linkNetwork) capturePair(ctx context.Context, wg *sync.WaitGroup, a, b int, emit func(PairMessage)) error {
	k, ok := nw.top.LinkIndex(a, b)
	if !ok {
		return fmt.Errorf("nodes %d and %d have no link between them", a+1, b+1)
	}
	for _, end := range []int{a, b} {
		other := a + b - end
		if err := watchDevice(ctx, wg, nw.nodes[end], linkDev(k), uint16(nw.port), netip.Addr{}, end, other, emit); err != nil {
			return err
		}
	}
	return nil
}

// capturePair on the LAN watches each node's eth0 for packets to or from
// the other.
func (nw *lanNetwork) capturePair(ctx context.Context, wg *sync.WaitGroup, a, b int, emit func(PairMessage)) error {
	for _, end := range []int{a, b} {
		other := a + b - end
		if err := watchDevice(ctx, wg, nw.nodes[end], "eth0", uint16(nw.port), lanAddr(other), end, other, emit); err != nil {
			return err
		}
	}
	return nil
}

// watchDevice captures Renga's port on dev inside ns until ctx ends,
// emitting each decoded message seen by node at (with node peer, whose
// address is peerAddr when the device is shared).
func watchDevice(ctx context.Context, wg *sync.WaitGroup, ns *netns.Namespace, dev string, port uint16, peerAddr netip.Addr,
	at, peer int, emit func(PairMessage)) error {
	prog, err := capture.PortFilter([]uint16{port}, 65535)
	if err != nil {
		return err
	}
	filter := make([]sock.BPFInstruction, len(prog))
	for i, ins := range prog {
		filter[i] = sock.BPFInstruction(ins)
	}
	var conn *sock.PacketConn
	if err := ns.Do(func() error {
		var err error
		conn, err = sock.ListenPacket(sock.PacketOptions{Interface: dev, Filter: filter})
		return err
	}); err != nil {
		return fmt.Errorf("lab: capture on node %d's %s: %w", at+1, dev, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	wg.Go(func() {
		defer stop()
		defer func() { _ = conn.Close() }()
		dec := capture.NewDecoder(capture.DecoderConfig{Ports: []uint16{port}, MaxBuffer: 32 << 20})
		buf := make([]byte, 65535)
		var recs []capture.Record
		for {
			info, err := conn.ReadPacket(buf)
			if err != nil {
				return // closed: ctx ended
			}
			dir := capture.DirIn
			if info.Type == sock.PacketOutgoing {
				dir = capture.DirOut
			}
			recs = dec.Feed(capture.Packet{Time: info.Time, LinkType: capture.LinkEthernet, Data: buf[:info.N], Length: info.Length, Direction: dir}, recs[:0])
			for _, r := range recs {
				if r.Kind != capture.KindMessage {
					continue
				}
				sent := r.Direction == capture.DirOut
				if peerAddr.IsValid() {
					other := r.Src.Addr()
					if sent {
						other = r.Dst.Addr()
					}
					if other != peerAddr {
						continue
					}
				}
				emit(PairMessage{Time: r.Time, At: at + 1, Sent: sent, Peer: peer + 1, Command: r.Command, Size: r.Size, Source: "capture"})
			}
		}
	})
	return nil
}
