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
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/addrbook"
	"github.com/renga-p2p/renga/net/capture"
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
	// errBanned: the user banned the peer's address.
	errBanned = errors.New("p2p: banned")
	// errFeelerDone: a feeler connection completed its handshake.
	errFeelerDone = errors.New("p2p: feeler done")
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
	instance uint64   // this node's LAN discovery instance id
	groupKey [16]byte // salts the network groups eviction protects, so nobody can predict which
	sched    *scheduler
	txreq    *txRequests
	counters counters
	started  chan struct{} // closed once Run listens and dials
	ran      atomic.Bool
	port     atomic.Uint32 // the listening port, set once Run listens
	connSeq  atomic.Uint64
	// captureNew: connections are recorded in message-capture files from
	// their start (Config.CaptureMessages, then SetMessageCapture for all).
	captureNew atomic.Bool
	wg         sync.WaitGroup

	extra extraPool // recent transactions the mempool did not keep, for compact blocks
	hbMu  sync.Mutex
	hb    []*peerState // the peers asked to push compact blocks, newest last
	// rebuilding are the blocks whose compact form is being rebuilt now.
	rebuilding map[sha256d.Hash]bool

	discouraged *discouraged
	bans        *bans
	manual      atomic.Pointer[[]netip.Addr] // the manual peers' addresses (see mayDiscourage)
	locals      localAddrs
	addrCache   addrCache

	mu         sync.Mutex
	peers      map[*peer.Peer]*peerState
	listenAddr netip.AddrPort
	dialing    map[netip.AddrPort]connKind
	persistent []netip.AddrPort // --connect, --addnode, RPC addnode: always redialled
	oneShot    []netip.AddrPort // RPC addnode onetry: dialled once by the next round
	anchors    []netip.AddrPort // block-relay peers of the last run, dialled first
	discovered map[uint64]discover.Peer
	// selfAddrs are addresses that turned out to be our own (an outbound
	// connection whose version nonce came back to us inbound).
	selfAddrs map[netip.AddrPort]bool
	backoffs  map[netip.AddrPort]backoff
	disc      *discover.Discovery
}

// New prepares a server; Run starts it.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:         cfg,
		params:      cfg.Chain.Params(),
		chain:       cfg.Chain,
		pool:        cfg.Pool,
		log:         cfg.Logger,
		book:        addrbook.New(addrbook.Config{Now: cfg.Now, Logger: cfg.Logger.With("part", "addrbook")}),
		instance:    cmp.Or(cfg.Nonce, binary.LittleEndian.Uint64(b[:8])|1), // never zero
		sched:       newScheduler(cfg.Chain, cfg.Logger),
		txreq:       newTxRequests(),
		started:     make(chan struct{}),
		discouraged: newDiscouraged(),
		peers:       make(map[*peer.Peer]*peerState),
		dialing:     make(map[netip.AddrPort]connKind),
		discovered:  make(map[uint64]discover.Peer),
		selfAddrs:   make(map[netip.AddrPort]bool),
		backoffs:    make(map[netip.AddrPort]backoff),
	}
	copy(s.groupKey[:], b[8:])
	s.captureNew.Store(cfg.CaptureMessages)
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
	s.setManual()
	if cfg.AddrBook != "" {
		// A corrupt file is set aside and logged by the book itself; an
		// error here is the disk's.
		if err := s.book.Load(cfg.AddrBook); err != nil {
			s.log.Warn("address book not loaded", "file", cfg.AddrBook, "err", err)
		}
	}
	if cfg.Anchors != "" {
		anchors, err := s.book.LoadAnchors(cfg.Anchors)
		if err != nil {
			s.log.Warn("anchors not loaded", "file", cfg.Anchors, "err", err)
		}
		s.anchors = anchors
	}
	var err error
	if s.bans, err = loadBans(cfg.BanList, cfg.Now); err != nil {
		// Refusing to start would lose nothing the user can't redo, but
		// starting without their bans would silently drop them: say so
		// loudly, keep going, and do not overwrite the file until a ban
		// changes.
		s.log.Error("ban list not loaded: the node runs without those bans", "file", cfg.BanList, "err", err)
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

// Instance is this node's LAN discovery instance id.
func (s *Server) Instance() uint64 { return s.instance }

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
		s.port.Store(uint32(s.listenAddr.Port()))
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
	var anchors []netip.AddrPort
	s.mu.Lock()
	for p, st := range s.peers {
		if st.kind == blockRelay && st.isReady() {
			anchors = append(anchors, st.addr)
		}
		p.Close(errShutdown)
	}
	s.mu.Unlock()
	s.wg.Wait()
	var saveErr error
	if s.cfg.AddrBook != "" {
		saveErr = s.book.Save(s.cfg.AddrBook)
	}
	if s.cfg.Anchors != "" {
		saveErr = errors.Join(saveErr, s.book.SaveAnchors(s.cfg.Anchors, anchors))
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
		// Also a known address, as if we had found it ourselves.
		s.book.Add(netip.Addr{}, 0, addrbook.Entry{Addr: e.Peer.Addr, Services: e.Peer.Services, LastSeen: s.cfg.Now()})
	case discover.PeerExpired:
		delete(s.discovered, e.Peer.Instance)
	}
}

// Inbound admission.
const (
	// maxInboundPerGroup bounds the inbound connections from one public
	// network group (/16, /32 for IPv6), so that one attacker's range
	// cannot hold every slot; local addresses have no such limit.
	maxInboundPerGroup = 8
)

func (s *Server) acceptLoop(ctx context.Context, ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("accept", "err", err)
			}
			return
		}
		st, why := s.admit(conn)
		if st == nil {
			s.log.Debug("refused an inbound connection", "addr", peer.AddrPort(conn.RemoteAddr()), "why", why)
			_ = conn.Close()
			continue
		}
		s.wg.Go(func() { s.runPeer(ctx, st) })
	}
}

// admit decides whether an inbound connection gets a slot, and registers
// it under the same lock as the count (a burst of connections cannot
// overshoot the limit). When the slots are full it evicts one inbound peer
// for it (selectEvict), or refuses it if every one is protected.
func (s *Server) admit(conn net.Conn) (*peerState, string) {
	remote := peer.AddrPort(conn.RemoteAddr())
	ip := remote.Addr()
	if s.bans.banned(ip) {
		return nil, "banned"
	}
	group := addrbook.GroupOf(ip)
	now := s.cfg.Now()
	local := s.locals.has(ip, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	var cands []evictCandidate
	sameGroup := 0
	for _, st := range s.peers {
		if st.kind != inbound {
			continue
		}
		cands = append(cands, s.candidate(st, now))
		if addrbook.GroupOf(st.addr.Addr()) == group {
			sameGroup++
		}
	}
	if addrbook.IsRoutable(ip) && !local && sameGroup >= maxInboundPerGroup {
		return nil, "too many inbound connections from its network group"
	}
	if len(cands) >= s.cfg.MaxInbound {
		victim := selectEvict(cands, now)
		if victim == nil {
			return nil, "inbound slots full, every peer protected"
		}
		victim.p.Close(errEvicted)
		delete(s.peers, victim.p) // its slot is the newcomer's from now
	}
	st := s.newPeer(conn, inbound, remote)
	s.peers[st.p] = st
	return st, ""
}

// candidate is what eviction knows of an inbound peer. s.mu is held.
func (s *Server) candidate(st *peerState, now time.Time) evictCandidate {
	st.mu.Lock()
	c := evictCandidate{st: st, ready: st.ready, connected: st.connected, lastBlock: st.lastBlock, lastTx: st.lastTx}
	st.mu.Unlock()
	ip := st.addr.Addr()
	c.group = addrbook.GroupOf(ip)
	c.keyedGroup = keyedGroup(s.groupKey, c.group)
	c.local = s.locals.has(ip, now)
	c.discouraged = s.discouraged.has(ip)
	if st.p != nil {
		c.ready = c.ready || st.p.Talking() // it is busy with its handshake
		c.minPing = st.p.Stats().MinPingRTT
		c.relayTxs = st.p.Version().Relay
	}
	return c
}

// newPeer wraps a connection of this kind (not yet registered).
func (s *Server) newPeer(conn net.Conn, kind connKind, addr netip.AddrPort) *peerState {
	st := newPeerState(kind, addr, s.cfg.Now())
	st.seq = s.connSeq.Add(1)
	st.hsync = s.chain.NewHeaderSync()
	pc := peer.Config{
		Magic:       s.params.Magic,
		Services:    s.services(),
		UserAgent:   s.cfg.UserAgent,
		Relay:       st.relaysTxs(),
		StartHeight: func() int32 { return s.chain.Tip().Height },
		IsOwnNonce:  s.ownNonce,
		ListenPort:  s.listenPort(),
		Codecs:      s.codecs,
		SendBuffer:  s.cfg.SendBuffer,
		Logger:      s.log,
		Now:         s.cfg.Now,
	}
	local, remote := peer.AddrPort(conn.LocalAddr()), peer.AddrPort(conn.RemoteAddr())
	var pcap, extra capture.Tap
	if s.cfg.Capture != nil {
		pcap = s.cfg.Capture.Conn(s.cfg.Now(), local, remote, kind == inbound)
	}
	if s.cfg.Tap != nil {
		if t := s.cfg.Tap(s.cfg.Now(), local, remote, kind == inbound); t != nil {
			extra = t
		}
	}
	st.msgs = s.cfg.MessageCapture.Conn(remote, s.captureNew.Load())
	if tap := capture.MultiTap(pcap, extra, st.msgs); tap != nil {
		pc.Tap = tap
	}
	pc.OnClose = func(cause error) {
		// Before the connection closes, so that the peer cannot reconnect
		// before it is discouraged. Close may be called with s.mu held:
		// it is not taken here.
		if peer.Misbehaved(cause) && s.mayDiscourage(st) {
			s.discouraged.add(addr.Addr())
		}
	}
	st.p = peer.New(conn, kind == inbound, pc, (*handler)(s))
	return st
}

// mayDiscourage reports whether a misbehaving peer's address is
// discouraged: never a local address (every process of this machine has
// it) and never a manual peer's, which the user chose (design.md §6). It
// takes no server lock (see newPeer's OnClose).
func (s *Server) mayDiscourage(st *peerState) bool {
	ip := st.addr.Addr()
	if st.kind == manual || s.locals.has(ip, s.cfg.Now()) {
		return false
	}
	return !slices.ContainsFunc(s.manualIPs(), func(a netip.Addr) bool { return a == ip })
}

// manualIPs are the addresses of the manual peers, kept apart from the
// server's lock for mayDiscourage.
func (s *Server) manualIPs() []netip.Addr {
	p := s.manual.Load()
	if p == nil {
		return nil
	}
	return *p
}

// setManual records the manual peers' addresses. s.mu is held.
func (s *Server) setManual() {
	ips := make([]netip.Addr, 0, len(s.persistent))
	for _, a := range s.persistent {
		ips = append(ips, a.Addr())
	}
	s.manual.Store(&ips)
}

// ownNonce reports whether a version nonce is one of our outbound
// connections' (the connection came back to us), and if so closes that
// connection and remembers its address as ours.
func (s *Server) ownNonce(nonce uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, st := range s.peers {
		if st.outbound() && p.Nonce() == nonce {
			s.selfAddrs[st.addr] = true
			p.Close(peer.ErrSelf)
			return true
		}
	}
	return false
}

// listenPort is the port we accept connections on (0 if none). It takes
// no lock: admit calls newPeer with s.mu held.
func (s *Server) listenPort() uint16 { return uint16(s.port.Load()) }

// runPeer runs one registered connection to its end.
func (s *Server) runPeer(ctx context.Context, st *peerState) {
	p, kind, addr := st.p, st.kind, st.addr
	// The server closes its peers itself when it stops (errShutdown), so
	// the peer is not given ctx's cancellation as its cause.
	err := p.Run(context.WithoutCancel(ctx))
	now := s.cfg.Now()
	ready := st.isReady()
	s.mu.Lock()
	delete(s.peers, p)
	if kind != inbound && kind != manual && !ready {
		s.failed(addr, now) // it did not talk: try others first
	}
	s.mu.Unlock()
	if kind != inbound && ready {
		s.book.Connected(addr)
	}
	s.sched.remove(st)
	s.txreq.remove(st)
	st.hsync.Close() // its share of the low-work headers held
	s.forgetHighBandwidth(st)
	reason := DisconnectReason(err)
	s.counters.disconnected(reason)
	attrs := []any{"peer", addr, "kind", kind.String(), "reason", reason, "err", err}
	if ready {
		attrs = append(attrs, "connected", now.Sub(st.connected).Round(time.Millisecond))
	}
	if peer.Misbehaved(err) {
		s.counters.misbehaved.Add(1)
		attrs = append(attrs, "discouraged", s.discouraged.has(addr.Addr()))
	}
	s.log.Info("peer disconnected", attrs...)
	if s.cfg.OnPeer != nil {
		s.cfg.OnPeer(PeerEvent{Addr: addr, Inbound: kind == inbound, Reason: reason, Err: err})
	}
	s.schedule() // its blocks go to others
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
	// Compact: it speaks BIP152 version 2; HBTo: we asked it to push new
	// blocks as compact blocks; HBFrom: it asked us (getpeerinfo's
	// bip152_hb_to and bip152_hb_from).
	Compact, HBTo, HBFrom bool
	// CapturingMessages: the connection is being recorded in message-capture files.
	CapturingMessages bool
	Stats             peer.Stats
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
		speaks, hbFrom := st.compactInfo()
		info := PeerInfo{Addr: p.Addr(), Local: p.LocalAddr(), Inbound: p.Inbound(), Kind: st.kind.String(),
			Version: v.ProtocolVersion, UserAgent: v.UserAgent, Services: v.Services, StartHeight: v.StartHeight,
			InFlight: inflight, Stats: p.Stats(), SyncedTo: -1, Compact: speaks, HBFrom: hbFrom, HBTo: s.isHighBandwidth(st),
			CapturingMessages: st.msgs.Enabled()}
		if best != nil {
			info.SyncedTo = best.Height
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return a.Stats.ConnectedAt.Compare(b.Stats.ConnectedAt) })
	return out
}

// Addresses returns up to n known addresses at random (all of them when n
// is 0), for getnodeaddresses.
func (s *Server) Addresses(n int) []addrbook.Entry {
	if n <= 0 {
		fresh, tried := s.book.Len()
		n = fresh + tried
	}
	return s.book.GetAddr(n, 100)
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
		s.setManual()
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
	s.setManual()
	return nil
}

// Disconnect closes connections to addr (an address, or an IP for all ports).
func (s *Server) Disconnect(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, st := range s.peers {
		if st.named(addr) {
			p.Close(errDisconnectRequested)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("p2p: not connected to %s", addr)
	}
	return nil
}

// ErrNoMessageCapture: the server has no Config.MessageCapture to record in.
var ErrNoMessageCapture = errors.New("p2p: message capture is not configured")

// SetMessageCapture switches recording in message-capture files on or off:
// for the connections to addr (matched as Disconnect matches it), or, with
// addr "", for every connection now and every later one. It returns the
// addresses switched.
func (s *Server) SetMessageCapture(addr string, on bool) ([]netip.AddrPort, error) {
	if s.cfg.MessageCapture == nil {
		return nil, ErrNoMessageCapture
	}
	if addr == "" {
		s.captureNew.Store(on)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []netip.AddrPort
	for p, st := range s.peers {
		if addr == "" || st.named(addr) {
			st.msgs.SetEnabled(on)
			out = append(out, p.Addr())
		}
	}
	if addr != "" && len(out) == 0 {
		return nil, fmt.Errorf("p2p: not connected to %s", addr)
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return out, nil
}

// MessageCaptureDir is where message-capture files go ("" without them).
func (s *Server) MessageCaptureDir() string { return s.cfg.MessageCapture.Dir() }

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

// Ban bans an address or subnet for d (RPC setban add): connections from it
// are closed now and refused until then, and it is never dialled. The ban
// persists in Config.BanList.
func (s *Server) Ban(subnet netip.Prefix, d time.Duration) error {
	subnet = subnet.Masked()
	if err := s.bans.add(subnet, d); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.peers {
		if subnet.Contains(p.Addr().Addr()) {
			p.Close(errBanned)
		}
	}
	return nil
}

// Unban lifts a ban (RPC setban remove); false if there was none.
func (s *Server) Unban(subnet netip.Prefix) (bool, error) { return s.bans.remove(subnet.Masked()) }

// ClearBans lifts every ban (RPC clearbanned).
func (s *Server) ClearBans() error { return s.bans.clear() }

// Bans lists the bans in force (RPC listbanned).
func (s *Server) Bans() []Ban { return s.bans.all() }
