package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/net/sock"
)

// Transport is how the server listens and dials: real TCP sockets
// ([TCP], the default) or, in tests, an in-memory network (net/sock/memnet)
// where everything runs on a testing/synctest bubble's fake clock.
type Transport interface {
	// Listen listens on "host:port" (port 0 picks one).
	Listen(ctx context.Context, addr string) (net.Listener, error)
	// Dial connects to addr; ctx bounds the attempt.
	Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
}

// TCP is the transport of real nodes: sockets opened through net/sock with
// its options (TCP_NODELAY, keep-alives).
type TCP struct {
	Options sock.TCPOptions
}

// Listen implements Transport.
func (t TCP) Listen(ctx context.Context, addr string) (net.Listener, error) {
	return sock.ListenTCP(ctx, "tcp", addr, t.Options)
}

// Dial implements Transport.
func (t TCP) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	return sock.DialTCP(ctx, "tcp", addr.String(), t.Options)
}

// Config configures a Server. Zero values take the defaults documented on
// each field.
type Config struct {
	Chain *chain.Chain
	Pool  *mempool.Pool // nil: no transaction relay

	// Listen is the address to accept connections on ("" for none).
	Listen string
	// Transport listens and dials (default TCP{}).
	Transport Transport
	// Nonce is the node's LAN discovery instance id; zero, the usual,
	// picks a random one. (Version nonces are random per connection: they
	// only tell a connection to ourselves.)
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
	// NoCompactBlocks turns BIP152 off: blocks are relayed whole, as to a
	// peer that does not speak it (to compare the two, say).
	NoCompactBlocks bool
	// UserAgent is sent in version messages (default "/renga/").
	UserAgent string
	// AddrBook is where known addresses are kept between runs ("" for
	// none); Anchors where the block-relay-only peers are kept for the next
	// start (Core's anchors.dat); BanList where the user's bans persist.
	AddrBook, Anchors, BanList string
	// Capture, if not nil, records every frame of every connection.
	Capture *capture.Recorder
	// MessageCapture, if not nil, is where connections are recorded in
	// Bitcoin Core's message-capture files; CaptureMessages records every
	// connection from its start (Core's -capturemessages). Either way
	// SetMessageCapture switches recording per peer while the node runs.
	MessageCapture  *capture.MessageCapture
	CaptureMessages bool
	// Tap, if set, is asked for one more tap per connection (the node's
	// event stream: api.Events.Conn); nil from it means none.
	Tap func(t time.Time, local, remote netip.AddrPort, inbound bool) peer.Tap

	// TxBatchInterval is the mean time between transaction announcements to
	// a peer (default 500 ms; each wait is drawn at random).
	TxBatchInterval time.Duration
	// MempoolPeers are the addresses whose BIP35 mempool requests are
	// answered (Core's mempool permission, -whitelist=mempool@...). A
	// request from anyone else ends the connection: answering it costs a
	// walk of the whole pool and up to the pool's size in announcements.
	MempoolPeers []netip.Prefix
	// SendBuffer is each peer's send buffer in bytes (default
	// peer.DefaultSendBuffer): see net/peer.
	SendBuffer int

	// OnPeer, if set, is told of every handshake and every end of a
	// connection, on the connection's goroutine: it must not block or call
	// back into the Server.
	OnPeer func(PeerEvent)

	Logger *slog.Logger
	Now    func() time.Time
}

// PeerEvent reports that a connection completed its handshake or ended.
type PeerEvent struct {
	Connected bool // false: it ended
	Addr      netip.AddrPort
	Inbound   bool
	Reason    string // why it ended: one of the Reason constants
	Err       error  // the cause it ended with
}

func (c Config) withDefaults() Config {
	if c.Transport == nil {
		c.Transport = TCP{}
	}
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

// ErrConfig: the configuration cannot work.
var ErrConfig = errors.New("p2p: bad configuration")

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Chain == nil {
		errs = append(errs, fmt.Errorf("%w: no chain", ErrConfig))
	}
	if c.MaxOutbound < 0 || c.MaxInbound < 0 {
		errs = append(errs, fmt.Errorf("%w: negative connection limits", ErrConfig))
	}
	if c.SendBuffer < 0 {
		errs = append(errs, fmt.Errorf("%w: negative send buffer", ErrConfig))
	}
	return errors.Join(errs...)
}
