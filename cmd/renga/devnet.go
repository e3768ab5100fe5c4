package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/wallet"
	"github.com/renga-p2p/renga/net/api"
	"github.com/renga-p2p/renga/net/node"
)

// devnetOptions are the settings of `renga devnet`.
type devnetOptions struct {
	nodes    int
	miners   int
	threads  int
	dir      string
	basePort int
	txEvery  time.Duration
	duration time.Duration
	fresh    bool
	netns    bool
	inProc   bool // nodes as goroutines of this process, not processes
	compress bool
	extra    []string // more flags for every node
}

func runDevnet(ctx context.Context, args []string, io stdio) error {
	fs := newFlags(io, "devnet", "[flags]",
		"Start N devnet nodes on this machine, each a `renga node` process with its own data\n"+
			"directory (DIR/nodeI) and log (DIR/nodeI/node.log). They find each other by multicast on\n"+
			"the loopback interface (or, as root with --netns, each in its own network namespace on a\n"+
			"bridge), the first --miners of them mine, and every --tx-every one node pays another from\n"+
			"its wallet. A live view shows each node's height, tip, peers, mempool and hashrate until\n"+
			"Ctrl-C (or --duration), which stops the nodes; their chains stay in DIR for the next run.\n"+
			"Nothing is sent beyond this machine: discovery is bound to lo with IP_MULTICAST_IF.",
		"  renga devnet -n 4\n"+
			"  renga devnet -n 8 --miners 3 --netns --fresh\n"+
			"  renga cli --datadir ~/.renga/devnet-nodes/node1 --rpc 127.0.0.1:38334 getpeerinfo")
	var o devnetOptions
	fs.IntVar(&o.nodes, "n", 4, "number of nodes")
	fs.IntVar(&o.miners, "miners", 2, "how many of the nodes mine")
	fs.IntVar(&o.threads, "threads", 1, "mining threads per miner")
	fs.StringVar(&o.dir, "dir", filepath.Join(defaultDataDir(), "devnet-nodes"), "the nodes' data directories go in `DIR`")
	fs.IntVar(&o.basePort, "base-port", 38333, "node I listens on PORT+2(I-1) and serves RPC on the next port")
	fs.DurationVar(&o.txEvery, "tx-every", 5*time.Second, "make a payment between two nodes this often (0: never)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: at Ctrl-C)")
	fs.BoolVar(&o.fresh, "fresh", false, "delete DIR first: start from the genesis block")
	fs.BoolVar(&o.netns, "netns", false, "each node in its own network namespace on a bridge (root, Linux)")
	fs.BoolVar(&o.inProc, "in-process", false, "run the nodes inside this process (net/node), not as processes; on loopback only")
	fs.BoolVar(&o.compress, "compress", defaultCompress, "nodes offer cmpr link compression")
	var extra listFlag
	fs.Var(&extra, "node-flag", "pass `FLAG` to every node, e.g. --node-flag=--log-level=debug (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.extra = extra
	switch {
	case fs.NArg() != 0:
		return fmt.Errorf("%w: devnet takes no arguments, got %q", errUsage, fs.Arg(0))
	case o.nodes < 1 || o.nodes > 64:
		return fmt.Errorf("%w: -n must be 1 to 64", errUsage)
	case o.miners < 0 || o.miners > o.nodes:
		return fmt.Errorf("%w: --miners must be 0 to -n", errUsage)
	case o.basePort < 1024 || o.basePort+2*o.nodes > 65535:
		return fmt.Errorf("%w: --base-port out of range", errUsage)
	case o.inProc && o.netns:
		return fmt.Errorf("%w: --in-process runs on loopback: it cannot be combined with --netns", errUsage)
	}
	if o.fresh {
		if err := os.RemoveAll(o.dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	d := &devnet{opts: o, io: io, started: time.Now(), tty: isTerminal(io.out)}
	return d.run(ctx)
}

// devnet runs the nodes and the view.
type devnet struct {
	opts    devnetOptions
	io      stdio
	nodes   []*devnetNode
	net     devnetNetwork
	started time.Time
	tty     bool
	events  []string        // the latest, newest last
	seen    map[string]bool // tips already reported
}

// devnetNode is one node: a process, or a net/node.Node in this process.
type devnetNode struct {
	index    int // from 1
	dir      string
	p2p, rpc string
	miner    bool
	pid      int
	stop     func() // asks it to stop
	kill     func() // ends it at once (nil in-process: stop is all there is)
	log      *os.File
	exited   chan struct{}
	exitErr  error
	client   *api.Client
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	last     nodeStatus
	payee    string // the address its miner pays (its wallet's first key), once read
}

// nodeStatus is what the view shows of a node.
type nodeStatus struct {
	ok       bool
	height   int32
	tip      string
	peers    int
	mempool  int
	hashrate float64
	err      string
}

// devnetNetwork places the nodes: on loopback, or each in a namespace.
type devnetNetwork interface {
	// address is the IP node i listens on.
	address(i int) string
	// start starts the node's process, placed in its network.
	start(i int, cmd *exec.Cmd) error
	// dialer dials the node's RPC from this process.
	dialer(i int) func(ctx context.Context, network, addr string) (net.Conn, error)
	// discoverIface is the interface the nodes multicast on.
	discoverIface() string
	close() error
}

func (d *devnet) run(ctx context.Context) (err error) {
	o := d.opts
	if o.netns {
		d.net, err = newNamespaceNetwork(o.nodes)
	} else {
		d.net = loopbackNetwork{}
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.net.close()) }()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	for i := 1; i <= o.nodes; i++ {
		n := &devnetNode{index: i, dir: filepath.Join(o.dir, fmt.Sprintf("node%d", i)), miner: i <= o.miners,
			exited: make(chan struct{})}
		n.p2p = net.JoinHostPort(d.net.address(i), strconv.Itoa(o.basePort+2*(i-1)))
		n.rpc = "127.0.0.1:" + strconv.Itoa(o.basePort+2*(i-1)+1)
		n.dial = d.net.dialer(i)
		if err := os.MkdirAll(n.dir, 0o700); err != nil {
			return err
		}
		if err := d.startNode(ctx, exe, n); err != nil {
			return errors.Join(err, d.stopNodes())
		}
		d.nodes = append(d.nodes, n)
	}
	where := "on loopback (discovery on lo)"
	if o.netns {
		where = "each in its own network namespace on a bridge"
	}
	fmt.Fprintf(d.io.out, "renga devnet: %d nodes %s, %d mining; data and logs in %s\n", o.nodes, where, o.miners, o.dir)
	if !o.netns {
		fmt.Fprintf(d.io.out, "watch the traffic (as root): renga capture -i lo --port %s\n", d.capturePorts())
	}
	if !d.tty {
		fmt.Fprintln(d.io.out, "(not a terminal: the view is printed every 5 seconds)")
	}

	runCtx := ctx
	if o.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	d.loop(runCtx)
	if d.tty {
		fmt.Fprint(d.io.out, "\033[H\033[2J")
	}
	d.poll(context.Background())
	fmt.Fprintln(d.io.out, "renga devnet: final state")
	d.render(d.io.out)
	stopErr := d.stopNodes()
	fmt.Fprintln(d.io.out, d.verdict())
	return stopErr
}

// capturePorts lists the discovery port and the nodes' P2P ports, for
// renga capture's --port.
func (d *devnet) capturePorts() string {
	ports := []string{strconv.Itoa(int(chain.Devnet.DiscoveryPort))}
	for i := range d.opts.nodes {
		ports = append(ports, strconv.Itoa(d.opts.basePort+2*i))
	}
	return strings.Join(ports, ",")
}

// startNode starts node n's process with its flags and log file.
func (d *devnet) startNode(ctx context.Context, exe string, n *devnetNode) error {
	args := []string{"node", "--network", "devnet", "--datadir", n.dir, "--listen", n.p2p, "--rpc", n.rpc,
		"--discover", "--discover-iface", d.net.discoverIface(), "--log-format", "json",
		"--compress=" + strconv.FormatBool(d.opts.compress)}
	if n.miner {
		args = append(args, "--mine", "--threads", strconv.Itoa(d.opts.threads))
	}
	args = append(args, d.opts.extra...)
	logFile, err := os.OpenFile(filepath.Join(n.dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	n.log = logFile
	if d.opts.inProc {
		return d.startInProcess(ctx, n, args[1:])
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = nodeProcAttr()
	if err := d.net.start(n.index, cmd); err != nil {
		return errors.Join(fmt.Errorf("devnet: start node %d: %w", n.index, err), logFile.Close())
	}
	n.pid = cmd.Process.Pid
	n.stop = func() { _ = cmd.Process.Signal(syscall.SIGTERM) } // an exited process cannot be signalled: fine
	n.kill = func() { _ = cmd.Process.Kill() }
	go func() {
		var ee *exec.ExitError
		if err := cmd.Wait(); err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 0) {
			n.exitErr = err
		}
		close(n.exited)
	}()
	return nil
}

// startInProcess runs node n in this process from the same flags a node
// process would get, through the same node.Config.
func (d *devnet) startInProcess(ctx context.Context, n *devnetNode, args []string) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := registerNodeFlags(fs)
	if err := f.parse(args); err != nil {
		return errors.Join(fmt.Errorf("devnet: node %d: %w", n.index, err), n.log.Close())
	}
	cfg, err := f.nodeConfig()
	if err != nil {
		return errors.Join(fmt.Errorf("devnet: node %d: %w", n.index, err), n.log.Close())
	}
	if cfg.Logger, err = newNodeLogger(n.log, f.logFormat, f.logLevel); err != nil {
		return errors.Join(err, n.log.Close())
	}
	nd, err := node.New(cfg)
	if err != nil {
		return errors.Join(fmt.Errorf("devnet: node %d: %w", n.index, err), n.log.Close())
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.pid, n.stop = os.Getpid(), cancel
	go func() {
		if err := nd.Run(runCtx); err != nil && !errors.Is(err, node.ErrStopRequested) {
			n.exitErr = err
		}
		close(n.exited)
	}()
	return nil
}

// stopNodes asks every node to stop (SIGTERM), waits for them, and kills
// those that take longer than 20 seconds.
func (d *devnet) stopNodes() error {
	for _, n := range d.nodes {
		n.stop()
	}
	var errs []error
	deadline := time.After(20 * time.Second)
	for _, n := range d.nodes {
		select {
		case <-n.exited:
		case <-deadline:
			if n.kill == nil {
				errs = append(errs, fmt.Errorf("devnet: in-process node %d did not stop within 20 s", n.index))
				continue
			}
			n.kill()
			<-n.exited
			errs = append(errs, fmt.Errorf("devnet: node %d did not stop within 20 s; killed", n.index))
		}
		if n.exitErr != nil {
			errs = append(errs, fmt.Errorf("devnet: node %d: %v (see %s)", n.index, n.exitErr, n.log.Name()))
		}
		errs = append(errs, n.log.Close())
	}
	return errors.Join(errs...)
}

// loop polls the nodes every second, redraws the view, and makes payments,
// until ctx ends or a node dies.
func (d *devnet) loop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastPay, lastPrint time.Time
	for {
		d.poll(ctx)
		for _, n := range d.nodes {
			select {
			case <-n.exited:
				d.event(fmt.Sprintf("node %d exited: %v (see %s)", n.index, n.exitErr, n.log.Name()))
				d.draw()
				return
			default:
			}
		}
		if d.opts.txEvery > 0 && time.Since(lastPay) >= d.opts.txEvery {
			lastPay = time.Now()
			d.pay(ctx)
		}
		if d.tty || time.Since(lastPrint) >= 5*time.Second {
			lastPrint = time.Now()
			d.draw()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll asks each node for its status, and reports each tip the first time
// a node shows it.
func (d *devnet) poll(ctx context.Context) {
	if d.seen == nil || len(d.seen) > 10_000 {
		d.seen = map[string]bool{}
	}
	for _, n := range d.nodes {
		n.last = d.status(ctx, n)
		if s := n.last; s.ok && !d.seen[s.tip] {
			d.seen[s.tip] = true
			if s.height > 0 {
				d.event(fmt.Sprintf("height %d: block %s %s", s.height, short(s.tip), d.minedBy(ctx, n, s.tip)))
			}
		}
	}
}

func (d *devnet) status(ctx context.Context, n *devnetNode) nodeStatus {
	if n.client == nil {
		c, err := api.NewClient(n.rpc, filepath.Join(n.dir, "devnet", ".cookie"))
		if err != nil {
			return nodeStatus{err: "starting"}
		}
		c.SetDial(n.dial)
		n.client = c
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var s nodeStatus
	var mining struct {
		Blocks   int32   `json:"blocks"`
		Hashrate float64 `json:"hashespersec"`
		Pooled   int     `json:"pooledtx"`
	}
	err := errors.Join(
		n.client.CallInto(ctx, &mining, "getmininginfo"),
		n.client.CallInto(ctx, &s.tip, "getbestblockhash"),
		n.client.CallInto(ctx, &s.peers, "getconnectioncount"),
	)
	if err != nil {
		n.client = nil // the cookie changes when a node restarts
		return nodeStatus{err: "no answer"}
	}
	s.ok, s.height, s.mempool, s.hashrate = true, mining.Blocks, mining.Pooled, mining.Hashrate
	return s
}

// minedBy says which node mined a block, from the address its coinbase
// pays: each node's miner pays its wallet's first key.
func (d *devnet) minedBy(ctx context.Context, n *devnetNode, hash string) string {
	var block struct {
		Tx []struct {
			Vout []struct {
				ScriptPubKey struct {
					Address string `json:"address"`
				} `json:"scriptPubKey"`
			} `json:"vout"`
		} `json:"tx"`
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if n.client == nil || n.client.CallInto(ctx, &block, "getblock", hash, 2) != nil || len(block.Tx) == 0 || len(block.Tx[0].Vout) == 0 {
		return "(miner unknown)"
	}
	payee := block.Tx[0].Vout[0].ScriptPubKey.Address
	for _, m := range d.nodes {
		if m.payee == "" {
			if w, err := wallet.Open(filepath.Join(m.dir, "devnet", "wallet.json"), chain.Devnet); err == nil && len(w.Keys()) > 0 {
				m.payee = w.Keys()[0].Address.String()
			}
		}
		if m.payee != "" && m.payee == payee {
			return fmt.Sprintf("mined by node %d", m.index)
		}
	}
	return "mined elsewhere"
}

// pay makes one payment from a random node with spendable coins to another.
func (d *devnet) pay(ctx context.Context) {
	if len(d.nodes) < 2 {
		return
	}
	order := rand.Perm(len(d.nodes))
	for _, i := range order {
		from := d.nodes[i]
		to := d.nodes[(i+1+rand.IntN(len(d.nodes)-1))%len(d.nodes)]
		if from.client == nil || to.client == nil {
			continue
		}
		w, err := wallet.Open(filepath.Join(from.dir, "devnet", "wallet.json"), chain.Devnet)
		if err != nil {
			continue
		}
		tw, err := wallet.Open(filepath.Join(to.dir, "devnet", "wallet.json"), chain.Devnet)
		if err != nil {
			continue
		}
		coins, err := walletCoins(ctx, from.client, w, chain.Devnet)
		if err != nil || len(coins.spendable()) == 0 {
			continue
		}
		amount := int64(1+rand.IntN(100)) * chain.Coin / 100
		p, err := w.Pay(coins.spendable(), tw.Keys()[0].Script, amount, defaultFeeRate)
		if err != nil {
			continue
		}
		raw, err := p.Tx.AppendBinary(nil)
		if err != nil {
			continue
		}
		var txid string
		if err := from.client.CallInto(ctx, &txid, "sendrawtransaction", fmt.Sprintf("%x", raw)); err != nil {
			d.event(fmt.Sprintf("node %d could not pay node %d: %v", from.index, to.index, err))
			return
		}
		d.event(fmt.Sprintf("node %d paid node %d %s coins: tx %s", from.index, to.index, chain.Amount(amount), short(txid)))
		return
	}
}

func (d *devnet) event(s string) {
	d.events = append(d.events, time.Now().Format("15:04:05")+"  "+s)
	if len(d.events) > 6 {
		d.events = d.events[len(d.events)-6:]
	}
}

// draw shows the view: redrawn in place on a terminal, else printed.
func (d *devnet) draw() {
	var b strings.Builder
	if d.tty {
		b.WriteString("\033[H\033[2J")
	}
	fmt.Fprintf(&b, "renga devnet  %d nodes  up %s  %s\n\n", len(d.nodes), time.Since(d.started).Round(time.Second), d.opts.dir)
	d.render(&b)
	if len(d.events) > 0 {
		b.WriteString("\n")
		for _, e := range d.events {
			b.WriteString(e + "\n")
		}
	}
	if d.tty {
		b.WriteString("\nCtrl-C stops the nodes.\n")
	} else {
		b.WriteString("\n")
	}
	_, _ = io.WriteString(d.io.out, b.String()) // the terminal or a pipe; nothing to do on failure
}

// render writes the table of nodes.
func (d *devnet) render(w io.Writer) {
	fmt.Fprintf(w, "%-5s %-8s %-21s %7s  %-18s %5s %8s %12s\n", "node", "pid", "p2p", "height", "tip", "peers", "mempool", "hashrate")
	for _, n := range d.nodes {
		s := n.last
		pid := n.pid // this process's own for an in-process node
		name := strconv.Itoa(n.index)
		if n.miner {
			name += "*"
		}
		if !s.ok {
			fmt.Fprintf(w, "%-5s %-8d %-21s %7s  %-18s\n", name, pid, n.p2p, "-", s.err)
			continue
		}
		rate := "-"
		if n.miner {
			rate = fmt.Sprintf("%.2f MH/s", s.hashrate/1e6)
		}
		fmt.Fprintf(w, "%-5s %-8d %-21s %7d  %-18s %5d %5d tx %12s\n", name, pid, n.p2p, s.height, short(s.tip), s.peers, s.mempool, rate)
	}
	fmt.Fprintln(w, "(* mines)")
}

// verdict sums up the final state: one tip or several.
func (d *devnet) verdict() string {
	tips := map[string][]int{}
	height := int32(0)
	for _, n := range d.nodes {
		if n.last.ok {
			tips[n.last.tip] = append(tips[n.last.tip], n.index)
			height = max(height, n.last.height)
		}
	}
	switch len(tips) {
	case 0:
		return "renga devnet: no node answered"
	case 1:
		for tip, nodes := range tips {
			return fmt.Sprintf("renga devnet: all %d answering nodes agree: height %d, tip %s", len(nodes), height, tip)
		}
	}
	var parts []string
	for tip, nodes := range tips {
		parts = append(parts, fmt.Sprintf("%s on nodes %v", short(tip), nodes))
	}
	return "renga devnet: the nodes were on different tips when stopped (blocks in flight): " + strings.Join(parts, "; ")
}

// short abbreviates a hash for the view.
func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// loopbackNetwork runs every node on 127.0.0.1 of this host, with discovery on lo.
type loopbackNetwork struct{}

func (loopbackNetwork) address(int) string               { return "127.0.0.1" }
func (loopbackNetwork) start(_ int, cmd *exec.Cmd) error { return cmd.Start() }
func (loopbackNetwork) discoverIface() string            { return "lo" }
func (loopbackNetwork) close() error                     { return nil }
func (loopbackNetwork) dialer(int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext
}
