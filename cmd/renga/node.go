package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/miner"
	"github.com/renga-p2p/renga/net/api"
	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/p2p"
	"github.com/renga-p2p/renga/net/sock"
)

// nodeFlags are the flags of `renga node`; every one may also be given in
// the config file, by the same name.
type nodeFlags struct {
	chain *chainFlags
	fs    *flag.FlagSet

	config           string
	listen           string
	connect, addnode listFlag
	discover         bool
	discoverIface    string
	discoverGroup    string
	lanSecret        string
	mine             bool
	threads          int
	kernel           string
	mineAddress      string
	rpc              string
	compress         bool
	capture          string
	capturePeers     listFlag
	captureCommands  listFlag
	maxOutbound      int
	maxInbound       int
	dbcache          int
	profile          string
	logFormat        string
	logLevel         string
	// discoverExplicit: --discover was given (else it is on for networks
	// with a discovery port).
	discoverExplicit bool
}

// defaultCompress is whether link compression is offered when neither the
// command line nor the config file says. Off: on a LAN, the bandwidth it saves
// costs more CPU than the transfer time it saves (see the note of
// BenchmarkCompression in net/p2p).
const defaultCompress = false

func registerNodeFlags(fs *flag.FlagSet) *nodeFlags {
	f := &nodeFlags{fs: fs, chain: addChainFlags(fs, "devnet")}
	fs.StringVar(&f.config, "config", "", "read flags from `FILE`, one name=value a line (default DATADIR/renga.conf if it exists)")
	fs.StringVar(&f.listen, "listen", "", "accept peers on `ADDR` (default :PORT of the network; \"off\" for none)")
	fs.Var(&f.connect, "connect", "connect only to `ADDR` (repeatable; turns discovery and the address book off)")
	fs.Var(&f.addnode, "addnode", "keep a connection to `ADDR` besides the others (repeatable)")
	fs.BoolVar(&f.discover, "discover", false, "find peers on the LAN by UDP multicast (default on for devnet)")
	fs.StringVar(&f.discoverIface, "discover-iface", "", "multicast on interface `NAME` (default: the default route's)")
	fs.StringVar(&f.discoverGroup, "discover-group", "", "multicast `GROUP:PORT` (default 239.255.82.71:28334)")
	fs.StringVar(&f.lanSecret, "lan-secret", "", "sign beacons with `SECRET` and ignore unsigned ones")
	fs.BoolVar(&f.mine, "mine", false, "mine blocks once in sync with the peers")
	fs.IntVar(&f.threads, "threads", 0, "mining workers (default GOMAXPROCS)")
	fs.StringVar(&f.kernel, "kernel", "", "mining kernel: generic, avx2, shani, avx512 (default: the fastest)")
	fs.StringVar(&f.mineAddress, "mine-address", "", "pay mined blocks to `ADDRESS` (default: the wallet's first key)")
	fs.StringVar(&f.rpc, "rpc", "", "serve JSON-RPC on `ADDR` on loopback (default 127.0.0.1:RPCPORT; \"off\" for none)")
	fs.BoolVar(&f.compress, "compress", defaultCompress, "offer cmpr link compression (zstd, s2) to peers that offer it")
	fs.StringVar(&f.capture, "capture", "", "record every message sent and received to `FILE` (pcapng)")
	fs.Var(&f.capturePeers, "capture-peer", "record only peers in `PREFIX` (address or CIDR; repeatable)")
	fs.Var(&f.captureCommands, "capture-command", "record only messages of `CMD` (\"beacon\" for discovery; repeatable)")
	fs.IntVar(&f.maxOutbound, "maxoutbound", 8, "connections to dial")
	fs.IntVar(&f.maxInbound, "maxinbound", 117, "connections to accept")
	fs.IntVar(&f.dbcache, "dbcache", defaultDBCache, "database cache in `MiB`: three quarters block cache, a quarter memtable")
	fs.StringVar(&f.profile, "profile", "", "serve Go's pprof profiles on `ADDR` on loopback (like btcd's --profile)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log as `text` or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "least level logged: debug, info, warn or error")
	return f
}

// parse parses the command line, then the config file for what the command
// line did not set.
func (f *nodeFlags) parse(args []string) error {
	if err := parseFlags(f.fs, args); err != nil {
		return err
	}
	if f.fs.NArg() != 0 {
		return fmt.Errorf("%w: node takes no arguments, got %q", errUsage, f.fs.Arg(0))
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	path := f.config
	if path == "" {
		path = filepath.Join(*f.chain.datadir, "renga.conf")
		if _, err := os.Stat(path); err != nil {
			path = ""
		}
	}
	if path != "" {
		if err := applyConfigFile(f.fs, path, set); err != nil {
			return err
		}
		f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	}
	f.discoverExplicit = set["discover"]
	return nil
}

// applyConfigFile sets each flag named in the file at path that the command
// line did not set. Lines are name=value (a bare name means true for a
// boolean), # starts a comment, a list flag may repeat.
func applyConfigFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, hasValue := strings.Cut(line, "=")
		name, value = strings.TrimSpace(strings.TrimLeft(name, "-")), strings.TrimSpace(value)
		fl := fs.Lookup(name)
		if fl == nil || name == "config" {
			return fmt.Errorf("%w: %s:%d: unknown setting %q", errUsage, path, i+1, name)
		}
		if set[name] {
			continue // the command line wins
		}
		if !hasValue {
			if bf, ok := fl.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
				return fmt.Errorf("%w: %s:%d: %s needs a value", errUsage, path, i+1, name)
			}
			value = "true"
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%w: %s:%d: %s: %v", errUsage, path, i+1, name, err)
		}
	}
	return nil
}

func runNode(ctx context.Context, args []string, io stdio) error {
	fs := newFlags(io, "node", "[flags]",
		"Run a node: keep the chain of a network in DATADIR/<network>, connect to peers (found on the\n"+
			"LAN by multicast on devnet, or given with --connect/--addnode), download and relay blocks and\n"+
			"transactions, serve JSON-RPC to `renga cli` and `renga wallet`, and with --mine, mine.\n"+
			"Settings come from flags, then from the config file (same names, name=value a line).\n"+
			"Stops on SIGINT/SIGTERM or the RPC `stop`.",
		"  renga node --mine\n"+
			"  renga node --network regtest --datadir /tmp/r1 --listen 127.0.0.1:18444 --connect 127.0.0.1:18555\n"+
			"  renga node --discover-iface eth0 --lan-secret hunter2 --capture node.pcapng --log-format json")
	f := registerNodeFlags(fs)
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, err := f.nodeConfig()
	if err != nil {
		return err
	}
	log, err := newNodeLogger(io.errs, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	cfg.logger = log
	if os.Getenv("GOGC") == "" {
		// A node's live heap is small (tens of MB) but churns through every
		// block it validates; at Go's default the heap grows to twice the
		// live data between collections. Half that keeps a node under 100
		// MB while it syncs at no measurable cost in speed
		// (BenchmarkNodeMemory: 97 → 88 MB RSS after 10,000 blocks, the
		// same blocks/s). GOGC in the environment overrides it.
		debug.SetGCPercent(nodeGCPercent)
	}
	return runNodeConfig(ctx, cfg)
}

// nodeGCPercent is the node's GOGC; see runNode.
const nodeGCPercent = 50

// nodeConfig is a node's settings, checked.
type nodeConfig struct {
	params      *chain.Params
	dir         string
	listen      string
	connect     []string
	addnode     []string
	discovery   *discover.Config
	mine        bool
	threads     int
	kernel      string
	mineScript  []byte // nil: the wallet's first key
	rpc         string
	compress    bool
	capture     string
	captureCfg  capture.RecorderConfig
	maxOutbound int
	maxInbound  int
	store       store.Options
	profile     string
	logger      *slog.Logger
}

func (f *nodeFlags) nodeConfig() (nodeConfig, error) {
	p, err := f.chain.params()
	if err != nil {
		return nodeConfig{}, err
	}
	c := nodeConfig{
		params: p, dir: f.chain.dir(p), connect: f.connect, addnode: f.addnode,
		mine: f.mine, threads: f.threads, kernel: f.kernel, compress: f.compress, capture: f.capture,
		maxOutbound: f.maxOutbound, maxInbound: f.maxInbound,
	}
	var problems []string
	switch f.listen {
	case "":
		c.listen = ":" + strconv.Itoa(int(p.DefaultPort))
	case "off":
	default:
		if _, _, err := net.SplitHostPort(f.listen); err != nil {
			problems = append(problems, fmt.Sprintf("--listen %q: %v", f.listen, err))
		}
		c.listen = f.listen
	}
	switch f.rpc {
	case "":
		c.rpc = "127.0.0.1:" + strconv.Itoa(int(p.RPCPort))
	case "off":
	default:
		c.rpc = f.rpc
	}
	if f.threads < 0 {
		problems = append(problems, "--threads must not be negative")
	}
	if f.dbcache < 4 {
		problems = append(problems, "--dbcache must be at least 4 MiB")
	}
	c.store = dbcacheOptions(f.dbcache)
	if f.profile != "" {
		host, _, err := net.SplitHostPort(f.profile)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			problems = append(problems, fmt.Sprintf("--profile %q: want a loopback address and port", f.profile))
		}
		c.profile = f.profile
	}
	if f.kernel != "" {
		if err := checkKernel(f.kernel); err != nil {
			return c, err
		}
	}
	if f.mine && p == chain.Mainnet {
		problems = append(problems, "--mine on mainnet: a CPU finds no block there; use devnet or regtest")
	}
	if f.mineAddress != "" {
		a, err := address.ParseP2PKH(f.mineAddress, p.PubKeyHashVersion)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--mine-address: %v", err))
		} else {
			c.mineScript = chain.PayToPubKeyHashScript(a.Hash)
		}
	}
	discoverOn := p.DiscoveryPort != 0 && len(f.connect) == 0
	if f.discoverExplicit {
		discoverOn = f.discover
	}
	if discoverOn {
		d := &discover.Config{Interface: f.discoverIface, Secret: []byte(f.lanSecret)}
		if f.discoverGroup != "" {
			g, err := netip.ParseAddrPort(f.discoverGroup)
			if err != nil || !g.Addr().Is4() || !g.Addr().IsMulticast() {
				problems = append(problems, fmt.Sprintf("--discover-group %q: want an IPv4 multicast address and port", f.discoverGroup))
			}
			d.Group = g
		} else if p.DiscoveryPort != 0 {
			d.Group = netip.AddrPortFrom(discover.DefaultGroup().Addr(), p.DiscoveryPort)
		}
		if d.Interface == "" {
			name, err := lanInterface()
			if err != nil {
				problems = append(problems, err.Error())
			}
			d.Interface = name
		}
		c.discovery = d
	}
	for _, s := range f.capturePeers {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				problems = append(problems, fmt.Sprintf("--capture-peer %q: want an address or a prefix", s))
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		c.captureCfg.Peers = append(c.captureCfg.Peers, pfx)
	}
	c.captureCfg.Commands = f.captureCommands
	if len(problems) > 0 {
		return c, fmt.Errorf("%w: %s", errUsage, strings.Join(problems, "; "))
	}
	return c, nil
}

// defaultDBCache is --dbcache's default in MiB. See BenchmarkNodeMemory for
// how it trades memory for sync speed.
const defaultDBCache = 32

// dbcacheOptions splits a --dbcache budget between Pebble's block cache and
// its memtable.
func dbcacheOptions(mib int) store.Options {
	return store.Options{CacheSize: int64(mib) << 20 * 3 / 4, MemTableSize: uint64(max(mib/4, 1)) << 20}
}

// lanInterface is the interface discovery uses when none is named: the
// default route's, else the only interface that is up, not loopback and can
// multicast.
func lanInterface() (string, error) {
	if name, err := sock.DefaultInterface(); err == nil {
		return name, nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("discovery: list interfaces: %v", err)
	}
	var found []string
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagLoopback == 0 && ifi.Flags&net.FlagMulticast != 0 {
			found = append(found, ifi.Name)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return "", fmt.Errorf("discovery: no default route and %d candidate interfaces %v: name one with --discover-iface (or --discover=false)", len(found), found)
}

// newNodeLogger returns the node's logger: text or JSON lines on w.
func newNodeLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, format)
}

// runNodeConfig runs a node until ctx ends or the RPC stop is called.
func runNodeConfig(ctx context.Context, cfg nodeConfig) (err error) {
	log := cfg.logger
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	c, err := chain.Open(cfg.dir, cfg.params, chain.Options{Logger: log.With("part", "chain"), Store: cfg.store})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	tip := c.Tip()
	log.Info("chain opened", "network", cfg.params.Name, "dir", cfg.dir, "height", tip.Height, "tip", tip.Hash)
	events := newEventLogger(log)
	c.Subscribe(events.block)
	pool := mempool.New(c, mempool.Config{Logger: log.With("part", "mempool")})
	pool.OnAccept(events.tx)

	var rec *capture.Recorder
	if cfg.capture != "" {
		f, err := os.Create(cfg.capture)
		if err != nil {
			return fmt.Errorf("node: capture: %w", err)
		}
		cfg.captureCfg.Logger = log.With("part", "capture")
		rec, err = capture.NewRecorder(f, cfg.captureCfg)
		if err != nil {
			return errors.Join(err, f.Close())
		}
		defer func() {
			if cerr := errors.Join(rec.Close(), f.Close()); cerr != nil {
				err = errors.Join(err, fmt.Errorf("node: capture %s: %w", cfg.capture, cerr))
			}
		}()
		log.Info("recording traffic", "file", cfg.capture)
	}

	script := cfg.mineScript
	if script == nil {
		key, created, err := walletKey(filepath.Join(cfg.dir, "wallet.json"), cfg.params)
		if err != nil {
			return err
		}
		if created {
			log.Info("wallet created", "file", filepath.Join(cfg.dir, "wallet.json"), "address", key.Address.String())
		}
		script = key.Script
	}
	m, err := miner.New(miner.Config{
		Chain: c, Pool: pool, Script: script, Threads: cfg.threads, Kernel: cfg.kernel,
		Logger: log.With("part", "miner"),
	})
	if err != nil {
		return err
	}

	if cfg.discovery != nil {
		cfg.discovery.Logger = log.With("part", "discover")
	}
	srv, err := p2p.New(p2p.Config{
		Chain: c, Pool: pool, Listen: cfg.listen, Connect: cfg.connect, AddNode: cfg.addnode,
		MaxOutbound: cfg.maxOutbound, MaxInbound: cfg.maxInbound, Discovery: cfg.discovery,
		Compression: cfg.compress, UserAgent: "/renga:" + buildVersion() + "/",
		AddrBook: filepath.Join(cfg.dir, "peers.json"), Capture: rec, Logger: log.With("part", "p2p"),
	})
	if err != nil {
		return err
	}

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var rpc *api.Server
	if cfg.rpc != "" {
		rpc, err = api.Listen(api.Config{
			Listen: cfg.rpc, CookieFile: filepath.Join(cfg.dir, ".cookie"), Chain: c, Pool: pool, P2P: srv,
			Miner: minerAPI{m}, Version: buildVersion(), Stop: func() { stop(errStopRequested) },
			Logger: log.With("part", "rpc"),
		})
		if err != nil {
			return err
		}
		log.Info("RPC listening", "addr", rpc.Addr(), "cookie", filepath.Join(cfg.dir, ".cookie"))
	}

	errc := make(chan error, 4)
	running := 0
	start := func(name string, run func(context.Context) error) {
		running++
		go func() {
			err := run(ctx)
			if err != nil {
				err = fmt.Errorf("%s: %w", name, err)
				stop(err)
			}
			errc <- err
		}()
	}
	start("p2p", srv.Run)
	if cfg.profile != "" {
		start("profile", func(ctx context.Context) error { return serveProfiles(ctx, cfg.profile, log) })
	}
	if rpc != nil {
		start("rpc", rpc.Run)
	}
	if cfg.mine {
		start("miner", func(ctx context.Context) error { return mineWhenSynced(ctx, srv, c, m, log) })
	}
	var errs []error
	for range running {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	if cause := context.Cause(ctx); errors.Is(cause, errStopRequested) {
		log.Info("stopping: RPC stop")
	} else if len(errs) == 0 {
		log.Info("stopping", "cause", cause)
	}
	return errors.Join(errs...)
}

// serveProfiles serves net/http/pprof's handlers on addr until ctx ends.
func serveProfiles(ctx context.Context, addr string, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Info("profiles served", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
		err = hs.Close()
		if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
	case err = <-errc:
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

var errStopRequested = errors.New("stop requested over RPC")

// mineWhenSynced starts the miner once the node has caught up with its peers
// (or has found none within syncGrace), so that a node joining a network does
// not mine on an old tip, and mines until ctx ends.
func mineWhenSynced(ctx context.Context, srv *p2p.Server, c *chain.Chain, m *miner.Miner, log *slog.Logger) error {
	select {
	case <-srv.Started():
	case <-ctx.Done():
		return nil
	}
	begin := time.Now()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for !synced(srv, c, time.Since(begin)) {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	log.Info("mining", "kernel", m.Kernel(), "threads", m.Threads(), "height", c.Tip().Height)
	if err := m.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// syncGrace is how long a miner waits for peers before mining alone, and
// syncPatience how long it waits for peers that never let it catch up (one
// on a branch with more height but less work, say).
const (
	syncGrace    = 3 * time.Second
	syncPatience = 2 * time.Minute
)

// synced reports whether the node may start mining: every header it knows
// is connected, and every peer has shown no more than the node has.
func synced(srv *p2p.Server, c *chain.Chain, waited time.Duration) bool {
	if waited >= syncPatience {
		return true
	}
	tip := c.Tip()
	if c.BestHeader() != tip {
		return false
	}
	peers := srv.Peers()
	if len(peers) == 0 {
		return waited >= syncGrace
	}
	for _, p := range peers {
		if max(p.StartHeight, p.SyncedTo) > tip.Height {
			return false
		}
	}
	return true
}

// minerAPI adapts the miner to what the RPC server needs.
type minerAPI struct{ m *miner.Miner }

func (a minerAPI) Generate(ctx context.Context, n int, script []byte) ([]sha256d.Hash, error) {
	hashes, err := a.m.Generate(ctx, n, script)
	if errors.Is(err, miner.ErrBusy) {
		return hashes, fmt.Errorf("the node is mining (--mine): generatetoaddress needs its miner idle")
	}
	return hashes, err
}

func (a minerAPI) Hashrate() float64 { return a.m.Stats().Rate }
