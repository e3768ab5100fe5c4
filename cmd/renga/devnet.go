package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/net/lab"
	"github.com/renga-p2p/renga/net/node"
)

// devnetOptions are the settings of `renga devnet`.
type devnetOptions struct {
	nodes         int
	miners        int
	threads       int
	dir           string
	basePort      int
	txEvery       time.Duration
	duration      time.Duration
	fresh         bool
	netns         bool
	lan           bool
	inProc        bool // nodes as goroutines of this process, not processes
	compress      bool
	network       string
	topology      string
	seed          uint64
	cond          lab.Conditions
	scenario      string
	report        string
	web           string
	webRemote     bool
	blockInterval time.Duration
	extra         []string // more flags for every node
}

func runDevnet(ctx context.Context, args []string, io stdio) (err error) {
	fs := newFlags(io, "devnet", "[flags]",
		"Start N nodes on this machine, each a `renga node` process with its own data directory\n"+
			"(DIR/nodeI) and log (DIR/nodeI/node.log), and study how they behave together.\n\n"+
			"Where they run: on loopback, finding each other by multicast on lo (the default); with\n"+
			"--netns (root, Linux) each in a network namespace of its own, either on one bridge with\n"+
			"discovery (--lan, the default) or joined by a TOPOLOGY (--topology): every link its own\n"+
			"veth pair, with its own delay, jitter, loss and rate through the kernel's tc (netem; where\n"+
			"the kernel has none, tbf for a rate and nftables for loss), nodes connecting along the links.\n"+
			"A topology is a generator ("+lab.Generators+", drawn from\n"+
			"--seed) or a GraphML file (node attributes mine, threads; edge attributes delay, jitter,\n"+
			"loss, rate), and works on loopback too, without link conditions.\n\n"+
			"The first --miners nodes mine (or those a GraphML file marks), through each node's own miner\n"+
			"over RPC; --block-interval paces blocks (instant on regtest). A --scenario file (TOML) plays\n"+
			"timed events: partitions, heals, kills and restarts, link changes, mining on and off,\n"+
			"payments. At the end (--duration, the scenario's end, or Ctrl-C) the nodes stop, their chains\n"+
			"stay in DIR, and a propagation report is printed and written to --report: every block and\n"+
			"payment's arrival at every node against the topology's lower bound, convergence after heals\n"+
			"and restarts, reorganizations, as JSON lines, tables, GraphML and plots (PNG and SVG).\n"+
			"--web serves a live view of it all on loopback. Nothing leaves this machine.",
		"  renga devnet -n 4\n"+
			"  renga devnet --netns --lan -n 8 --miners 3 --fresh\n"+
			"  renga devnet --netns --topology random:degree=4 -n 16 --delay 20ms --jitter 5ms --network regtest \\\n"+
			"      --block-interval 2s --duration 60s --web 127.0.0.1:8080\n"+
			"  renga devnet --netns --topology net.graphml --scenario split.toml --network regtest\n"+
			"  renga cli --datadir ~/.renga/devnet-nodes/node1 --rpc 127.0.0.1:38334 getpeerinfo")
	var o devnetOptions
	fs.IntVar(&o.nodes, "n", 4, "number of nodes (a GraphML topology says its own)")
	fs.IntVar(&o.miners, "miners", 2, "how many of the nodes mine (the first ones; a GraphML topology says its own)")
	fs.IntVar(&o.threads, "threads", 1, "mining threads per miner")
	fs.StringVar(&o.dir, "dir", filepath.Join(defaultDataDir(), "devnet-nodes"), "the nodes' data directories go in `DIR`")
	fs.IntVar(&o.basePort, "base-port", 38333, "on loopback node I listens on PORT+2(I-1) and serves RPC on the next port; in namespaces every node uses PORT and PORT+1")
	fs.DurationVar(&o.txEvery, "tx-every", 5*time.Second, "make a payment between two nodes this often (0: never)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: at the scenario's end, or Ctrl-C)")
	fs.BoolVar(&o.fresh, "fresh", false, "delete DIR first: start from the genesis block")
	fs.BoolVar(&o.netns, "netns", false, "each node in its own network namespace (root, Linux): on a bridge (--lan) or along --topology's links")
	fs.BoolVar(&o.lan, "lan", false, "with --netns: one bridge for all, peers found by multicast discovery (the default without --topology)")
	fs.BoolVar(&o.inProc, "in-process", false, "run the nodes inside this process (net/node), not as processes; on loopback only")
	fs.BoolVar(&o.compress, "compress", defaultCompress, "nodes offer cmpr link compression")
	fs.StringVar(&o.network, "network", "devnet", "the nodes' network: devnet (real proof of work) or regtest (instant blocks)")
	fs.StringVar(&o.topology, "topology", "", "`SPEC` ("+lab.Generators+") or FILE.graphml")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the random topology generators")
	fs.DurationVar(&o.cond.Delay, "delay", 0, "one-way delay of every link that has none of its own (netem)")
	fs.DurationVar(&o.cond.Jitter, "jitter", 0, "± jitter of that delay")
	fs.Float64Var(&o.cond.Loss, "loss", 0, "percent of packets each link drops")
	var rate string
	fs.StringVar(&rate, "rate", "", "each link's rate in tc's units, e.g. 10mbit")
	fs.StringVar(&o.scenario, "scenario", "", "play the timed events of the TOML `FILE`")
	fs.StringVar(&o.report, "report", "", "write the report in `DIR` (default DIR/report)")
	fs.StringVar(&o.web, "web", "", "serve the live web view on `ADDR`, e.g. 127.0.0.1:8080")
	fs.BoolVar(&o.webRemote, "web-remote", false, "allow --web on an address other than loopback")
	fs.DurationVar(&o.blockInterval, "block-interval", 0, "mean time between blocks, drawn by the lab (0: miners mine back to back)")
	var extra listFlag
	fs.Var(&extra, "node-flag", "pass `FLAG` to every node, e.g. --node-flag=--log-level=debug (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.extra = extra
	if rate != "" {
		r, err := lab.ParseRate(rate)
		if err != nil {
			return fmt.Errorf("%w: --rate: %v", errUsage, err)
		}
		o.cond.Rate = r
	}
	if err := o.check(fs); err != nil {
		return err
	}
	params, err := chain.NetworkByName(o.network)
	if err != nil || params == chain.Mainnet {
		return fmt.Errorf("%w: --network must be devnet or regtest", errUsage)
	}
	top, err := o.buildTopology()
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	var sc *lab.Scenario
	if o.scenario != "" {
		f, err := os.Open(o.scenario)
		if err != nil {
			return err
		}
		sc, err = lab.ReadScenario(f, top)
		_ = f.Close() // read to the end or failed: nothing to lose
		if err != nil {
			return fmt.Errorf("%w: %s: %v", errUsage, o.scenario, err)
		}
	}
	if o.fresh {
		if err := os.RemoveAll(o.dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	nw, err := o.buildNetwork(top, io)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, nw.Close()) }()
	fmt.Fprint(io.out, top.Summary())
	cfg := lab.Config{
		Topology: top, Network: nw, Params: params, Dir: o.dir, Scenario: sc, Duration: o.duration,
		TxEvery: o.txEvery, BlockInterval: o.blockInterval, ReportDir: o.report, Out: io.out, TTY: isTerminal(io.out),
		Launcher: o.launcher(),
	}
	if cfg.ReportDir == "" {
		cfg.ReportDir = filepath.Join(o.dir, "report")
	}
	if o.web != "" {
		ln, err := net.Listen("tcp", o.web)
		if err != nil {
			return fmt.Errorf("devnet: --web: %w", err)
		}
		defer func() { _ = ln.Close() }() // closed by the lab's server too: a second close is harmless
		cfg.Web = ln
	}
	l, err := lab.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if !o.netns && o.topology == "" {
		fmt.Fprintf(io.out, "watch the traffic (as root): renga capture -i lo --port %s\n", o.capturePorts(params))
	}
	if !cfg.TTY {
		fmt.Fprintln(io.out, "(not a terminal: the view is printed every 5 seconds)")
	}
	return l.Run(ctx)
}

// check rejects flag combinations that cannot work.
func (o *devnetOptions) check(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() != 0:
		return fmt.Errorf("%w: devnet takes no arguments, got %q", errUsage, fs.Arg(0))
	case o.nodes < 1 || o.nodes > lab.MaxNodes:
		return fmt.Errorf("%w: -n must be 1 to %d", errUsage, lab.MaxNodes)
	case o.miners < 0 || o.miners > o.nodes:
		return fmt.Errorf("%w: --miners must be 0 to -n", errUsage)
	case o.basePort < 1024 || o.basePort+2*o.nodes > 65535:
		return fmt.Errorf("%w: --base-port out of range", errUsage)
	case o.inProc && o.netns:
		return fmt.Errorf("%w: --in-process runs on loopback: it cannot be combined with --netns", errUsage)
	case o.lan && !o.netns:
		return fmt.Errorf("%w: --lan is a mode of --netns", errUsage)
	case o.lan && o.topology != "":
		return fmt.Errorf("%w: --lan puts every node on one bridge: it takes no --topology", errUsage)
	case !o.cond.IsZero() && (!o.netns || o.lan):
		return fmt.Errorf("%w: link conditions need --netns --topology (every link its own veth pair)", errUsage)
	}
	if err := o.cond.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if o.web != "" && !o.webRemote {
		host, _, err := net.SplitHostPort(o.web)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("%w: --web %q: serve on loopback (127.0.0.1:PORT), or add --web-remote", errUsage, o.web)
		}
	}
	return nil
}

// buildTopology reads or generates the topology and marks the miners.
func (o *devnetOptions) buildTopology() (*lab.Topology, error) {
	var top *lab.Topology
	var err error
	spec := o.topology
	if spec == "" {
		spec = "full" // discovery decides who connects; the topology only counts the nodes
	}
	if strings.HasSuffix(spec, ".graphml") || strings.HasSuffix(spec, ".xml") {
		f, err := os.Open(spec)
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }() // read only
		if top, err = lab.ReadGraphML(f); err != nil {
			return nil, fmt.Errorf("%s: %w", spec, err)
		}
	} else if top, err = lab.Generate(spec, o.nodes, o.seed); err != nil {
		return nil, err
	}
	anyMiner := false
	for _, n := range top.Nodes {
		anyMiner = anyMiner || n.Mine
	}
	if !anyMiner {
		for i := range min(o.miners, len(top.Nodes)) {
			top.Nodes[i].Mine = true
		}
	}
	top.SetDefaults(o.cond, o.threads)
	return top, top.Validate()
}

// buildNetwork places the nodes: loopback, a bridge, or a namespace per
// node and a veth pair per link.
func (o *devnetOptions) buildNetwork(top *lab.Topology, io stdio) (lab.Network, error) {
	switch {
	case !o.netns && o.topology == "":
		return lab.NewLoopback(o.basePort, nil), nil
	case !o.netns:
		return lab.NewLoopback(o.basePort, top.Links), nil
	case o.lan || o.topology == "":
		return lab.NewLANNetwork(len(top.Nodes), o.basePort)
	}
	shaping, err := lab.ProbeShaping()
	if err != nil {
		return nil, fmt.Errorf("devnet: --netns: %w", err)
	}
	for _, l := range top.Links {
		if _, err := shaping.Supports(l.Cond); err != nil {
			fmt.Fprintf(io.errs, "renga devnet: warning: %v; the report's bounds use the conditions in force and the measured round trips\n", err)
			break
		}
	}
	return lab.NewLinkNetwork(top, o.basePort, shaping)
}

// launcher starts each node as `renga node` (or in this process).
func (o *devnetOptions) launcher() lab.Launcher {
	args := func(spec lab.NodeSpec) []string { return o.nodeArgs(spec) }
	if o.inProc {
		return lab.InProcessLauncher{Config: func(spec lab.NodeSpec) (node.Config, error) {
			fs := flag.NewFlagSet("node", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f := registerNodeFlags(fs)
			if err := f.parse(args(spec)[1:]); err != nil {
				return node.Config{}, err
			}
			cfg, err := f.nodeConfig()
			if err != nil {
				return node.Config{}, err
			}
			cfg.Logger, err = newNodeLogger(spec.Log, f.logFormat, f.logLevel)
			return cfg, err
		}}
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return lab.ExecLauncher{Exe: exe, Args: args}
}

// nodeArgs is the `renga node` command line of a lab node. Its miner is
// driven by the lab over RPC (generatetoaddress), so --mine is not given.
func (o *devnetOptions) nodeArgs(spec lab.NodeSpec) []string {
	args := []string{"node", "--network", spec.Network, "--datadir", spec.Dir, "--listen", spec.Listen, "--rpc", spec.RPC,
		"--log-format", "json", "--compress=" + strconv.FormatBool(o.compress), "--threads", strconv.Itoa(spec.Threads)}
	if spec.Connect == nil {
		args = append(args, "--discover", "--discover-iface", spec.DiscoverIface)
	} else {
		// Along the topology's links only: the listed peers, no discovery,
		// and no dialling of addresses learnt from peers.
		args = append(args, "--discover=false", "--maxoutbound", "0")
		for _, c := range spec.Connect {
			args = append(args, "--connect", c)
		}
	}
	return append(args, o.extra...)
}

// capturePorts lists the discovery port and the nodes' P2P ports on
// loopback, for renga capture's --port.
func (o *devnetOptions) capturePorts(p *chain.Params) string {
	var ports []string
	if p.DiscoveryPort != 0 {
		ports = append(ports, strconv.Itoa(int(p.DiscoveryPort)))
	}
	for i := range o.nodes {
		ports = append(ports, strconv.Itoa(o.basePort+2*i))
	}
	return strings.Join(ports, ",")
}
