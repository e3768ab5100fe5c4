package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/node"
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
	lanSecretFile    string
	allowMempool     listFlag
	mine             bool
	threads          int
	kernel           string
	mineAddress      string
	rpc              string
	compress         bool
	compact          bool
	capture          string
	captureMessages  bool
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
// command line nor the config file says. Off: it saves a sixth of the bytes
// of real blocks for about 5.5 ms of CPU per MB, which pays only on links
// slower than about 240 Mbit/s, and Renga's networks are LANs and one
// machine's devnet; it also turns the traffic that captures and the
// Wireshark plugin show into zstd envelopes.
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
	fs.StringVar(&f.lanSecretFile, "lan-secret-file", "", "read the LAN secret from `FILE` (mode 0600; not on the command line, where ps shows it)")
	fs.Var(&f.allowMempool, "allow-mempool", "answer BIP35 mempool requests from `PREFIX` (address or CIDR; repeatable; default nobody)")
	fs.BoolVar(&f.mine, "mine", false, "mine blocks once in sync with the peers")
	fs.IntVar(&f.threads, "threads", 0, "mining workers (default GOMAXPROCS)")
	fs.StringVar(&f.kernel, "kernel", "", "mining kernel: generic, avx2, shani, shani4, avx512 (default: the fastest)")
	fs.StringVar(&f.mineAddress, "mine-address", "", "pay mined blocks to `ADDRESS` (default: the wallet's first key)")
	fs.StringVar(&f.rpc, "rpc", "", "serve JSON-RPC on `ADDR` on loopback (default 127.0.0.1:RPCPORT; \"off\" for none)")
	fs.BoolVar(&f.compress, "compress", defaultCompress, "offer cmpr link compression (zstd, s2) to peers that offer it")
	fs.BoolVar(&f.compact, "compact-blocks", true, "relay blocks as BIP152 compact blocks to peers that speak it (false: whole blocks)")
	fs.StringVar(&f.capture, "capture", "", "record every message sent and received to `FILE` (pcapng)")
	fs.Var(&f.capturePeers, "capture-peer", "record only peers in `PREFIX` (address or CIDR; repeatable)")
	fs.Var(&f.captureCommands, "capture-command", "record only messages of `CMD` (\"beacon\" for discovery; repeatable)")
	fs.BoolVar(&f.captureMessages, "capturemessages", false, "record every peer's messages as Bitcoin Core's -capturemessages does, in DATADIR/message_capture/ADDR_PORT/msgs_{sent,recv}.dat (renga decode reads them; RPC setmessagecapture switches peers at run time)")
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
	cfg.Logger = log
	if os.Getenv("GOGC") == "" {
		// A node's live heap is small (tens of MB) but churns through every
		// block it validates; at Go's default the heap grows to twice the
		// live data between collections. Half that keeps a node under 100
		// MB while it syncs at no measurable cost in speed (97 → 88 MB RSS
		// after 10,000 blocks at the same blocks/s). GOGC in the environment
		// overrides it.
		debug.SetGCPercent(nodeGCPercent)
	}
	n, err := node.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	err = n.Run(ctx)
	if errors.Is(err, node.ErrStopRequested) {
		return nil
	}
	return err
}

// nodeGCPercent is the node's GOGC; see runNode.
const nodeGCPercent = 50

// nodeConfig turns the flags into the node's configuration, reporting
// every problem at once.
func (f *nodeFlags) nodeConfig() (node.Config, error) {
	p, err := f.chain.params()
	if err != nil {
		return node.Config{}, err
	}
	c := node.Config{
		Network: p, Dir: f.chain.dir(p), Connect: f.connect, AddNode: f.addnode,
		Mine: f.mine, Threads: f.threads, Kernel: f.kernel, Compress: f.compress, NoCompactBlocks: !f.compact,
		Capture: f.capture, CaptureMessages: f.captureMessages,
		MaxOutbound: f.maxOutbound, MaxInbound: f.maxInbound, Version: buildVersion(),
	}
	var problems []string
	switch f.listen {
	case "":
		c.Listen = ":" + strconv.Itoa(int(p.DefaultPort))
	case "off":
	default:
		if _, _, err := net.SplitHostPort(f.listen); err != nil {
			problems = append(problems, fmt.Sprintf("--listen %q: %v", f.listen, err))
		}
		c.Listen = f.listen
	}
	switch f.rpc {
	case "":
		c.RPC = "127.0.0.1:" + strconv.Itoa(int(p.RPCPort))
	case "off":
	default:
		c.RPC = f.rpc
	}
	if f.threads < 0 {
		problems = append(problems, "--threads must not be negative")
	}
	if f.dbcache < 4 {
		problems = append(problems, "--dbcache must be at least 4 MiB")
	}
	c.Store = dbcacheOptions(f.dbcache)
	if f.profile != "" {
		host, _, err := net.SplitHostPort(f.profile)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			problems = append(problems, fmt.Sprintf("--profile %q: want a loopback address and port", f.profile))
		}
		c.Profile = f.profile
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
			c.MineScript = chain.PayToPubKeyHashScript(a.Hash)
		}
	}
	discoverOn := p.DiscoveryPort != 0 && len(f.connect) == 0
	if f.discoverExplicit {
		discoverOn = f.discover
	}
	secret := []byte(f.lanSecret)
	if f.lanSecretFile != "" {
		if f.lanSecret != "" {
			problems = append(problems, "--lan-secret and --lan-secret-file: give one")
		}
		if secret, err = discover.ReadSecretFile(f.lanSecretFile); err != nil {
			problems = append(problems, err.Error())
		}
	}
	for _, s := range f.allowMempool {
		pfx, err := parsePrefix(s)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--allow-mempool %q: want an address or a prefix", s))
			continue
		}
		c.MempoolPeers = append(c.MempoolPeers, pfx)
	}
	if discoverOn {
		d := &discover.Config{Interface: f.discoverIface, Secret: secret}
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
		c.Discovery = d
	}
	for _, s := range f.capturePeers {
		pfx, err := parsePrefix(s)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--capture-peer %q: want an address or a prefix", s))
			continue
		}
		c.CaptureFilter.Peers = append(c.CaptureFilter.Peers, pfx)
	}
	c.CaptureFilter.Commands = f.captureCommands
	if len(problems) > 0 {
		return c, fmt.Errorf("%w: %s", errUsage, strings.Join(problems, "; "))
	}
	return c, nil
}

// defaultDBCache is --dbcache's default in MiB: with it a node that has
// synced 10,000 blocks with transactions stays under 100 MB of RSS (86 MB
// measured), at the same sync speed as larger caches.
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

// parsePrefix reads an address or a CIDR prefix (an address is its own /32
// or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
