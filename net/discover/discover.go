package discover

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/renga-p2p/renga/net/sock"
	"github.com/renga-p2p/renga/wire"
)

// Error classes; see the package comment.
var (
	// ErrConfig: Config.Validate found a problem (or Run has no Interface).
	ErrConfig = errors.New("discover: invalid config")
	// ErrStarted: Run or Serve was called a second time.
	ErrStarted = errors.New("discover: already started")
)

// PacketConn is the part of a UDP socket Serve needs to run at all:
// *net.UDPConn is one. A PacketConn that is also a [Conn] (as
// *sock.MulticastConn is) is read with ReadDatagram, and only then are
// datagrams not sent to the group or not from a neighbour refused; any
// other is read with ReadFromUDPAddrPort, and Serve logs a warning that it
// cannot refuse them.
type PacketConn interface {
	ReadFromUDPAddrPort(b []byte) (n int, addr netip.AddrPort, err error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	// SetReadDeadline is how Serve wakes its reader to stop.
	SetReadDeadline(t time.Time) error
}

// Conn is the socket discovery is meant to run on: *sock.MulticastConn
// from [sock.ListenMulticast] is one, the tests' fake LAN another. Writes
// go to the group; reads return every datagram sent to the group, our own
// included, and whatever else reaches the port, which ReadDatagram and
// OnLink let Serve tell apart.
type Conn interface {
	PacketConn
	// ReadDatagram reads one datagram into b and says who sent it, to
	// which address (the IP header's destination), and on which
	// interface it arrived.
	ReadDatagram(b []byte) (sock.Datagram, error)
	// OnLink reports whether addr is a neighbour on interface ifindex: on
	// one of its subnets, and the interface the conn joined the group on.
	// It is called from the reader goroutine.
	OnLink(ifindex int, addr netip.Addr) bool
}

// Discovery finds the other nodes of the LAN. Make one with [New], run it
// once with [Discovery.Run] (or [Discovery.Serve]); [Discovery.Stats] and
// [Discovery.Peers] may be called at any time from any goroutine.
type Discovery struct {
	cfg     Config
	started atomic.Bool

	mu    sync.Mutex // guards table; the loop goroutine and Verified write it
	table table

	sent, sendErrors, received, accepted, evicted atomic.Uint64
	dropped                                       [NumDropReasons]atomic.Uint64
}

// New checks cfg and returns a Discovery ready to run. It opens nothing.
func New(cfg Config) (*Discovery, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	for cfg.Instance == 0 {
		var b [8]byte
		rand.Read(b[:]) // never fails (crypto/rand)
		cfg.Instance = binary.LittleEndian.Uint64(b[:])
	}
	return &Discovery{cfg: cfg, table: newTable(cfg)}, nil
}

// Instance returns this run's instance id, the one in our beacons.
func (d *Discovery) Instance() uint64 { return d.cfg.Instance }

// Run opens the multicast socket on Config.Interface through net/sock,
// serves on it until ctx is done, closes it and returns. It returns nil when
// ctx ends it, and an error if the socket cannot be opened or fails.
func (d *Discovery) Run(ctx context.Context) error {
	if d.cfg.Interface == "" {
		return fmt.Errorf("%w: Run needs an Interface", ErrConfig)
	}
	if d.started.Load() {
		return ErrStarted
	}
	conn, err := sock.ListenMulticast(ctx, sock.MulticastOptions{Interface: d.cfg.Interface, Group: d.cfg.Group})
	if err != nil {
		return fmt.Errorf("discover: %w", err)
	}
	err = d.Serve(ctx, conn)
	if cerr := conn.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("discover: close: %w", cerr)
	}
	return err
}

// Serve runs discovery over conn until ctx is done: it sends a query at once,
// a beacon every MinInterval–MaxInterval, and answers; it reads, filters and
// records every beacon, and reports the changes to Config.OnEvent. It blocks,
// and returns after every goroutine it started has ended: nil when ctx ends
// it, or the error that made reading conn fail. conn stays the caller's: Serve
// neither closes it nor uses it after returning, but leaves its read deadline
// in the past. conn should be a [Conn]; see [PacketConn] for what happens
// when it is not.
func (d *Discovery) Serve(ctx context.Context, conn PacketConn) error {
	if d.started.Swap(true) {
		return ErrStarted
	}
	if _, ok := conn.(Conn); !ok {
		d.cfg.Logger.Warn("discover: the conn cannot tell where a datagram was sent or whether its source is on the link: " +
			"unicast and off-link datagrams are not refused (give Serve a *sock.MulticastConn)")
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("discover: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	arrivals := make(chan arrival)
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		readErr = d.read(ctx, conn, arrivals)
		cancel()
	})
	d.loop(ctx, conn, arrivals)
	// A deadline in the past fails the reader's pending read at once. It
	// can fail only on a closed socket, whose reads fail by themselves.
	_ = conn.SetReadDeadline(time.Unix(1, 0))
	wg.Wait()
	return readErr
}

// arrival is a beacon that passed admission, on its way to the loop.
type arrival struct {
	beacon wire.Beacon
	peer   netip.AddrPort
}

// read is the reader goroutine: it reads datagrams, admits them and hands
// the beacons to the loop. It returns nil once ctx is done.
func (d *Discovery) read(ctx context.Context, conn PacketConn, out chan<- arrival) error {
	adm := newAdmission(d.cfg)
	readDatagram, link := datagramReader(conn)
	// One byte more than the largest beacon, so a longer datagram (which
	// the socket truncates silently) still fails to decode.
	buf := make([]byte, wire.MaxBeaconSize+1)
	for {
		dg, err := readDatagram(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("discover: read: %w", err)
		}
		d.received.Add(1)
		b, peer, reason, ok := adm.admit(buf[:dg.N], dg, link, time.Now())
		if !ok {
			d.dropped[reason].Add(1)
			d.cfg.Logger.Debug("discover: beacon dropped", "from", dg.Src, "to", dg.Dst, "reason", reason)
			continue
		}
		select {
		case out <- arrival{b, peer}:
		case <-ctx.Done():
			return nil
		}
	}
}

// datagramReader returns how to read conn, and what tells its neighbours
// (nil for a plain PacketConn, which cannot).
func datagramReader(conn PacketConn) (func([]byte) (sock.Datagram, error), linkChecker) {
	if c, ok := conn.(Conn); ok {
		return c.ReadDatagram, c
	}
	return func(b []byte) (sock.Datagram, error) {
		n, src, err := conn.ReadFromUDPAddrPort(b)
		return sock.Datagram{N: n, Src: src}, err
	}, nil
}

// loop is Serve's own goroutine: it owns the schedule and writes the table.
func (d *Discovery) loop(ctx context.Context, conn PacketConn, arrivals <-chan arrival) {
	var buf []byte
	var seq uint64 // of the last beacon made; the first is 1
	send := func(query bool) {
		seq++ // even if the send fails: a number is never used twice
		b := wire.Beacon{
			Query:       query,
			Magic:       d.cfg.Magic,
			Genesis:     d.cfg.Genesis,
			Instance:    d.cfg.Instance,
			Port:        d.cfg.Port,
			Services:    d.cfg.Services,
			StartHeight: d.cfg.BestHeight(),
			Time:        time.Now().UnixMilli(),
			Sequence:    seq,
		}
		buf = wire.AppendBeacon(buf[:0], &b, d.cfg.Secret)
		if _, err := conn.WriteToUDPAddrPort(buf, d.cfg.Group); err != nil {
			d.sendErrors.Add(1)
			d.cfg.Logger.Warn("discover: send failed", "group", d.cfg.Group, "err", err)
			return
		}
		d.sent.Add(1)
	}

	now := time.Now()
	send(true) // the query: everyone answers, so we need not wait an interval
	// The query does not hold back answers: a node that started at the same
	// moment may have missed it, and its own query deserves an answer now.
	var lastAnswer time.Time
	nextBeacon := now.Add(d.interval())
	var answerAt time.Time // zero when no answer is pending
	timer := time.NewTimer(0)
	defer timer.Stop()
	var events []Event
	for {
		wake := nextBeacon
		if !answerAt.IsZero() && answerAt.Before(wake) {
			wake = answerAt
		}
		d.mu.Lock()
		expiry, ok := d.table.nextExpiry()
		d.mu.Unlock()
		if ok && expiry.Before(wake) {
			wake = expiry
		}
		timer.Reset(time.Until(wake))

		events = events[:0]
		select {
		case <-ctx.Done():
			return
		case a := <-arrivals:
			var o observed
			d.mu.Lock()
			events, o = d.table.observe(events, a.beacon, a.peer, time.Now())
			d.mu.Unlock()
			if o.full {
				d.dropped[DropFull].Add(1)
				d.cfg.Logger.Debug("discover: beacon dropped", "peer", a.peer, "reason", DropFull)
			} else {
				d.accepted.Add(1)
			}
			if o.evicted {
				d.evicted.Add(1)
			}
			if o.answer && answerAt.IsZero() {
				answerAt = lastAnswer.Add(d.cfg.AnswerGap)
			}
		case <-timer.C:
		}

		now = time.Now()
		answerDue := !answerAt.IsZero() && !now.Before(answerAt)
		beaconDue := !now.Before(nextBeacon)
		if answerDue || beaconDue {
			send(false) // one beacon serves both
		}
		if answerDue {
			lastAnswer, answerAt = now, time.Time{}
		}
		if beaconDue {
			nextBeacon = now.Add(d.interval())
		}
		d.mu.Lock()
		events = d.table.expire(events, now)
		d.mu.Unlock()
		for _, e := range events {
			d.report(e)
		}
	}
}

// interval returns a random time in [MinInterval, MaxInterval].
func (d *Discovery) interval() time.Duration {
	return d.cfg.MinInterval + mrand.N(d.cfg.MaxInterval-d.cfg.MinInterval+1)
}

// report logs e and gives it to the node.
func (d *Discovery) report(e Event) {
	level := slog.LevelInfo
	if e.Kind == PeerUpdated {
		level = slog.LevelDebug
	}
	d.cfg.Logger.Log(context.Background(), level, "discover: peer "+e.Kind.String(),
		"addr", e.Peer.Addr, "instance", fmt.Sprintf("%016x", e.Peer.Instance), "height", e.Peer.Height)
	d.cfg.OnEvent(e)
}

// Verified tells discovery that the node connected to instance at addr
// (completed a handshake with the node it dialled there, from a PeerNew or
// PeerUpdated event): from now on a full table never gives it up for a
// newcomer. It reports whether the table holds instance at addr; if it
// does not (the peer expired, moved or was pushed out meanwhile), nothing
// changes. The mark lasts while the instance stays at addr. Safe from any
// goroutine at any time.
func (d *Discovery) Verified(instance uint64, addr netip.AddrPort) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.table.verify(instance, addr)
}

// Stats returns the counters and the number of peers now.
func (d *Discovery) Stats() Stats {
	s := Stats{
		Sent:       d.sent.Load(),
		SendErrors: d.sendErrors.Load(),
		Received:   d.received.Load(),
		Accepted:   d.accepted.Load(),
		Evicted:    d.evicted.Load(),
	}
	for i := range s.Dropped {
		s.Dropped[i] = d.dropped[i].Load()
	}
	d.mu.Lock()
	s.Peers = len(d.table.peers)
	s.Verified = d.table.verified()
	d.mu.Unlock()
	return s
}

// Peers returns the peers known now, by address.
func (d *Discovery) Peers() []Peer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.table.snapshot()
}
