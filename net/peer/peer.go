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

// DefaultSendBuffer is the default Config.SendBuffer: 4 MiB, one largest
// message, in the range of Bitcoin Core's send buffer (-maxsendbuffer).
const DefaultSendBuffer = 4 << 20

// hardLimit is the most a send queue may hold, whatever is pushed into it
// while the reader is paused (announcements from other goroutines): past
// it the peer is closed as too slow ([ErrSlowPeer]). Replies never get
// there, since the peer's requests are not read while the buffer is full.
func (c Config) hardLimit() int { return 2*c.SendBuffer + wire.FrameHeaderSize + wire.MaxMessageSize }

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
	// Nonce is sent in our version message, to detect a connection to
	// ourselves. Zero, the usual, picks a random one for this connection.
	Nonce uint64
	// IsOwnNonce, if set, reports whether a nonce a peer sent in its
	// version is one we sent on another connection (the server knows its
	// outbound connections' nonces): then the connection is to ourselves
	// ([ErrSelf]). Without it, only this connection's own nonce counts.
	IsOwnNonce func(uint64) bool
	// ListenPort, if not zero, is sent as our version's addr_from port:
	// where we accept connections, so that a node we dial can tell that
	// our later inbound connection comes from the node at that port.
	ListenPort uint16

	// Codecs, when not nil and Services includes SFNodeCompress, enable link
	// compression; payloads under MinCompressSize are never compressed.
	Codecs          *Codecs
	MinCompressSize uint32 // default 512

	HandshakeTimeout time.Duration // default 60 s
	PingInterval     time.Duration // default 2 minutes
	PingTimeout      time.Duration // default 20 minutes: also the limit on any read
	// WriteTimeout is how long a write may go without progress (the peer
	// reading nothing) before the connection is dropped; default 30 s.
	WriteTimeout time.Duration
	// SendBuffer bounds, in bytes, what waits to be written before the
	// peer's further messages are read (default DefaultSendBuffer). A peer
	// that asks for more than it reads is served at the pace it reads,
	// never dropped for asking; see the package doc.
	SendBuffer int

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
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
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

	sendq     sendQueue
	done      chan struct{}
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
	gotVersion   atomic.Bool // its version arrived (the handshake may not be over)
	connectedAt  time.Time
	peerCodecs   atomic.Pointer[wire.MsgSendCmpr] // what the peer accepts
	sendHeaders  atomic.Bool
	feeFilter    atomic.Int64
	pingNonce    atomic.Uint64
	pingSent     atomic.Int64 // unix nanos of the outstanding ping, 0 if none
	lastPong     atomic.Int64 // unix nanos
	pingRTT      atomic.Int64 // nanos
	minPingRTT   atomic.Int64 // nanos, 0 before the first pong
	bytesSent    atomic.Uint64
	bytesRecv    atomic.Uint64
	msgsSent     atomic.Uint64
	msgsRecv     atomic.Uint64
	compressSent atomic.Uint64 // bytes saved by compression
	pauses       atomic.Uint64 // times reading waited for the send buffer
	perMsg       perMessage
}

// New wraps an established connection. inbound says who dialled.
func New(conn net.Conn, inbound bool, cfg Config, h Handler) *Peer {
	cfg = cfg.withDefaults()
	p := &Peer{
		cfg:     cfg,
		conn:    conn,
		inbound: inbound,
		handler: h,
		sendq:   newSendQueue(),
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

// Talking reports whether the peer has sent its version (a connection that
// says nothing is a slot taken for nothing).
func (p *Peer) Talking() bool { return p.gotVersion.Load() }

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
	MinPingRTT             time.Duration // the least seen (0 before the first pong)
	LastPong               time.Time     // zero before the first
	CompressionSavedBytes  uint64
	Compressing, Handshake bool
	// SendBacklog is the bytes queued and not yet written; SendPauses how
	// many times reading the peer's messages waited for it to drain.
	SendBacklog int
	SendPauses  uint64
	// BytesSentPerMsg and BytesRecvPerMsg are the bytes of each command,
	// frame headers included, as bitcoind's getpeerinfo bytessent_per_msg
	// (a compressed message counts under the command it carries; commands
	// this node does not know count as "*other*").
	BytesSentPerMsg, BytesRecvPerMsg map[string]uint64
}

// Stats returns the counters.
func (p *Peer) Stats() Stats {
	st := Stats{
		BytesSent: p.bytesSent.Load(), BytesRecv: p.bytesRecv.Load(),
		MsgsSent: p.msgsSent.Load(), MsgsRecv: p.msgsRecv.Load(), PingRTT: time.Duration(p.pingRTT.Load()),
		MinPingRTT:            time.Duration(p.minPingRTT.Load()),
		CompressionSavedBytes: p.compressSent.Load(), Compressing: p.Compressing(), Handshake: p.handshaken.Load(),
		SendBacklog: p.sendq.backlog(), SendPauses: p.pauses.Load(),
	}
	if st.Handshake {
		st.ConnectedAt = p.connectedAt
	}
	if t := p.lastPong.Load(); t != 0 {
		st.LastPong = time.Unix(0, t)
	}
	st.BytesSentPerMsg, st.BytesRecvPerMsg = p.perMsg.snapshot()
	return st
}

// Nonce is the nonce of our version message on this connection.
func (p *Peer) Nonce() uint64 { return p.cfg.Nonce }

// Send queues msg for the writer without blocking and reports whether it
// was queued (false before the handshake is complete and after the end).
// Send never drops a message for want of room: what a peer can make us
// queue is bounded by not reading its requests while its send buffer is
// over Config.SendBuffer. Only a queue past twice that plus a largest
// message, which replies alone cannot reach, closes the peer as too slow
// ([ErrSlowPeer]).
func (p *Peer) Send(msg wire.Message) bool {
	if !p.handshaken.Load() {
		return false
	}
	return p.enqueue(msg)
}

// SendBacklog is the bytes queued and not yet written.
func (p *Peer) SendBacklog() int { return p.sendq.backlog() }

// SendBufferFull reports whether the queue is over Config.SendBuffer: the
// server then holds back what it would only volunteer (announcements).
func (p *Peer) SendBufferFull() bool { return p.sendq.backlog() > p.cfg.SendBuffer }

// enqueue is Send without the handshake check, for the handshake itself.
func (p *Peer) enqueue(msg wire.Message) bool {
	select {
	case <-p.done:
		return false
	default:
	}
	frame, err := wire.AppendFrame(nil, p.cfg.Magic, msg)
	if err != nil {
		// Our own message does not encode: a bug, not the peer's fault.
		p.Close(fmt.Errorf("peer: encode %s: %w", msg.Command(), err))
		return false
	}
	if n := p.sendq.push(msg.Command(), frame); n > p.cfg.hardLimit() {
		p.Close(fmt.Errorf("%w (%d bytes waiting)", ErrSlowPeer, n))
		return false
	}
	return true
}

// WaitSendRoom blocks while the send queue is over Config.SendBuffer, and
// returns the cause if the connection ends meanwhile. A handler serving a
// request that names many things (a getdata of 50,000 blocks) calls it
// before each reply, so that the replies are made at the pace the peer reads
// them; between messages the peer does so itself (Bitcoin Core's
// pause-send): nothing more is read from a peer that does not read what it
// asked for.
func (p *Peer) WaitSendRoom() error {
	select {
	case <-p.done:
		return p.cause
	default:
	}
	if p.sendq.backlog() <= p.cfg.SendBuffer {
		return nil
	}
	p.pauses.Add(1)
	for p.sendq.backlog() > p.cfg.SendBuffer {
		select {
		case <-p.sendq.drained:
		case <-p.done:
			return p.cause
		}
	}
	return nil
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
		if err := p.WaitSendRoom(); err != nil {
			return err
		}
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
			// The frame as it came, its checksum already verified: a node
			// always has taps (its event stream), and hashing every block a
			// second time for them would be waste.
			p.cfg.Tap.Received(p.now(), append(frame.Header.Append(make([]byte, 0, size)), frame.Payload...))
		}
		msg, err := p.decode(frame.Header.Command, frame.Payload)
		switch {
		case msg != nil:
			p.perMsg.received(msg.Command(), size) // a cmpr counts as what it carries
		case errors.Is(err, wire.ErrUnknownCommand):
			p.perMsg.received(otherCommand, size) // also a cmpr carrying one
		default:
			p.perMsg.received(frame.Header.Command, size)
		}
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
	// What would be dropped once decompressed is dropped before: a few
	// bytes declaring megabytes of an unknown command cost nothing. (The
	// declared length was checked against the inner command's limit when
	// the envelope was decoded.)
	if _, err := wire.NewMessage(c.Inner); err != nil {
		return nil, fmt.Errorf("peer: cmpr(%s): %w", c.Inner, err)
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
			rtt := now - sent
			p.pingRTT.Store(rtt)
			if m := p.minPingRTT.Load(); m == 0 || rtt < m {
				p.minPingRTT.Store(rtt)
			}
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
