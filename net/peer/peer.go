package peer

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// MinProtocolVersion is the oldest protocol a peer may speak (BIP37's 70001:
// the version message then carries every field Renga requires).
const MinProtocolVersion = 70001

// Tap sees every frame of a connection exactly as it crosses the socket (a
// packet capture recorder). Its methods must not block.
type Tap interface {
	Sent(t time.Time, frame []byte)
	Received(t time.Time, frame []byte)
	Close(t time.Time)
}

// Handler receives a peer's messages after the handshake, on the peer's
// reading goroutine. Ready is called once when the handshake completes, before
// any message; an error from either ends the connection with that cause.
type Handler interface {
	Ready(p *Peer) error
	HandleMessage(p *Peer, msg wire.Message) error
}

// Config is this node's side of every connection. Zero durations take the
// defaults documented on each field.
type Config struct {
	Magic       wire.Magic
	Services    uint64 // advertised; include wire.SFNodeCompress to offer compression
	UserAgent   string // BIP14, e.g. "/renga:0.1.0/"
	Relay       bool   // ask to be sent transaction announcements
	StartHeight func() int32
	// Nonce identifies this node in its version messages, to detect a
	// connection to itself. Zero picks a random one per Peer.
	Nonce uint64

	// Codecs, when not nil and Services includes SFNodeCompress, enable link
	// compression; payloads under MinCompressSize are never compressed.
	Codecs          *Codecs
	MinCompressSize uint32 // default 512

	HandshakeTimeout time.Duration // default 60 s
	PingInterval     time.Duration // default 2 minutes
	PingTimeout      time.Duration // default 20 minutes: also the limit on any read
	WriteTimeout     time.Duration // default 30 s per write
	SendQueue        int           // messages; default 1024

	Tap Tap // optional capture of the frames
	// OnClose, if set, is called once with the first cause of the close,
	// before the connection is closed: what a server must record about the
	// peer (a misbehaving address to discourage) is recorded before the
	// peer sees the close and can reconnect. It runs on whichever goroutine
	// closes the peer, possibly holding that goroutine's locks: it must not
	// call back into the caller of Close.
	OnClose func(cause error)
	Logger  *slog.Logger // nil discards
	Now     func() time.Time
}

func (c Config) withDefaults() Config {
	if c.StartHeight == nil {
		c.StartHeight = func() int32 { return 0 }
	}
	if c.MinCompressSize == 0 {
		c.MinCompressSize = 512
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 60 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 2 * time.Minute
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = 20 * time.Minute
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.SendQueue == 0 {
		c.SendQueue = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Nonce == 0 {
		var b [8]byte
		rand.Read(b[:])
		c.Nonce = binary.LittleEndian.Uint64(b[:])
	}
	return c
}

func (c Config) compression() bool { return c.Codecs != nil && c.Services&wire.SFNodeCompress != 0 }

// Peer is one connection. Its exported methods are safe for concurrent use.
type Peer struct {
	cfg     Config
	conn    net.Conn
	inbound bool
	handler Handler
	log     *slog.Logger
	debug   bool // log every message sent and received (bitcoind's -debug=net)
	local   netip.AddrPort
	remote  netip.AddrPort

	sendq     chan wire.Message
	done      chan struct{}
	pingNow   chan struct{} // a ping to send now, not at the next tick
	closeOnce sync.Once
	cause     error // set once, before done closes

	// Learned in the handshake; written by the reading goroutine before
	// handshaken is set and read-only afterwards.
	version      wire.MsgVersion
	sentVersion  bool
	gotVerack    bool
	wtxidRelay   bool
	addrV2       bool
	handshaken   atomic.Bool
	connectedAt  time.Time
	peerCodecs   atomic.Pointer[wire.MsgSendCmpr] // what the peer accepts
	sendHeaders  atomic.Bool
	feeFilter    atomic.Int64
	pingNonce    atomic.Uint64
	pingSent     atomic.Int64 // unix nanos of the outstanding ping, 0 if none
	lastPong     atomic.Int64 // unix nanos
	pingRTT      atomic.Int64 // nanos
	bytesSent    atomic.Uint64
	bytesRecv    atomic.Uint64
	msgsSent     atomic.Uint64
	msgsRecv     atomic.Uint64
	compressSent atomic.Uint64 // bytes saved by compression
}

// New wraps an established connection. inbound says who dialled.
func New(conn net.Conn, inbound bool, cfg Config, h Handler) *Peer {
	cfg = cfg.withDefaults()
	p := &Peer{
		cfg:     cfg,
		conn:    conn,
		inbound: inbound,
		handler: h,
		sendq:   make(chan wire.Message, cfg.SendQueue),
		pingNow: make(chan struct{}, 1),
		done:    make(chan struct{}),
		local:   AddrPort(conn.LocalAddr()),
		remote:  AddrPort(conn.RemoteAddr()),
	}
	p.log = cfg.Logger.With("peer", p.remote.String(), "inbound", inbound)
	p.debug = p.log.Enabled(context.Background(), slog.LevelDebug)
	return p
}

// AddrPort is a socket address as a netip.AddrPort, with an IPv4 address
// that a dual-stack socket reports as ::ffff:a.b.c.d turned back into plain
// IPv4: the same peer must have one address in logs, in captures and in the
// address book, whichever way the connection was made.
func AddrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	if t, ok := a.(*net.TCPAddr); ok {
		ap = t.AddrPort()
	} else {
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Addr is the peer's address.
func (p *Peer) Addr() netip.AddrPort { return p.remote }

// LocalAddr is our end of the connection.
func (p *Peer) LocalAddr() netip.AddrPort { return p.local }

// Inbound reports whether the peer dialled us.
func (p *Peer) Inbound() bool { return p.inbound }

// Version is the peer's version message (zero before the handshake).
func (p *Peer) Version() wire.MsgVersion {
	if !p.handshaken.Load() {
		return wire.MsgVersion{}
	}
	return p.version
}

// WantsHeaders reports whether the peer sent sendheaders (BIP130).
func (p *Peer) WantsHeaders() bool { return p.sendHeaders.Load() }

// WTxIDRelay reports whether transactions are announced by wtxid (BIP339).
func (p *Peer) WTxIDRelay() bool { return p.handshaken.Load() && p.wtxidRelay }

// FeeFilter is the peer's minimum fee rate for announcements (BIP133).
func (p *Peer) FeeFilter() int64 { return p.feeFilter.Load() }

// Compressing reports whether link compression was negotiated.
func (p *Peer) Compressing() bool { return p.peerCodecs.Load() != nil }

// Done is closed when the connection has ended.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Cause is why the connection ended (nil while it runs).
func (p *Peer) Cause() error {
	select {
	case <-p.done:
		return p.cause
	default:
		return nil
	}
}

// Stats is a snapshot of a connection's counters.
type Stats struct {
	ConnectedAt            time.Time
	BytesSent, BytesRecv   uint64
	MsgsSent, MsgsRecv     uint64
	PingRTT                time.Duration
	CompressionSavedBytes  uint64
	Compressing, Handshake bool
}

// Stats returns the counters.
func (p *Peer) Stats() Stats {
	return Stats{
		ConnectedAt: p.connectedAt, BytesSent: p.bytesSent.Load(), BytesRecv: p.bytesRecv.Load(),
		MsgsSent: p.msgsSent.Load(), MsgsRecv: p.msgsRecv.Load(), PingRTT: time.Duration(p.pingRTT.Load()),
		CompressionSavedBytes: p.compressSent.Load(), Compressing: p.Compressing(), Handshake: p.handshaken.Load(),
	}
}

// Send queues msg for the writer without blocking. If the queue is full the
// peer is too slow and is closed (false is returned then, and after close).
// Before the handshake is complete nothing may be sent: Send returns false.
func (p *Peer) Send(msg wire.Message) bool {
	if !p.handshaken.Load() {
		return false
	}
	return p.enqueue(msg)
}

// enqueue is Send without the handshake check, for the handshake itself.
func (p *Peer) enqueue(msg wire.Message) bool {
	select {
	case <-p.done:
		return false
	default:
	}
	select {
	case p.sendq <- msg:
		return true
	default:
		p.Close(fmt.Errorf("%w (%d messages waiting)", ErrSlowPeer, cap(p.sendq)))
		return false
	}
}

// Close ends the connection with cause (the first cause is kept).
func (p *Peer) Close(cause error) {
	if cause == nil {
		cause = ErrClosed
	}
	p.closeOnce.Do(func() {
		p.cause = cause
		if p.cfg.OnClose != nil {
			p.cfg.OnClose(cause)
		}
		close(p.done)
		_ = p.conn.Close() // unblocks the reader; the connection is being abandoned
	})
}

// Run performs the handshake and reads messages until the connection ends,
// returning why. It starts the writer and waits for it before returning.
func (p *Peer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { p.writeLoop() })
	stop := context.AfterFunc(ctx, func() { p.Close(context.Cause(ctx)) })
	defer stop()

	if p.cfg.Tap != nil {
		defer func() { p.cfg.Tap.Close(p.cfg.Now()) }()
	}
	err := p.readLoop()
	p.Close(err)
	wg.Wait()
	return p.cause
}

func (p *Peer) now() time.Time { return p.cfg.Now() }

// readLoop reads frames until an error; it runs the handshake's receiving
// side and hands later messages to the handler.
func (p *Peer) readLoop() error {
	r := wire.NewReader(bufio.NewReaderSize(p.conn, 64<<10), p.cfg.Magic)
	handshakeDeadline := p.now().Add(p.cfg.HandshakeTimeout)
	if !p.inbound {
		if err := p.sendVersion(); err != nil {
			return err
		}
	}
	for {
		deadline := p.now().Add(p.cfg.PingTimeout)
		if !p.handshaken.Load() {
			deadline = handshakeDeadline
		}
		if err := p.conn.SetReadDeadline(deadline); err != nil {
			return err
		}
		frame, err := r.ReadFrame()
		if err != nil {
			if errors.Is(err, wire.ErrChecksum) {
				p.log.Debug("dropped a message with a bad checksum", "command", frame.Header.Command)
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !p.handshaken.Load() {
				return ErrHandshakeTimeout
			}
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("%w: nothing read for %v", ErrPingTimeout, p.cfg.PingTimeout)
			}
			return err
		}
		size := wire.FrameHeaderSize + len(frame.Payload)
		p.bytesRecv.Add(uint64(size))
		p.msgsRecv.Add(1)
		if p.debug {
			p.log.Debug("received", "command", frame.Header.Command, "bytes", size)
		}
		if p.cfg.Tap != nil {
			p.cfg.Tap.Received(p.now(), wire.AppendRawFrame(make([]byte, 0, size), p.cfg.Magic, frame.Header.Command, frame.Payload))
		}
		msg, err := p.decode(frame.Header.Command, frame.Payload)
		if errors.Is(err, wire.ErrUnknownCommand) {
			p.log.Debug("dropped an unknown command", "command", frame.Header.Command)
			continue
		}
		if err != nil {
			return err
		}
		if !p.handshaken.Load() {
			if err := p.handshakeMessage(msg); err != nil {
				return err
			}
			if p.handshaken.Load() && p.handler != nil {
				if err := p.handler.Ready(p); err != nil {
					return err
				}
			}
			continue
		}
		if err := p.builtin(msg); err != nil {
			return err
		}
		if p.handler != nil {
			if err := p.handler.HandleMessage(p, msg); err != nil {
				return err
			}
		}
	}
}

// decode decodes a payload, unwrapping cmpr.
func (p *Peer) decode(cmd string, payload []byte) (wire.Message, error) {
	msg, err := wire.DecodeMessage(cmd, payload)
	if err != nil {
		return nil, fmt.Errorf("peer: %s: %w", cmd, err)
	}
	c, ok := msg.(*wire.MsgCmpr)
	if !ok {
		return msg, nil
	}
	if !p.handshaken.Load() || !p.cfg.compression() {
		return nil, fmt.Errorf("%w: cmpr without negotiating compression", ErrProtocol)
	}
	inner, err := p.cfg.Codecs.Decompress(c)
	if err != nil {
		return nil, fmt.Errorf("peer: cmpr(%s): %w: %v", c.Inner, wire.ErrMalformed, err)
	}
	msg, err = wire.DecodeMessage(c.Inner, inner)
	if err != nil {
		return nil, fmt.Errorf("peer: cmpr(%s): %w", c.Inner, err)
	}
	return msg, nil
}

// builtin handles what the peer layer itself owns after the handshake.
func (p *Peer) builtin(msg wire.Message) error {
	switch m := msg.(type) {
	case *wire.MsgVersion, *wire.MsgVerack, *wire.MsgWtxidRelay, *wire.MsgSendAddrV2:
		return fmt.Errorf("%w: %s after the handshake", ErrProtocol, msg.Command())
	case *wire.MsgPing:
		p.Send(&wire.MsgPong{Nonce: m.Nonce})
	case *wire.MsgPong:
		if sent := p.pingSent.Load(); sent != 0 && m.Nonce == p.pingNonce.Load() {
			now := p.now().UnixNano()
			p.pingRTT.Store(now - sent)
			p.lastPong.Store(now)
			p.pingSent.Store(0)
		}
	case *wire.MsgSendHeaders:
		p.sendHeaders.Store(true)
	case *wire.MsgFeeFilter:
		if m.FeeRate >= 0 {
			p.feeFilter.Store(m.FeeRate)
		}
	case *wire.MsgSendCmpr:
		if !p.cfg.compression() || p.version.Services&wire.SFNodeCompress == 0 {
			return fmt.Errorf("%w: sendcmpr without the compression service", ErrProtocol)
		}
		p.peerCodecs.Store(m)
	}
	return nil
}
