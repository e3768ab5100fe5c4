package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/wallet"
	"github.com/renga-p2p/renga/net/api"
)

// Config is a lab run's settings. Topology, Network, Params, Dir and
// Launcher are required.
type Config struct {
	// Topology is the nodes (Mine says who mines from the start, Threads
	// with how many threads) and links (their conditions are the Network's
	// business; the lab reads them for the lower bounds).
	Topology *Topology
	Network  Network
	Params   *chain.Params // devnet or regtest
	// Dir holds each node's data directory, Dir/node<i+1>, kept between
	// runs.
	Dir      string
	Launcher Launcher

	// Scenario, if not nil, is played from the start; Duration bounds the
	// run (0: the scenario's duration, else until the context ends).
	Scenario *Scenario
	Duration time.Duration
	// TxEvery makes one payment between two random nodes this often (0:
	// none but the scenario's).
	TxEvery time.Duration
	// BlockInterval, when not zero, is the mean time between blocks: the
	// lab picks the moment (exponentially distributed) and the miner (by
	// threads among those mining) and has it mine one block, which on
	// regtest is instant. Zero: every mining node mines back to back with
	// real proof of work, as devnet's difficulty allows.
	BlockInterval time.Duration

	// ReportDir, if set, receives the report: events.jsonl (every event of
	// every node), propagation.jsonl, summary.txt, topology.graphml and the
	// plots.
	ReportDir string
	// Web, if not nil, serves the live web view.
	Web net.Listener

	Out    io.Writer // the live view and the summary
	TTY    bool      // Out is a terminal: the view is redrawn in place
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ErrConfig: a lab configuration that cannot work.
var ErrConfig = errors.New("lab: bad configuration")

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Topology == nil {
		errs = append(errs, fmt.Errorf("%w: no topology", ErrConfig))
	} else if err := c.Topology.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Network == nil {
		errs = append(errs, fmt.Errorf("%w: no network", ErrConfig))
	}
	if c.Params == nil {
		errs = append(errs, fmt.Errorf("%w: no chain parameters", ErrConfig))
	}
	if c.Dir == "" {
		errs = append(errs, fmt.Errorf("%w: no directory", ErrConfig))
	}
	if c.Launcher == nil {
		errs = append(errs, fmt.Errorf("%w: no launcher", ErrConfig))
	}
	if c.Scenario != nil && c.Scenario.NeedsLinks() {
		if _, ok := c.Network.(LinkControl); !ok {
			errs = append(errs, fmt.Errorf("%w: the scenario changes links, which needs a topology in namespaces (--netns --topology)", ErrConfig))
		}
	}
	if c.Duration < 0 || c.TxEvery < 0 || c.BlockInterval < 0 {
		errs = append(errs, fmt.Errorf("%w: negative duration", ErrConfig))
	}
	return errors.Join(errs...)
}

// Lab runs a topology of nodes, plays a scenario on it, and reports.
type Lab struct {
	cfg   Config
	top   *Topology // the topology, with what is measured added
	nodes []*labNode
	links LinkControl // nil when the network's links are fixed
	log   *slog.Logger
	rec   *recorder
	web   *webHub
	wg    sync.WaitGroup // the goroutines Run starts, directly or through the scenario

	mu      sync.Mutex
	started time.Time // the experiment's start, after set-up
	cuts    []cutSpan // links cut over time, for the report's bounds
	heals   []time.Time
	events  []string     // the view's latest lines
	changes []linkChange // link conditions changed by the scenario
}

// linkChange: link Link got conditions Cond at At.
type linkChange struct {
	Link int
	At   time.Time
	Cond Conditions
}

// cutSpan is link Link cut from From (-1 both ways) between Start and End
// (zero while it lasts).
type cutSpan struct {
	Link, From int
	Start, End time.Time
}

// labNode is one node: its spec, process and client.
type labNode struct {
	i    int
	spec NodeSpec
	log  *os.File
	lab  *Lab

	mu       sync.Mutex
	proc     Process
	client   *api.Client
	up       bool // started and not killed
	payee    string
	script   []byte
	wallet   *wallet.Wallet
	coins    []wallet.Coin // spendable coins as the lab last saw them, change included
	mining   context.CancelFunc
	threads  int
	status   nodeStatus
	tip      string
	height   int32
	restarts int
}

// nodeStatus is what the terminal view shows of a node.
type nodeStatus struct {
	ok       bool
	peers    int
	mempool  int
	hashrate float64
	err      string
}

// New checks the configuration.
func New(cfg Config) (*Lab, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	l := &Lab{cfg: cfg, top: cfg.Topology.Clone(), log: cfg.Logger}
	l.links, _ = cfg.Network.(LinkControl)
	for i, n := range l.top.Nodes {
		dir := filepath.Join(cfg.Dir, "node"+strconv.Itoa(i+1))
		threads := max(n.Threads, 1)
		l.nodes = append(l.nodes, &labNode{i: i, lab: l, threads: threads, spec: NodeSpec{
			Index: i, Network: cfg.Params.Name, Dir: dir,
			Listen: cfg.Network.Listen(i), RPC: cfg.Network.RPC(i),
			Connect: cfg.Network.Connect(i), DiscoverIface: cfg.Network.DiscoverIface(),
			Threads: threads,
		}})
	}
	return l, nil
}

// netDir is where the node keeps the network's files (cookie, wallet).
func (n *labNode) netDir() string { return filepath.Join(n.spec.Dir, n.spec.Network) }

// Topology is the lab's topology with what it measured (after Run).
func (l *Lab) Topology() *Topology { return l.top }

// Run starts the nodes, waits for them, measures the links, then plays
// the scenario, mines and pays until the duration is over or ctx ends;
// then it stops the nodes and writes the report. The nodes' data stays in
// Dir.
func (l *Lab) Run(ctx context.Context) (err error) {
	cfg := l.cfg
	if cfg.ReportDir != "" {
		if err := os.MkdirAll(cfg.ReportDir, 0o755); err != nil {
			return err
		}
	}
	rec, err := newRecorder(cfg.ReportDir)
	if err != nil {
		return err
	}
	l.rec = rec
	defer func() { err = errors.Join(err, rec.close()) }()
	l.web = newWebHub(l)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg := &l.wg
	defer wg.Wait()
	defer cancel() // before the wait: every goroutine below ends with runCtx
	for _, n := range l.nodes {
		if err := os.MkdirAll(n.spec.Dir, 0o700); err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(n.spec.Dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		n.log, n.spec.Log = f, f
	}
	defer func() {
		err = errors.Join(err, l.stopNodes())
	}()
	for _, n := range l.nodes {
		if err := n.start(); err != nil {
			return err
		}
	}
	fmt.Fprintf(cfg.Out, "renga devnet: %d nodes %s, network %s; data and logs in %s\n",
		len(l.nodes), cfg.Network.Describe(), cfg.Params.Name, cfg.Dir)
	if cfg.Web != nil {
		wg.Go(func() { l.web.serve(runCtx, cfg.Web) })
		fmt.Fprintf(cfg.Out, "web view: http://%s/\n", cfg.Web.Addr())
	}
	if err := l.waitRPC(runCtx); err != nil {
		return err
	}
	for _, n := range l.nodes {
		wg.Go(func() { n.follow(runCtx) })
	}
	if err := l.readWallets(); err != nil {
		return err
	}
	if l.needsCoins() {
		if err := l.premine(runCtx); err != nil {
			return err
		}
	}
	l.measureLinks(runCtx)

	l.mu.Lock()
	l.started = time.Now()
	l.mu.Unlock()
	l.rec.lab(l.started, LabStart, "", 0)
	end := cfg.Duration
	if end == 0 && cfg.Scenario != nil {
		end = cfg.Scenario.Duration
	}
	expCtx := runCtx
	if end > 0 {
		var cancelExp context.CancelFunc
		expCtx, cancelExp = context.WithTimeout(runCtx, end)
		defer cancelExp()
	}
	for _, n := range l.nodes {
		if l.top.Nodes[n.i].Mine {
			l.startMining(expCtx, n)
		}
	}
	if cfg.BlockInterval > 0 {
		wg.Go(func() { l.scheduledMiner(expCtx) })
	}
	if cfg.Scenario != nil {
		wg.Go(func() { l.play(expCtx, cfg.Scenario) })
	}
	if cfg.TxEvery > 0 {
		wg.Go(func() { l.payEvery(expCtx, cfg.TxEvery) })
	}
	viewErr := l.viewLoop(expCtx)
	l.stopAllMining()
	l.rec.lab(time.Now(), LabStop, "", 0)
	// Blocks still in flight: give the nodes a moment to agree.
	settle, cancelSettle := context.WithTimeout(runCtx, 10*time.Second)
	_ = l.waitConverged(settle)
	cancelSettle()
	l.pollAll(runCtx)
	if cfg.TTY {
		fmt.Fprint(cfg.Out, "\033[H\033[2J")
	}
	fmt.Fprintln(cfg.Out, "renga devnet: final state")
	l.render(cfg.Out)
	fmt.Fprintln(cfg.Out, l.verdict())
	cancel()
	wg.Wait()
	return errors.Join(viewErr, l.writeReport())
}

// start launches the node (again, after a kill).
func (n *labNode) start() error {
	p, err := n.lab.cfg.Launcher.Launch(n.spec, n.lab.cfg.Network)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.proc, n.up, n.client = p, true, nil
	n.mu.Unlock()
	return nil
}

// rpc returns a client for the node, reading its cookie anew after a
// restart.
func (n *labNode) rpc() (*api.Client, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client != nil {
		return n.client, nil
	}
	c, err := api.NewClient(n.spec.RPC, filepath.Join(n.netDir(), ".cookie"))
	if err != nil {
		return nil, err
	}
	c.SetDial(n.lab.cfg.Network.Dialer(n.i))
	n.client = c
	return c, nil
}

// call makes an RPC call within d, forgetting the client on failure (the
// node may have restarted with a new cookie).
func (n *labNode) call(ctx context.Context, d time.Duration, out any, method string, params ...any) error {
	c, err := n.rpc()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err = c.CallInto(ctx, out, method, params...)
	var re *api.RPCError
	if err != nil && !errors.As(err, &re) {
		n.mu.Lock()
		n.client = nil
		n.mu.Unlock()
	}
	return err
}

func (n *labNode) isUp() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

// waitRPC waits until every node answers, or one exits.
func (l *Lab) waitRPC(ctx context.Context) error {
	deadline := time.Now().Add(60*time.Second + time.Duration(len(l.nodes))*500*time.Millisecond)
	for _, n := range l.nodes {
		for {
			var height int32
			if n.call(ctx, 2*time.Second, &height, "getblockcount") == nil {
				break
			}
			n.mu.Lock()
			proc := n.proc
			n.mu.Unlock()
			select {
			case <-proc.Done():
				return fmt.Errorf("lab: node %d exited at start: %v (see %s)", n.i+1, proc.Err(), n.log.Name())
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("lab: node %d's RPC did not answer (see %s)", n.i+1, n.log.Name())
			}
		}
	}
	return nil
}

// readWallets reads each node's wallet (made by the node at start): the
// address its blocks pay and the keys the lab pays with.
func (l *Lab) readWallets() error {
	for _, n := range l.nodes {
		w, err := wallet.Open(filepath.Join(n.netDir(), "wallet.json"), l.cfg.Params)
		if err != nil {
			return fmt.Errorf("lab: node %d's wallet: %w", n.i+1, err)
		}
		if len(w.Keys()) == 0 {
			return fmt.Errorf("lab: node %d's wallet has no key", n.i+1)
		}
		n.mu.Lock()
		n.wallet, n.payee, n.script = w, w.Keys()[0].Address.String(), w.Keys()[0].Script
		n.mu.Unlock()
	}
	return nil
}

// stopNodes asks every running node to stop, waits for them, and kills
// those that take longer than 20 seconds.
func (l *Lab) stopNodes() error {
	for _, n := range l.nodes {
		n.mu.Lock()
		if n.proc != nil {
			n.proc.Stop()
		}
		n.mu.Unlock()
	}
	var errs []error
	deadline := time.After(20 * time.Second)
	for _, n := range l.nodes {
		n.mu.Lock()
		proc := n.proc
		n.mu.Unlock()
		if proc != nil {
			select {
			case <-proc.Done():
			case <-deadline:
				if err := proc.Kill(); err != nil {
					errs = append(errs, fmt.Errorf("lab: node %d did not stop within 20 s: %w", n.i+1, err))
					continue
				}
				<-proc.Done()
				errs = append(errs, fmt.Errorf("lab: node %d did not stop within 20 s; killed", n.i+1))
			}
			if err := proc.Err(); err != nil {
				errs = append(errs, fmt.Errorf("lab: node %d: %v (see %s)", n.i+1, err, n.log.Name()))
			}
		}
		if n.log != nil {
			errs = append(errs, n.log.Close())
		}
	}
	return errors.Join(errs...)
}

// waitConverged waits until every running node reports the same tip.
func (l *Lab) waitConverged(ctx context.Context) error {
	for {
		tips := map[string]bool{}
		for _, n := range l.nodes {
			if !n.isUp() {
				continue
			}
			var tip string
			if err := n.call(ctx, 2*time.Second, &tip, "getbestblockhash"); err != nil {
				tips["?"+strconv.Itoa(n.i)] = true
				continue
			}
			tips[tip] = true
		}
		if len(tips) <= 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: the nodes are on %d tips", len(tips))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// needsCoins: payments are asked for on a network where the lab makes
// the coins (regtest mines instantly).
func (l *Lab) needsCoins() bool {
	want := l.cfg.TxEvery > 0 || (l.cfg.Scenario != nil && l.cfg.Scenario.Payments() > 0)
	return want && l.cfg.Params == chain.Regtest
}

// premine gives every node a spendable coin before the experiment: node 1
// mines a block paying each node, then enough blocks to mature them, and
// the lab waits for everyone to have them. These blocks are set-up, not
// measured.
func (l *Lab) premine(ctx context.Context) error {
	first := l.nodes[0]
	fmt.Fprintf(l.cfg.Out, "set-up: mining %d blocks for the payments' coins\n", len(l.nodes)+int(l.cfg.Params.CoinbaseMaturity))
	for _, n := range l.nodes {
		var hashes []string
		if err := first.call(ctx, time.Minute, &hashes, "generatetoaddress", 1, n.payee); err != nil {
			return fmt.Errorf("lab: set-up: %w", err)
		}
	}
	var hashes []string
	if err := first.call(ctx, 5*time.Minute, &hashes, "generatetoaddress", int(l.cfg.Params.CoinbaseMaturity), first.payee); err != nil {
		return fmt.Errorf("lab: set-up: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := l.waitConverged(wctx); err != nil {
		return fmt.Errorf("lab: set-up: %w", err)
	}
	return nil
}

// measureLinks times each link's round trip and notes it in the topology.
func (l *Lab) measureLinks(ctx context.Context) {
	if l.links == nil {
		return
	}
	for k := range l.top.Links {
		applied := l.links.Applied(k)
		l.top.SetLinkAttr(k, "applied", applied.String())
		rtt, err := l.links.RTT(ctx, k)
		if err != nil {
			l.log.Warn("link round trip", "link", k, "err", err)
			continue
		}
		l.top.SetLinkAttr(k, "rtt_ms", strconv.FormatFloat(float64(rtt)/1e6, 'f', 3, 64))
	}
}

// event adds a line to the view's latest.
func (l *Lab) event(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, time.Now().Format("15:04:05")+"  "+s)
	if len(l.events) > 8 {
		l.events = l.events[len(l.events)-8:]
	}
}
