package p2p

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/addrbook"
	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/net/sock"
	"github.com/renga-p2p/renga/wire"
)

// Protocol limits of the sync (design.md §6).
const (
	DownloadWindow = 1024
	MaxInFlight    = 16
	// StallTimeout is the first stall timeout; it doubles on every stall up
	// to MaxStallTimeout and shrinks again as blocks arrive.
	StallTimeout    = 2 * time.Second
	MaxStallTimeout = 64 * time.Second
)

// Config configures a Server. Zero values take the defaults documented on
// each field.
type Config struct {
	Chain *chain.Chain
	Pool  *mempool.Pool

	// Listen is the address to accept connections on ("" for none).
	Listen string
	// Nonce is the node's identity (version nonce and discovery instance);
	// zero, the usual, picks a random one. Tests fix it to order two nodes.
	Nonce uint64
	// Connect, when not empty, is the only addresses to dial (and they are
	// always redialled); Discovery and the address book are not used.
	Connect []string
	// AddNode are addresses to keep connected to, besides the others.
	AddNode []string
	// MaxOutbound is the number of connections to dial (default 8);
	// MaxInbound the number to accept (default 117).
	MaxOutbound, MaxInbound int

	// Discovery, if not nil, runs LAN discovery with this configuration;
	// the server fills in the network, port, services, height, instance and
	// event fields.
	Discovery *discover.Config

	// Compression offers link compression to peers that offer it too.
	Compression bool
	// UserAgent is sent in version messages (default "/renga/").
	UserAgent string
	// AddrBook is where known addresses are kept between runs ("" for none).
	AddrBook string
	// Capture, if not nil, records every frame of every connection.
	Capture *capture.Recorder

	// TxBatchInterval is the mean time between transaction announcements to
	// a peer (default 500 ms; each wait is drawn at random).
	TxBatchInterval time.Duration

	Logger *slog.Logger
	Now    func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxOutbound == 0 {
		c.MaxOutbound = 8
	}
	if c.MaxInbound == 0 {
		c.MaxInbound = 117
	}
	if c.UserAgent == "" {
		c.UserAgent = "/renga/"
	}
	if c.TxBatchInterval == 0 {
		c.TxBatchInterval = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Server is a running node's networking.
type Server struct {
	cfg    Config
	params *chain.Params
	chain  *chain.Chain
	pool   *mempool.Pool
	log    *slog.Logger
	book   *addrbook.Book
	codecs *peer.Codecs
	nonce  uint64 // this node's identity: version nonce and discovery instance
	ctx    context.Context
	wg     sync.WaitGroup

	mu         sync.Mutex
	peers      map[*peer.Peer]*peerState
	listenAddr netip.AddrPort
	dialing    map[netip.AddrPort]bool
	persistent []netip.AddrPort // --connect or --addnode: always redialled
	discovered map[uint64]discover.Peer
	// dialled is the node (its nonce) found behind each address this
	// server dialled, ourselves included: a node reached both ways (it
	// dialled us, and its listening address is in the book) is not dialled
	// again once known, which would only end in a duplicate connection.
	dialled      map[netip.AddrPort]uint64
	inflight     map[sha256d.Hash]*request
	stallTimeout time.Duration
	// blockedSince is when the download window became blocked: a peer
	// free for more requests, nothing left in the window to ask for, and
	// the window's first missing block out at a peer. Zero when not.
	blockedSince time.Time
	stats        Stats
	disc         *discover.Discovery
	started      chan struct{} // closed once Run listens and dials
}

// New prepares a server; Run starts it.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.Chain == nil {
		return nil, errors.New("p2p: no chain")
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:          cfg,
		params:       cfg.Chain.Params(),
		chain:        cfg.Chain,
		pool:         cfg.Pool,
		log:          cfg.Logger,
		book:         addrbook.New(addrbook.Config{Now: cfg.Now}),
		nonce:        cmp.Or(cfg.Nonce, binary.LittleEndian.Uint64(b[:])|1), // never zero
		peers:        make(map[*peer.Peer]*peerState),
		dialing:      make(map[netip.AddrPort]bool),
		discovered:   make(map[uint64]discover.Peer),
		dialled:      make(map[netip.AddrPort]uint64),
		inflight:     make(map[sha256d.Hash]*request),
		stallTimeout: StallTimeout,
		started:      make(chan struct{}),
	}
	if cfg.Compression {
		codecs, err := peer.NewCodecs()
		if err != nil {
			return nil, err
		}
		s.codecs = codecs
	}
	for _, list := range [][]string{cfg.Connect, cfg.AddNode} {
		for _, a := range list {
			ap, err := resolve(a, s.params.DefaultPort)
			if err != nil {
				return nil, err
			}
			s.persistent = append(s.persistent, ap)
		}
	}
	if cfg.AddrBook != "" {
		if err := s.book.Load(cfg.AddrBook); err != nil {
			s.log.Warn("address book not loaded", "err", err)
		}
	}
	s.chain.Subscribe(s.onChainEvent)
	if s.pool != nil {
		s.pool.OnAccept(s.onTxAccepted)
	}
	return s, nil
}

// resolve parses "host:port" or "host" (with the network's port).
func resolve(a string, defaultPort uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(a); err == nil {
		return ap, nil
	}
	if ip, err := netip.ParseAddr(a); err == nil {
		return netip.AddrPortFrom(ip, defaultPort), nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		host, port = a, fmt.Sprint(defaultPort)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("p2p: address %q: %v", a, err)
	}
	var p uint16
	if _, err := fmt.Sscan(port, &p); err != nil {
		return netip.AddrPort{}, fmt.Errorf("p2p: address %q: bad port", a)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), p), nil
}

// Started is closed once Run is listening (ListenAddr is then known).
func (s *Server) Started() <-chan struct{} { return s.started }

// Nonce is this node's identity (its version nonce and discovery instance).
func (s *Server) Nonce() uint64 { return s.nonce }

// ListenAddr is the address the server accepts on (once Run has started).
func (s *Server) ListenAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listenAddr
}

// services are what this node offers.
func (s *Server) services() uint64 {
	sv := wire.SFNodeNetwork | wire.SFNodeWitness
	if s.codecs != nil {
		sv |= wire.SFNodeCompress
	}
	return sv
}

// Run listens, dials and serves until ctx ends, then closes every connection
// and returns after every goroutine it started has stopped.
func (s *Server) Run(ctx context.Context) error {
	s.ctx = ctx
	var ln *net.TCPListener
	if s.cfg.Listen != "" {
		var err error
		ln, err = sock.ListenTCP(ctx, "tcp", s.cfg.Listen, sock.TCPOptions{})
		if err != nil {
			return fmt.Errorf("p2p: listen on %s: %w", s.cfg.Listen, err)
		}
		s.mu.Lock()
		s.listenAddr = ln.Addr().(*net.TCPAddr).AddrPort()
		s.mu.Unlock()
		s.log.Info("listening", "addr", s.listenAddr)
		s.wg.Go(func() { s.acceptLoop(ln) })
	}
	if s.cfg.Discovery != nil && len(s.cfg.Connect) == 0 {
		if err := s.startDiscovery(ctx); err != nil {
			if ln != nil {
				err = errors.Join(err, ln.Close())
			}
			s.wg.Wait()
			return err
		}
	}
	s.wg.Go(func() { s.maintain(ctx) })
	close(s.started)
	<-ctx.Done()
	var closeErr error
	if ln != nil {
		closeErr = ln.Close()
	}
	s.mu.Lock()
	for p := range s.peers {
		p.Close(context.Cause(ctx))
	}
	s.mu.Unlock()
	s.wg.Wait()
	var saveErr error
	if s.cfg.AddrBook != "" {
		saveErr = s.book.Save(s.cfg.AddrBook)
	}
	return errors.Join(closeErr, saveErr, s.chain.Flush())
}

// onDiscovery learns of LAN peers; the maintenance loop dials them.
func (s *Server) onDiscovery(e discover.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Kind {
	case discover.PeerNew, discover.PeerUpdated:
		s.discovered[e.Peer.Instance] = e.Peer
	case discover.PeerExpired:
		delete(s.discovered, e.Peer.Instance)
	}
}

func (s *Server) acceptLoop(ln *net.TCPListener) {
	for {
		conn, err := ln.AcceptTCP()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("accept", "err", err)
			}
			return
		}
		remote := peer.AddrPort(conn.RemoteAddr())
		s.mu.Lock()
		inbound := 0
		for _, st := range s.peers {
			if !st.outbound {
				inbound++
			}
		}
		s.mu.Unlock()
		switch {
		case s.book.Discouraged(remote.Addr()):
			s.log.Debug("refused a discouraged address", "addr", remote)
			_ = conn.Close()
		case inbound >= s.cfg.MaxInbound:
			s.log.Debug("refused: too many inbound connections", "addr", remote)
			_ = conn.Close()
		default:
			s.wg.Go(func() { s.runPeer(conn, false, remote, false) })
		}
	}
}

// dial connects to addr in the background (once at a time per address).
func (s *Server) dial(addr netip.AddrPort, persistent bool) {
	s.mu.Lock()
	if s.dialing[addr] || s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	s.dialing[addr] = true
	s.stats.Dials++
	s.mu.Unlock()
	s.book.Attempt(addr)
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.dialing, addr)
			s.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		conn, err := sock.DialTCP(ctx, "tcp", addr.String(), sock.TCPOptions{})
		cancel()
		if err != nil {
			s.book.Failed(addr)
			s.log.Debug("dial failed", "addr", addr, "err", err)
			return
		}
		s.runPeer(conn, true, addr, persistent)
	})
}

// runPeer runs one connection to its end.
func (s *Server) runPeer(conn net.Conn, outbound bool, addr netip.AddrPort, persistent bool) {
	pc := peer.Config{
		Magic:       s.params.Magic,
		Services:    s.services(),
		UserAgent:   s.cfg.UserAgent,
		Relay:       true,
		StartHeight: func() int32 { return s.chain.Tip().Height },
		Nonce:       s.nonce,
		Codecs:      s.codecs,
		Logger:      s.log,
		Now:         s.cfg.Now,
	}
	if s.cfg.Capture != nil {
		local := peer.AddrPort(conn.LocalAddr())
		remote := peer.AddrPort(conn.RemoteAddr())
		pc.Tap = s.cfg.Capture.Conn(s.cfg.Now(), local, remote, !outbound)
	}
	pc.OnClose = func(cause error) {
		// Before the connection closes, so that the peer cannot reconnect
		// before it is discouraged. Only the address book's lock is taken:
		// Close may be called with s.mu held.
		if peer.Misbehaved(cause) {
			s.book.Discourage(addr.Addr())
		}
	}
	st := newPeerState(outbound, addr, persistent, s.cfg.Now())
	p := peer.New(conn, !outbound, pc, s)
	st.p = p
	s.mu.Lock()
	s.peers[p] = st
	s.mu.Unlock()

	err := p.Run(s.ctx)

	s.mu.Lock()
	if outbound && errors.Is(err, peer.ErrSelf) {
		s.rememberDialled(addr, s.nonce)
	}
	delete(s.peers, p)
	for h, r := range s.inflight {
		if r.peer == st {
			delete(s.inflight, h)
		}
	}
	s.mu.Unlock()
	if peer.Misbehaved(err) {
		s.log.Info("peer misbehaved; its address is discouraged", "peer", addr, "err", err)
		s.mu.Lock()
		s.stats.Discouraged++
		s.mu.Unlock()
	} else {
		s.log.Debug("peer disconnected", "peer", addr, "err", err)
	}
	s.schedule() // its blocks go to others
}

// maintain keeps the connections and the downloads going.
func (s *Server) maintain(ctx context.Context) {
	fast := time.NewTicker(100 * time.Millisecond)
	slow := time.NewTicker(time.Second)
	defer fast.Stop()
	defer slow.Stop()
	s.connect()
	for {
		select {
		case <-ctx.Done():
			return
		case <-fast.C:
			s.flushTxAnnouncements()
			s.schedule()
		case <-slow.C:
			s.connect()
			if err := s.chain.Flush(); err != nil {
				s.log.Error("chain flush", "err", err)
			}
		}
	}
}

// connect dials whatever the policy says is missing: the persistent
// addresses, then discovered peers and known addresses up to MaxOutbound.
func (s *Server) connect() {
	s.mu.Lock()
	connected := map[netip.AddrPort]bool{}
	nonces := map[uint64]bool{}
	outbound := 0
	for _, st := range s.peers {
		connected[st.addr] = true
		if v := st.p.Version(); v.Nonce != 0 {
			nonces[v.Nonce] = true
		}
		if st.outbound {
			outbound++
		}
	}
	// Addresses of nodes we are connected to by another address (an
	// inbound connection comes from an ephemeral port), and our own.
	nonces[s.nonce] = true
	for a, id := range s.dialled {
		if nonces[id] {
			connected[a] = true
		}
	}
	for id, d := range s.discovered {
		if nonces[id] {
			connected[d.Addr] = true
		}
	}
	var dials []netip.AddrPort
	for _, a := range s.persistent {
		if !connected[a] && !s.dialing[a] {
			dials = append(dials, a)
		}
	}
	var extra []netip.AddrPort
	if len(s.cfg.Connect) == 0 {
		// LAN peers first, in a stable order, then the address book.
		ids := make([]uint64, 0, len(s.discovered))
		for id := range s.discovered {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			d := s.discovered[id]
			if !nonces[id] && !connected[d.Addr] && !s.dialing[d.Addr] {
				extra = append(extra, d.Addr)
			}
		}
	}
	room := s.cfg.MaxOutbound - outbound - len(s.dialing)
	s.mu.Unlock()

	for _, a := range dials {
		s.dial(a, true)
	}
	for _, a := range extra {
		if room <= 0 {
			return
		}
		if !s.book.Discouraged(a.Addr()) {
			s.dial(a, false)
			room--
		}
	}
	for ; room > 0 && len(s.cfg.Connect) == 0; room-- {
		a, ok := s.book.Pick(func(a netip.AddrPort) bool { return connected[a] || a == s.ListenAddr() })
		if !ok {
			return
		}
		connected[a] = true
		s.dial(a, false)
	}
}

// maxDialled bounds the memory of who is behind dialled addresses; past it
// the memory starts again (a forgotten address costs one duplicate dial).
const maxDialled = 4096

// rememberDialled records that the node with this nonce answered at addr.
// s.mu must be held.
func (s *Server) rememberDialled(addr netip.AddrPort, nonce uint64) {
	if len(s.dialled) >= maxDialled {
		clear(s.dialled)
	}
	s.dialled[addr] = nonce
}

// Stats counts what the server has done.
type Stats struct {
	BlocksReceived, BlocksRequested, BlocksServed uint64
	TxsReceived, TxsServed                        uint64
	Stalls, Discouraged                           uint64
	Dials                                         uint64 // outbound connection attempts
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// PeerInfo describes a connection (for getpeerinfo and the devnet view).
type PeerInfo struct {
	Addr        netip.AddrPort
	Local       netip.AddrPort
	Inbound     bool
	Version     int32
	UserAgent   string
	Services    uint64
	StartHeight int32
	SyncedTo    int32 // the best header we know the peer has
	InFlight    int
	Stats       peer.Stats
}

// Peers lists the connections that completed their handshake.
func (s *Server) Peers() []PeerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PeerInfo
	for p, st := range s.peers {
		v := p.Version()
		if v.ProtocolVersion == 0 {
			continue
		}
		info := PeerInfo{Addr: p.Addr(), Local: p.LocalAddr(), Inbound: p.Inbound(), Version: v.ProtocolVersion,
			UserAgent: v.UserAgent, Services: v.Services, StartHeight: v.StartHeight, InFlight: st.inflight,
			Stats: p.Stats(), SyncedTo: -1}
		if st.best != nil {
			info.SyncedTo = st.best.Height
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return a.Stats.ConnectedAt.Compare(b.Stats.ConnectedAt) })
	return out
}

// Addresses returns up to n known addresses seen in the last day, at random
// (all of them when n is 0), for getnodeaddresses.
func (s *Server) Addresses(n int) []addrbook.Entry {
	if n <= 0 {
		n = s.book.Len()
	}
	return s.book.Sample(n)
}

// AddNode adds an address to keep connected to (or, with once, dials it once).
func (s *Server) AddNode(addr string, once bool) error {
	ap, err := resolve(addr, s.params.DefaultPort)
	if err != nil {
		return err
	}
	if once {
		s.dial(ap, false)
		return nil
	}
	s.mu.Lock()
	if !slices.Contains(s.persistent, ap) {
		s.persistent = append(s.persistent, ap)
	}
	s.mu.Unlock()
	s.dial(ap, true)
	return nil
}

// RemoveNode stops keeping addr connected.
func (s *Server) RemoveNode(addr string) error {
	ap, err := resolve(addr, s.params.DefaultPort)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.persistent = slices.DeleteFunc(s.persistent, func(a netip.AddrPort) bool { return a == ap })
	return nil
}

// Disconnect closes connections to addr (an address, or an IP for all ports).
func (s *Server) Disconnect(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, st := range s.peers {
		if p.Addr().String() == addr || p.Addr().Addr().String() == addr || st.addr.String() == addr {
			p.Close(errors.New("p2p: disconnected by request"))
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("p2p: not connected to %s", addr)
	}
	return nil
}

// Discovery returns LAN discovery's statistics and peers (zero without it).
func (s *Server) Discovery() (discover.Stats, []discover.Peer) {
	s.mu.Lock()
	d := s.disc
	s.mu.Unlock()
	if d == nil {
		return discover.Stats{}, nil
	}
	return d.Stats(), d.Peers()
}
