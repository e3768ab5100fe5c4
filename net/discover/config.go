package discover

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Defaults, in one place.
//
// The group is in the IPv4 organization-local scope 239.255.0.0/16 (RFC
// 2365), which routers do not forward beyond a site; TTL 1 keeps beacons on
// the link anyway. 82.71 is "RG". The port is devnet's discovery port, next
// to its P2P port 28333 (design.md §1).
//
// Intervals: a beacon every 15–30 s costs nothing on a LAN and lets a new
// node be found within one interval even if its query was lost; the jitter
// keeps nodes started together from beaconing in step. Answers to queries
// and to new instances go at once, but no two within AnswerGap of each
// other: a node joining a LAN of N nodes hears N answers and sends one more
// beacon, not N.
//
// SourceLimit: a node sends one beacon per interval plus answers, and a
// devnet puts a dozen nodes behind one address; 32 beacons per address per
// MinInterval is several times that, and still bounds what a flooding host
// can make us do.
//
// ReplayWindow: a signed beacon is good for a minute either side of our
// clock. That is far more than the clocks of a LAN kept by NTP differ by, or
// than a datagram takes on it, and short enough that a beacon recorded now
// is refused as stale a minute later by everyone, even by a node started
// since, which has no sequence number on record to refuse it by.
const (
	DefaultGroupAddr    = "239.255.82.71"
	DefaultGroupPort    = 28334
	DefaultMinInterval  = 15 * time.Second
	DefaultMaxInterval  = 30 * time.Second
	DefaultAnswerGap    = time.Second
	DefaultSourceLimit  = 32
	DefaultMaxPeers     = 256
	DefaultReplayWindow = time.Minute
	// DefaultServices are those of a full node (design.md §6).
	DefaultServices = wire.SFNodeNetwork | wire.SFNodeWitness
	// MissedIntervals is how many intervals without a beacon expire a peer:
	// it is gone after MissedIntervals×MaxInterval of silence.
	MissedIntervals = 3
)

// DefaultGroup returns DefaultGroupAddr:DefaultGroupPort.
func DefaultGroup() netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(DefaultGroupAddr), DefaultGroupPort)
}

// Config describes one node's discovery. It is passed by value to [New],
// which keeps a copy; zero fields take the defaults noted.
type Config struct {
	// Magic and Genesis name the node's network; beacons of any other
	// network are dropped. Required.
	Magic   wire.Magic
	Genesis sha256d.Hash
	// Port is the TCP port of the node's P2P listener, which peers will dial
	// at the address our beacons come from. Required.
	Port uint16
	// Services are the service bits to advertise. Zero means
	// [DefaultServices].
	Services uint64
	// BestHeight returns the node's best height when a beacon is sent. It is
	// called from the discovery goroutine and must be safe to call
	// concurrently with the node (an atomic load, say). Nil means 0.
	BestHeight func() int32
	// Secret is the LAN secret: when set, beacons are signed with it, and
	// beacons not signed with it, too far in time or replayed are dropped
	// (see ReplayWindow). Copied by New; [ReadSecretFile] reads one.
	Secret []byte
	// OnEvent receives every [Event], in order, from one goroutine, never
	// concurrently. It must return quickly (hand the event to a channel or a
	// queue): discovery waits for it. Nil drops events; [Discovery.Peers]
	// still lists the peers.
	OnEvent func(Event)

	// Group is the multicast group and UDP port. Zero means [DefaultGroup].
	Group netip.AddrPort
	// Interface names the interface [Discovery.Run] joins the group on and
	// sends from. Required by Run (not by Serve): there is no safe default,
	// since the kernel's would be the default route, which may leave the
	// LAN the node means. cmd/renga chooses it.
	Interface string
	// Instance is this run's instance id. Zero means a random one, which is
	// what a node wants; tests set it.
	Instance uint64

	// MinInterval and MaxInterval bound the random time between two
	// periodic beacons; peers expire after MissedIntervals×MaxInterval
	// without a beacon. Zero means [DefaultMinInterval], [DefaultMaxInterval].
	MinInterval time.Duration
	MaxInterval time.Duration
	// AnswerGap is the least time between two beacons sent at once (to
	// answer a query or greet a new instance). Zero means [DefaultAnswerGap].
	AnswerGap time.Duration
	// SourceLimit is how many datagrams one source address may have
	// examined per MinInterval (a token bucket of that size, refilled at that
	// rate); the rest are dropped. Zero means [DefaultSourceLimit].
	SourceLimit int
	// MaxPeers bounds the table. A new instance heard while it is full
	// takes the place of the unverified peer heard from least recently, or
	// is dropped if every peer is verified. Zero means [DefaultMaxPeers].
	MaxPeers int
	// ReplayWindow is how far from our clock, either way, the time of a
	// signed beacon may be; its sequence number must also be above the
	// last one accepted from its instance, remembered for 2×ReplayWindow
	// (so no beacon recorded while it is remembered can come back). Only
	// with a Secret: without one, anyone can forge both. Signed discovery
	// therefore needs the LAN's clocks within ReplayWindow of each other.
	// Zero means [DefaultReplayWindow].
	ReplayWindow time.Duration

	// Logger receives peers found and lost at Info, drops at Debug. Nil
	// discards.
	Logger *slog.Logger
}

// withDefaults returns c with its zero fields filled.
func (c Config) withDefaults() Config {
	if c.Services == 0 {
		c.Services = DefaultServices
	}
	if c.BestHeight == nil {
		c.BestHeight = func() int32 { return 0 }
	}
	if c.OnEvent == nil {
		c.OnEvent = func(Event) {}
	}
	if !c.Group.IsValid() {
		c.Group = DefaultGroup()
	}
	if c.MinInterval == 0 {
		c.MinInterval = DefaultMinInterval
	}
	if c.MaxInterval == 0 {
		c.MaxInterval = max(DefaultMaxInterval, c.MinInterval)
	}
	if c.AnswerGap == 0 {
		c.AnswerGap = DefaultAnswerGap
	}
	if c.SourceLimit == 0 {
		c.SourceLimit = DefaultSourceLimit
	}
	if c.MaxPeers == 0 {
		c.MaxPeers = DefaultMaxPeers
	}
	if c.ReplayWindow == 0 {
		c.ReplayWindow = DefaultReplayWindow
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with c (zero fields take their defaults),
// each wrapping [ErrConfig].
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.Magic == (wire.Magic{}) {
		bad("no network magic")
	}
	if c.Genesis == (sha256d.Hash{}) {
		bad("no genesis hash")
	}
	if c.Port == 0 {
		bad("no TCP port")
	}
	if a := c.Group.Addr(); !a.Is4() || !a.IsMulticast() || c.Group.Port() == 0 {
		bad("group %v is not an IPv4 multicast address and port", c.Group)
	}
	if c.MinInterval < 0 || c.MaxInterval < c.MinInterval {
		bad("intervals %v..%v are not 0 < min <= max", c.MinInterval, c.MaxInterval)
	}
	if c.AnswerGap < 0 {
		bad("negative AnswerGap %v", c.AnswerGap)
	}
	if c.SourceLimit < 0 {
		bad("negative SourceLimit %d", c.SourceLimit)
	}
	if c.MaxPeers < 0 {
		bad("negative MaxPeers %d", c.MaxPeers)
	}
	if c.ReplayWindow < 0 {
		bad("negative ReplayWindow %v", c.ReplayWindow)
	}
	return errors.Join(errs...)
}

// expireAfter is how long a peer may stay silent.
func (c Config) expireAfter() time.Duration { return MissedIntervals * c.MaxInterval }
