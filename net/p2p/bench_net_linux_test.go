package p2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/net/sock/netns"
	"github.com/renga-p2p/renga/wire"
)

// BenchmarkSyncLimited measures parallel download where it matters: a fresh
// node syncs a chain from 1 peer and then from 4 peers (in the same
// iteration, so the ratio is measured under the same conditions), each peer
// behind an uplink limited to the same rate, as peers on a real network are.
// A third sync, from 1 peer with link compression on both sides behind the
// same uplink, shows what compression does where bandwidth is short.
//
// The network exists only inside private network namespaces the benchmark
// makes (design.md §6, "Network safety"): the benchmark re-runs itself in a
// child process in a new namespace, where the fresh node lives on a bridge,
// and puts each serving peer in a namespace of its own joined to the bridge
// by a veth pair, with a tbf qdisc on its eth0 limiting what it sends (the
// peer's uplink; the fresh node's own link is not limited). The peers run in
// the child process, each listening inside its namespace; they serve one
// copy of the chain. It needs root (or unprivileged user namespaces), the ip
// and tc commands, and the veth, bridge and tbf kernel modules; it is
// skipped otherwise.
//
// Rates: 20 Mbit/s, a common uplink of a home or small-office line and a
// plausible per-peer share of a WAN path, and 5 Mbit/s, a slow uplink (ADSL,
// a busy LAN segment). The kernel here has no netem, so the links add no
// latency: the in-flight limit (16 blocks a peer) never binds, though with a
// real RTT it would (see below).
//
// Chains: tx5000 (syncChain: 5,000 tiny blocks, 2.7 MB on the wire) and
// p2pkh (p2pkhChain: 40 blocks of 1,000 P2PKH payments, 10 MB).
//
// Reported per iteration, for each sync (1peer, 4peer, 1peer-cmpr): seconds
// and blocks/s, the throughput on the fresh node's wire (Mbit/s, every byte
// it received), the process's CPU use as a share of all cores (cpu-util: the
// fresh node's validation plus the peers' serving, all in one process), the
// stalls the fresh node declared and the blocks it received twice; and
// speedup (1-peer time over 4-peer time) and cmpr-speedup (1-peer time
// without compression over with).
//
//	go test ./net/p2p -run '^$' -bench SyncLimited -benchtime 1x -count 5
//
// To profile one case, run it inside a namespace by hand (RENGA_NSBENCH
// names the benchmark to run as the inside one):
//
//	go test -c -o /tmp/p2p.test ./net/p2p
//	RENGA_NSBENCH=BenchmarkSyncLimited/chain=tx5000/rate=20Mbit unshare -n \
//	    /tmp/p2p.test -test.run '^$' -test.bench 'SyncLimited/chain=tx5000/rate=20Mbit' \
//	    -test.benchtime 1x -test.cpuprofile /tmp/cpu.out
//
// Results are in the README's measurements; the links add no latency, so
// the in-flight limit (16 blocks a peer) never binds here.
func BenchmarkSyncLimited(b *testing.B) {
	for _, c := range benchChains {
		b.Run("chain="+c.name, func(b *testing.B) {
			for _, mbit := range []int{20, 5} {
				b.Run(fmt.Sprintf("rate=%dMbit", mbit), func(b *testing.B) {
					blocks, inside := enterNamespace(b, c.blocks)
					if inside {
						benchLimitedSync(b, blocks, mbit)
					}
				})
			}
		})
	}
}

// Limits of the limited network.
const (
	limitedPeers = 4
	tbfBurst     = "32kb" // ≥ rate/HZ up to 64 Mbit/s at HZ 250: the rate holds
	tbfLatency   = "50ms" // queue of rate × 50 ms, a modem's or a switch's buffer
)

// limitedCost is what one sync cost.
type limitedCost struct {
	wall, cpu time.Duration
	recv      uint64 // bytes the fresh node read from its peers
	stalls    uint64 // peers found stalling the download
	extra     uint64 // blocks received more than once
}

func benchLimitedSync(b *testing.B, blocks []*wire.Block, mbit int) {
	listen, nss := limitedLAN(b, limitedPeers, mbit)
	src := chainOf(b, blocks) // one copy of the chain, served by every peer
	var servers []*Server
	var addrs []string
	for i, ns := range nss {
		s := serveIn(b, ns, src, listen[i], false)
		servers = append(servers, s)
		addrs = append(addrs, s.ListenAddr().String())
	}
	// Another server behind the first peer's uplink, with compression.
	cmpr := serveIn(b, nss[0], src, listen[0], true)

	var one, four, oneCmpr limitedCost
	b.ResetTimer()
	for b.Loop() {
		one.add(limitedSync(b, blocks, addrs[:1], servers[:1], false))
		four.add(limitedSync(b, blocks, addrs, servers, false))
		oneCmpr.add(limitedSync(b, blocks, []string{cmpr.ListenAddr().String()}, []*Server{cmpr}, true))
	}
	n := float64(b.N)
	procs := float64(runtime.GOMAXPROCS(0))
	for _, r := range []struct {
		name string
		c    limitedCost
	}{{"1peer", one}, {"4peer", four}, {"1peer-cmpr", oneCmpr}} {
		b.ReportMetric(r.c.wall.Seconds()/n, r.name+"-s")
		b.ReportMetric(float64(len(blocks))*n/r.c.wall.Seconds(), r.name+"-blocks/s")
		b.ReportMetric(float64(r.c.recv)*8/r.c.wall.Seconds()/1e6, r.name+"-Mbit/s")
		b.ReportMetric(r.c.cpu.Seconds()/r.c.wall.Seconds()/procs, r.name+"-cpu-util")
		b.ReportMetric(float64(r.c.stalls)/n, r.name+"-stalls")
		b.ReportMetric(float64(r.c.extra)/n, r.name+"-dup-blocks")
	}
	b.ReportMetric(one.wall.Seconds()/four.wall.Seconds(), "speedup")
	b.ReportMetric(one.wall.Seconds()/oneCmpr.wall.Seconds(), "cmpr-speedup")
}

func (c *limitedCost) add(o limitedCost) {
	c.wall += o.wall
	c.cpu += o.cpu
	c.recv += o.recv
	c.stalls += o.stalls
	c.extra += o.extra
}

// limitedSync syncs a fresh node from servers, at addrs, and returns what
// that cost.
func limitedSync(b *testing.B, blocks []*wire.Block, addrs []string, servers []*Server, compress bool) limitedCost {
	b.Helper()
	h := chaintest.New(b, chain.Regtest)
	served := make([]uint64, len(servers))
	for i, s := range servers {
		served[i] = s.Stats().BlocksServed
	}
	cpu0, start := processCPU(b), time.Now()
	fresh := startNode(b, h, func(c *Config) {
		c.Connect = addrs
		c.Compression = compress
	})
	fresh.waitTip(blocks[len(blocks)-1].Hash())
	cost := limitedCost{wall: time.Since(start), cpu: processCPU(b) - cpu0}
	for _, p := range fresh.srv.Peers() {
		cost.recv += p.Stats.BytesRecv
		if p.Stats.Compressing != compress {
			b.Fatalf("compression negotiated with %v: %v, want %v", p.Addr, p.Stats.Compressing, compress)
		}
	}
	for i, s := range servers {
		served[i] = s.Stats().BlocksServed - served[i]
	}
	st := fresh.srv.Stats()
	cost.stalls = st.Stalls
	cost.extra = st.BlocksReceived - uint64(len(blocks))
	fresh.stop()
	b.Logf("%d peers (compression %v): %v, %d stalls, %d blocks received twice; blocks served by each: %v",
		len(addrs), compress, cost.wall, st.Stalls, cost.extra, served)
	return cost
}

// serveIn runs a server for h's chain listening on addr inside ns, with
// compression or not. The listening socket is made in the namespace, and
// stays there.
func serveIn(b *testing.B, ns *netns.Namespace, h *chaintest.Harness, addr string, compress bool) *Server {
	b.Helper()
	srv, err := New(Config{Chain: h.Chain, Listen: addr, Compression: compress})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = ns.Do(func() error { return srv.Run(ctx) }) })
	b.Cleanup(func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			b.Errorf("server on %s: %v", addr, runErr)
		}
	})
	select {
	case <-srv.Started():
	case <-time.After(10 * time.Second):
		b.Fatalf("server on %s did not start", addr)
	}
	return srv
}

// limitedLAN builds, inside the benchmark's own private namespace, a bridge
// that the fresh node (this namespace) is on and peers namespaces each joined
// to it by a veth pair, their eth0 sending at most mbit Mbit/s. It returns
// the peers' listening addresses and their namespaces.
func limitedLAN(b *testing.B, peers, mbit int) ([]string, []*netns.Namespace) {
	b.Helper()
	// Refuse to touch interfaces anywhere but in a new namespace, which
	// has nothing but its loopback interface.
	ifs, err := net.Interfaces()
	if err != nil {
		b.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" {
		b.Fatalf("not in a new network namespace (interfaces %v): refusing to change them", ifs)
	}
	ip := func(args ...string) {
		b.Helper()
		if err := netns.IP(args...); err != nil {
			b.Fatal(err)
		}
	}
	ip("link", "set", "lo", "up")
	if err := netns.IP("link", "add", "rbr0", "type", "bridge"); err != nil {
		b.Skipf("cannot make a bridge: %v", err)
	}
	ip("addr", "add", "10.83.0.1/24", "dev", "rbr0")
	ip("link", "set", "rbr0", "up")
	var addrs []string
	var nss []*netns.Namespace
	for i := range peers {
		ns, err := netns.New()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = ns.Close() })
		veth := fmt.Sprintf("rbv%d", i)
		if err := netns.IP("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns.Path()); err != nil {
			b.Skipf("cannot make a veth pair: %v", err)
		}
		ip("link", "set", veth, "master", "rbr0", "up")
		addr := fmt.Sprintf("10.83.0.%d", 10+i)
		for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", addr + "/24", "dev", "eth0"}, {"link", "set", "eth0", "up"}} {
			if err := ns.IP(args...); err != nil {
				b.Fatal(err)
			}
		}
		tc := []string{"qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", fmt.Sprintf("%dmbit", mbit),
			"burst", tbfBurst, "latency", tbfLatency}
		if err := ns.Do(func() error {
			if out, err := exec.Command("tc", tc...).CombinedOutput(); err != nil {
				return fmt.Errorf("tc %s: %w: %s", strings.Join(tc, " "), err, bytes.TrimSpace(out))
			}
			return nil
		}); err != nil {
			b.Skipf("cannot limit a link's rate: %v", err)
		}
		addrs = append(addrs, net.JoinHostPort(addr, "0"))
		nss = append(nss, ns)
	}
	return addrs, nss
}

// The environment of a benchmark re-run in a namespace of its own.
const (
	envNSBench  = "RENGA_NSBENCH"        // the benchmark this process runs as the inside one
	envNSBlocks = "RENGA_NSBENCH_BLOCKS" // a file of the chain's blocks (writeBlocks)
	maxNSBench  = 30 * time.Minute       // bound on the child process
)

// enterNamespace is nstest.Enter for a benchmark. Outside, it builds the
// chain, writes it to a file, re-runs this benchmark (b.N iterations) in a
// child process of the test binary placed in a new network namespace, reports
// the child's metrics as the benchmark's own and returns false. Inside, it
// returns the chain and true: the benchmark goes on, alone in a namespace
// whose only interface is a loopback interface, down.
func enterNamespace(b *testing.B, blocks func(testing.TB) []*wire.Block) ([]*wire.Block, bool) {
	b.Helper()
	if os.Getenv(envNSBench) == b.Name() {
		if path := os.Getenv(envNSBlocks); path != "" {
			return readBlocks(b, path), true
		}
		return blocks(b), true
	}
	for _, cmd := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(cmd); err != nil {
			b.Skipf("the %s command is missing (Debian package iproute2)", cmd)
		}
	}
	path := filepath.Join(b.TempDir(), "blocks")
	writeBlocks(b, path, blocks(b))

	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.Context(), maxNSBench)
	defer cancel()
	args := []string{"-test.run=^$", "-test.bench=" + anchored(b.Name()), "-test.count=1",
		"-test.benchtime=" + strconv.Itoa(b.N) + "x", "-test.timeout=" + maxNSBench.String()}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), envNSBench+"="+b.Name(), envNSBlocks+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Pdeathsig fires when the thread that started the child exits: keep
	// this one until the child is done.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EINVAL) {
			b.Skipf("cannot create a network namespace: %v (run as root, or allow unprivileged user namespaces)", err)
		}
		b.Fatal(err)
	}
	err = cmd.Wait()
	b.StopTimer()
	if err != nil {
		b.Fatalf("in its network namespace: %v\n%s", err, out.String())
	}
	if testing.Verbose() {
		b.Logf("in its network namespace:\n%s", out.String())
	}
	line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(b.Name()) + `(?:-\d+)?\s+\d+\s+(.*)$`).FindStringSubmatch(out.String())
	if line == nil {
		b.Skipf("no result in its network namespace:\n%s", out.String())
	}
	f := strings.Fields(line[1])
	for i := 0; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			b.Fatalf("result %q: %v", line[0], err)
		}
		b.ReportMetric(v, f[i+1])
	}
	return nil, false
}

// anchored is a -test.bench pattern matching exactly the benchmark named name.
func anchored(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// writeBlocks writes blocks to a file, each as its length (uint32, little
// endian) and its bytes.
func writeBlocks(b *testing.B, path string, blocks []*wire.Block) {
	b.Helper()
	var buf []byte
	for _, blk := range blocks {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(blk.SerializeSize()))
		var err error
		if buf, err = blk.AppendBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		b.Fatal(err)
	}
}

// readBlocks reads what writeBlocks wrote.
func readBlocks(b *testing.B, path string) []*wire.Block {
	b.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var blocks []*wire.Block
	for len(buf) > 0 {
		if len(buf) < 4 || int(binary.LittleEndian.Uint32(buf)) > len(buf)-4 {
			b.Fatalf("%s: truncated after %d blocks", path, len(blocks))
		}
		n := int(binary.LittleEndian.Uint32(buf))
		blk := new(wire.Block)
		if err := blk.Decode(buf[4 : 4+n]); err != nil {
			b.Fatalf("%s: block %d: %v", path, len(blocks), err)
		}
		blocks = append(blocks, blk)
		buf = buf[4+n:]
	}
	return blocks
}
