package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/chain/wallet"
	"github.com/renga-p2p/renga/miner"
	"github.com/renga-p2p/renga/net/api"
	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/p2p"
)

// Config is a whole node's settings. The zero value of a field means its
// documented default; Network and Dir are required.
type Config struct {
	Network *chain.Params // devnet, regtest or mainnet
	Dir     string        // the network's data directory (chain, wallet, peers, cookie)

	// Listen is the P2P address ("" for none); Transport listens and dials
	// (nil: real TCP sockets; tests may give an in-memory network).
	Listen    string
	Transport p2p.Transport
	// Connect, when not empty, is the only peers (discovery and the address
	// book are then off); AddNode are peers kept besides the others.
	Connect, AddNode []string
	// Discovery, if not nil, finds peers on the LAN by multicast.
	Discovery   *discover.Config
	MaxOutbound int // connections to dial (default 8)
	MaxInbound  int // connections to accept (default 117)
	Compress    bool
	// NoCompactBlocks relays blocks whole, without BIP152.
	NoCompactBlocks bool
	// MempoolPeers may ask for our mempool (BIP35); nobody else may.
	MempoolPeers []netip.Prefix

	// Mine starts the miner once the node is synced (see the package doc).
	// MineScript is what mined blocks pay (nil: the wallet's first key, the
	// wallet made if missing); Threads and Kernel as miner.Config.
	Mine       bool
	MineScript []byte
	Threads    int
	Kernel     string

	// RPC is the JSON-RPC address on loopback ("" for none).
	RPC string
	// Capture, if set, records every message to this pcapng file, filtered
	// by CaptureFilter.
	Capture       string
	CaptureFilter capture.RecorderConfig
	// CaptureMessages records every connection in Bitcoin Core's
	// message-capture files under Dir/message_capture (its
	// -capturemessages). Without it, the RPC setmessagecapture still
	// switches recording on for chosen peers at run time.
	CaptureMessages bool
	// Profile, if set, serves Go's pprof profiles on this loopback address.
	Profile string

	// Store configures the database (cache sizes).
	Store store.Options
	// UserAgent is the version message's user agent (default
	// "/renga:VERSION/"); Version is the node's version for the RPC.
	UserAgent, Version string

	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.UserAgent == "" {
		c.UserAgent = "/renga:" + c.Version + "/"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ErrConfig: the configuration cannot work.
var ErrConfig = errors.New("node: bad configuration")

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Network == nil {
		errs = append(errs, fmt.Errorf("%w: no network", ErrConfig))
	}
	if c.Dir == "" {
		errs = append(errs, fmt.Errorf("%w: no data directory", ErrConfig))
	}
	if c.Mine && c.Network == chain.Mainnet {
		errs = append(errs, fmt.Errorf("%w: mining on mainnet: a CPU finds no block there", ErrConfig))
	}
	if c.Threads < 0 {
		errs = append(errs, fmt.Errorf("%w: negative thread count", ErrConfig))
	}
	return errors.Join(errs...)
}

// ErrStopRequested is the cause Run ends with after the RPC stop.
var ErrStopRequested = errors.New("node: stop requested over RPC")

// Node is a whole node: chain, mempool, miner, P2P server, RPC server and
// capture, assembled from a Config and supervised by Run.
type Node struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}
	ran   sync.Once

	// Set by Run before ready closes, then read-only.
	chain  *chain.Chain
	pool   *mempool.Pool
	miner  *miner.Miner
	p2p    *p2p.Server
	rpc    *api.Server
	wallet string // the wallet that mining pays, if any
}

// New checks the configuration; Run opens and runs the node.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Node{cfg: cfg, log: cfg.Logger, ready: make(chan struct{})}, nil
}

// Ready is closed once Run has opened everything and the P2P server
// listens; the accessors below are valid from then on.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Chain is the node's chain (after Ready).
func (n *Node) Chain() *chain.Chain { return n.chain }

// Pool is the node's mempool (after Ready).
func (n *Node) Pool() *mempool.Pool { return n.pool }

// P2P is the node's P2P server (after Ready).
func (n *Node) P2P() *p2p.Server { return n.p2p }

// Miner is the node's miner (after Ready), idle unless Config.Mine.
func (n *Node) Miner() *miner.Miner { return n.miner }

// RPCAddr is where the RPC server listens ("" without one; after Ready).
func (n *Node) RPCAddr() string {
	if n.rpc == nil {
		return ""
	}
	return n.rpc.Addr()
}

// Run opens the chain in Config.Dir, starts every part and runs until ctx
// ends, the RPC stop is called (the cause is then ErrStopRequested) or a
// part fails; then it stops them all, closes the chain and returns the
// parts' errors. A Node runs once.
func (n *Node) Run(ctx context.Context) (err error) {
	first := false
	n.ran.Do(func() { first = true })
	if !first {
		return errors.New("node: Run called twice")
	}
	cfg, log := n.cfg, n.log
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	c, err := chain.Open(cfg.Dir, cfg.Network, chain.Options{Logger: log.With("part", "chain"), Store: cfg.Store})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	tip := c.Tip()
	log.Info("chain opened", "network", cfg.Network.Name, "dir", cfg.Dir, "height", tip.Height, "tip", tip.Hash)
	events := newEventLogger(log)
	c.Subscribe(events.block)
	pool := mempool.New(c, mempool.Config{Logger: log.With("part", "mempool")})
	pool.OnAccept(events.tx)
	// The event stream (GET /events): the chain and the pool it hears
	// itself; peers and frames it is fed by the P2P server.
	stream := api.NewEvents(api.EventsConfig{Chain: c, Pool: pool, Logger: log.With("part", "events")})

	var rec *capture.Recorder
	if cfg.Capture != "" {
		f, err := os.Create(cfg.Capture)
		if err != nil {
			return fmt.Errorf("node: capture: %w", err)
		}
		filter := cfg.CaptureFilter
		filter.Logger = log.With("part", "capture")
		rec, err = capture.NewRecorder(f, filter)
		if err != nil {
			return errors.Join(err, f.Close())
		}
		defer func() {
			if cerr := errors.Join(rec.Close(), f.Close()); cerr != nil {
				err = errors.Join(err, fmt.Errorf("node: capture %s: %w", cfg.Capture, cerr))
			}
		}()
		log.Info("recording traffic", "file", cfg.Capture)
	}

	// Always there, so that the RPC can switch peers on; nothing is
	// written until a connection is recorded.
	msgs := capture.NewMessageCapture(cfg.Dir, capture.MessageCaptureConfig{Logger: log.With("part", "capture")})
	defer func() {
		if cerr := msgs.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if cfg.CaptureMessages {
		log.Info("recording messages", "dir", msgs.Dir())
	}

	script := cfg.MineScript
	if script == nil {
		path := filepath.Join(cfg.Dir, "wallet.json")
		key, created, err := wallet.FirstKey(path, cfg.Network)
		if err != nil {
			return err
		}
		if created {
			log.Info("wallet created", "file", path, "address", key.Address.String())
		}
		script, n.wallet = key.Script, path
	}
	m, err := miner.New(miner.Config{
		Chain: c, Pool: pool, Script: script, Threads: cfg.Threads, Kernel: cfg.Kernel,
		Logger: log.With("part", "miner"),
	})
	if err != nil {
		return err
	}

	var disc *discover.Config
	if cfg.Discovery != nil {
		d := *cfg.Discovery
		if d.Logger == nil {
			d.Logger = log.With("part", "discover")
		}
		disc = &d
	}
	srv, err := p2p.New(p2p.Config{
		Chain: c, Pool: pool, Listen: cfg.Listen, Transport: cfg.Transport, Connect: cfg.Connect,
		AddNode: cfg.AddNode, MaxOutbound: cfg.MaxOutbound, MaxInbound: cfg.MaxInbound, Discovery: disc,
		Compression: cfg.Compress, NoCompactBlocks: cfg.NoCompactBlocks, UserAgent: cfg.UserAgent,
		MempoolPeers: cfg.MempoolPeers,
		AddrBook:     filepath.Join(cfg.Dir, "peers.dat"), Anchors: filepath.Join(cfg.Dir, "anchors.dat"),
		BanList: filepath.Join(cfg.Dir, "banlist.json"), Capture: rec, Logger: log.With("part", "p2p"),
		MessageCapture: msgs, CaptureMessages: cfg.CaptureMessages,
		OnPeer: stream.Peer, Tap: stream.Conn,
	})
	if err != nil {
		return err
	}

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var rpc *api.Server
	if cfg.RPC != "" {
		rpc, err = api.Listen(api.Config{
			Listen: cfg.RPC, CookieFile: filepath.Join(cfg.Dir, ".cookie"), Chain: c, Pool: pool, P2P: srv,
			Miner: minerAPI{m}, Version: cfg.Version, Stop: func() { stop(ErrStopRequested) }, Events: stream,
			Logger: log.With("part", "rpc"),
		})
		if err != nil {
			return err
		}
		log.Info("RPC listening", "addr", rpc.Addr(), "cookie", filepath.Join(cfg.Dir, ".cookie"))
	}
	n.chain, n.pool, n.miner, n.p2p, n.rpc = c, pool, m, srv, rpc

	var parts supervisor
	parts.start(ctx, stop, "p2p", srv.Run)
	if cfg.Profile != "" {
		parts.start(ctx, stop, "profile", func(ctx context.Context) error { return serveProfiles(ctx, cfg.Profile, log) })
	}
	if rpc != nil {
		parts.start(ctx, stop, "rpc", rpc.Run)
	}
	if cfg.Mine {
		parts.start(ctx, stop, "miner", func(ctx context.Context) error { return mineWhenSynced(ctx, srv, c, m, log) })
	}
	select {
	case <-srv.Started():
		close(n.ready)
	case <-ctx.Done():
	}
	errs := parts.wait()
	if cause := context.Cause(ctx); errors.Is(cause, ErrStopRequested) {
		log.Info("stopping: RPC stop")
	} else if len(errs) == 0 {
		log.Info("stopping", "cause", cause)
	}
	return errors.Join(errs...)
}

// supervisor runs the node's parts: each until ctx ends; the first that
// fails stops the others (through stop) with its error as the cause.
type supervisor struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (s *supervisor) start(ctx context.Context, stop context.CancelCauseFunc, name string, run func(context.Context) error) {
	s.wg.Go(func() {
		if err := run(ctx); err != nil {
			err = fmt.Errorf("%s: %w", name, err)
			stop(err)
			s.mu.Lock()
			s.errs = append(s.errs, err)
			s.mu.Unlock()
		}
	})
}

// wait waits for every part and returns their errors.
func (s *supervisor) wait() []error {
	s.wg.Wait()
	return s.errs
}
