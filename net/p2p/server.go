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
	"sync/atomic"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/net/addrbook"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// Why the server ends connections itself.
var (
	// ErrDuplicateConnection: a second connection to a node already
	// connected (the other one is kept).
	ErrDuplicateConnection = errors.New("p2p: duplicate connection")
	// errShutdown: the server is stopping.
	errShutdown = errors.New("p2p: shutting down")
	// errEvicted: an inbound connection gave its slot to a newcomer.
	errEvicted = errors.New("p2p: evicted for a new inbound connection")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("p2p: server already ran")
)

// Server is a running node's networking.
type Server struct {
	cfg      Config
	params   *chain.Params
	chain    *chain.Chain
	pool     *mempool.Pool
	log      *slog.Logger
	book     *addrbook.Book
	codecs   *peer.Codecs
	nonce    uint64 // this node's identity: version nonce and discovery instance
	sched    *scheduler
	txreq    *txRequests
	counters counters
	started  chan struct{} // closed once Run listens and dials
	ran      atomic.Bool
	wg       sync.WaitGroup

	mu         sync.Mutex
	peers      map[*peer.Peer]*peerState
	listenAddr netip.AddrPort
	dialing    map[netip.AddrPort]bool
	persistent []netip.AddrPort // --connect, --addnode, RPC addnode: always redialled
	oneShot    []netip.AddrPort // RPC addnode onetry: dialled once by the next round
	discovered map[uint64]discover.Peer
	// dialled is the node (its nonce) found behind each address this
	// server dialled, ourselves included: a node reached both ways (it
	// dialled us, and its listening address is in the book) is not dialled
	// again once known, which would only end in a duplicate connection.
	dialled map[netip.AddrPort]uint64
	disc    *discover.Discovery
}

// New prepares a server; Run starts it.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		params:     cfg.Chain.Params(),
		chain:      cfg.Chain,
		pool:       cfg.Pool,
		log:        cfg.Logger,
		book:       addrbook.New(addrbook.Config{Now: cfg.Now}),
		nonce:      cmp.Or(cfg.Nonce, binary.LittleEndian.Uint64(b[:])|1), // never zero
		sched:      newScheduler(cfg.Chain, cfg.Logger),
		txreq:      newTxRequests(),
		started:    make(chan struct{}),
		peers:      make(map[*peer.Peer]*peerState),
		dialing:    make(map[netip.AddrPort]bool),
		discovered: make(map[uint64]discover.Peer),
		dialled:    make(map[netip.AddrPort]uint64),
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
			s.log.Warn("address book not loaded", "file", cfg.AddrBook, "err", err)
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
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if ip, err := netip.ParseAddr(a); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), defaultPort), nil
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
// and returns after every goroutine it started has stopped. A Server runs
// once.
func (s *Server) Run(ctx context.Context) error {
	if s.ran.Swap(true) {
		return ErrRunning
	}
	var ln net.Listener
	if s.cfg.Listen != "" {
		var err error
		ln, err = s.cfg.Transport.Listen(ctx, s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("p2p: listen on %s: %w", s.cfg.Listen, err)
		}
		s.mu.Lock()
		s.listenAddr = peer.AddrPort(ln.Addr())
		s.mu.Unlock()
		s.log.Info("listening", "addr", s.listenAddr)
		s.wg.Go(func() { s.acceptLoop(ctx, ln) })
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
		p.Close(errShutdown)
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

func (s *Server) acceptLoop(ctx context.Context, ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("accept", "err", err)
			}
			return
		}
		remote := peer.AddrPort(conn.RemoteAddr())
		s.mu.Lock()
		n := 0
		for _, st := range s.peers {
			if st.kind == inbound {
				n++
			}
		}
		s.mu.Unlock()
		switch {
		case s.book.Discouraged(remote.Addr()):
			s.log.Debug("refused a discouraged address", "addr", remote)
			_ = conn.Close()
		case n >= s.cfg.MaxInbound:
			s.log.Debug("refused: too many inbound connections", "addr", remote)
			_ = conn.Close()
		default:
			s.wg.Go(func() { s.runPeer(ctx, conn, inbound, remote) })
		}
	}
}

// runPeer runs one connection to its end.
func (s *Server) runPeer(ctx context.Context, conn net.Conn, kind connKind, addr netip.AddrPort) {
	pc := peer.Config{
		Magic:       s.params.Magic,
		Services:    s.services(),
		UserAgent:   s.cfg.UserAgent,
		Relay:       true,
		StartHeight: func() int32 { return s.chain.Tip().Height },
		Nonce:       s.nonce,
		Codecs:      s.codecs,
		SendBuffer:  s.cfg.SendBuffer,
		Logger:      s.log,
		Now:         s.cfg.Now,
	}
	if s.cfg.Capture != nil {
		local := peer.AddrPort(conn.LocalAddr())
		remote := peer.AddrPort(conn.RemoteAddr())
		pc.Tap = s.cfg.Capture.Conn(s.cfg.Now(), local, remote, kind == inbound)
	}
	pc.OnClose = func(cause error) {
		// Before the connection closes, so that the peer cannot reconnect
		// before it is discouraged. Only the address book's lock is taken:
		// Close may be called with s.mu held.
		if peer.Misbehaved(cause) {
			s.book.Discourage(addr.Addr())
		}
	}
	st := newPeerState(kind, addr, s.cfg.Now())
	p := peer.New(conn, kind == inbound, pc, (*handler)(s))
	st.p = p
	s.mu.Lock()
	s.peers[p] = st
	s.mu.Unlock()

	start := s.cfg.Now()
	// The server closes its peers itself when it stops (errShutdown), so
	// the peer is not given ctx's cancellation as its cause.
	err := p.Run(context.WithoutCancel(ctx))

	s.mu.Lock()
	if kind != inbound && errors.Is(err, peer.ErrSelf) {
		s.rememberDialled(addr, s.nonce)
	}
	delete(s.peers, p)
	s.mu.Unlock()
	s.sched.remove(st)
	s.txreq.remove(st)
	reason := DisconnectReason(err)
	s.counters.disconnected(reason)
	attrs := []any{"peer", addr, "kind", kind.String(), "reason", reason, "err", err}
	if st.isReady() {
		attrs = append(attrs, "connected", s.cfg.Now().Sub(start).Round(time.Millisecond))
	}
	if peer.Misbehaved(err) {
		s.counters.discouraged.Add(1)
		attrs = append(attrs, "discouraged", true)
	}
	s.log.Info("peer disconnected", attrs...)
	if s.cfg.OnPeer != nil {
		s.cfg.OnPeer(PeerEvent{Addr: addr, Inbound: kind == inbound, Reason: reason, Err: err})
	}
	s.schedule() // its blocks go to others
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

// PeerInfo describes a connection (for getpeerinfo and the devnet view).
type PeerInfo struct {
	Addr        netip.AddrPort
	Local       netip.AddrPort
	Inbound     bool
	Kind        string // inbound, outbound-full-relay, manual (bitcoind's connection_type)
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
	states := make([]*peerState, 0, len(s.peers))
	for _, st := range s.peers {
		states = append(states, st)
	}
	s.mu.Unlock()
	var out []PeerInfo
	for _, st := range states {
		p := st.p
		v := p.Version()
		if v.ProtocolVersion == 0 {
			continue
		}
		best, inflight := s.sched.peerInfo(st)
		info := PeerInfo{Addr: p.Addr(), Local: p.LocalAddr(), Inbound: p.Inbound(), Kind: st.kind.String(),
			Version: v.ProtocolVersion, UserAgent: v.UserAgent, Services: v.Services, StartHeight: v.StartHeight,
			InFlight: inflight, Stats: p.Stats(), SyncedTo: -1}
		if best != nil {
			info.SyncedTo = best.Height
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

// AddNode adds an address to keep connected to (or, with once, to dial once).
// The maintenance loop dials it (at once if the server runs, else when it
// starts).
func (s *Server) AddNode(addr string, once bool) error {
	ap, err := resolve(addr, s.params.DefaultPort)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if once {
		s.oneShot = append(s.oneShot, ap)
		return nil
	}
	if !slices.Contains(s.persistent, ap) {
		s.persistent = append(s.persistent, ap)
	}
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
			p.Close(errDisconnectRequested)
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
