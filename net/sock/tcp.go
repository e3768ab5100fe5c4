package sock

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults for [TCPOptions]. Keep-alive notices a peer host that vanished
// without a FIN or RST (powered off, cable pulled) in about two minutes,
// well before the peer layer's 20-minute ping limit (design.md §6), while a
// healthy idle connection costs one probe a minute.
const (
	DefaultKeepAliveIdle     = 60 * time.Second
	DefaultKeepAliveInterval = 15 * time.Second
	DefaultKeepAliveCount    = 4
)

// Kernel limits on the keep-alive options (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL
// and MAX_TCP_KEEPCNT in include/net/tcp.h); larger values fail with EINVAL.
const (
	maxKeepAliveSeconds = 32767
	maxKeepAliveCount   = 127
)

// TCPOptions are the socket options of a P2P connection. The zero value is
// the default for every field; it is passed by value and not retained.
//
// TCP_NODELAY is always set: the peer layer writes whole messages, and Nagle's
// algorithm would hold back the small ones (ping, inv, headers announcements)
// that gossip latency depends on.
type TCPOptions struct {
	// KeepAliveIdle is how long a connection stays silent before the kernel
	// sends its first keep-alive probe (TCP_KEEPIDLE). Zero means
	// [DefaultKeepAliveIdle]; a negative value turns keep-alive off.
	// Keep-alive times are rounded up to whole seconds, the kernel's unit.
	KeepAliveIdle time.Duration
	// KeepAliveInterval is the time between unanswered probes
	// (TCP_KEEPINTVL). Zero means [DefaultKeepAliveInterval].
	KeepAliveInterval time.Duration
	// KeepAliveCount is how many unanswered probes make the kernel drop the
	// connection (TCP_KEEPCNT). Zero means [DefaultKeepAliveCount].
	KeepAliveCount int
	// SendBuffer and ReceiveBuffer are SO_SNDBUF and SO_RCVBUF in bytes.
	// Zero leaves the kernel's automatic sizing on, usually the best choice;
	// a value fixes the size and turns automatic sizing off for that
	// direction. The kernel doubles the value for its bookkeeping and caps it
	// at net.core.wmem_max or rmem_max (socket(7)).
	SendBuffer    int
	ReceiveBuffer int
}

// withDefaults fills the zero fields.
func (o TCPOptions) withDefaults() TCPOptions {
	if o.KeepAliveIdle == 0 {
		o.KeepAliveIdle = DefaultKeepAliveIdle
	}
	if o.KeepAliveInterval == 0 {
		o.KeepAliveInterval = DefaultKeepAliveInterval
	}
	if o.KeepAliveCount == 0 {
		o.KeepAliveCount = DefaultKeepAliveCount
	}
	return o
}

// keepAlive reports whether keep-alive is on (after withDefaults).
func (o TCPOptions) keepAlive() bool { return o.KeepAliveIdle > 0 }

// Validate reports every problem with o (zero fields take their defaults),
// each wrapping [ErrInvalidOptions].
func (o TCPOptions) Validate() error {
	o = o.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...))
	}
	if o.keepAlive() {
		if s := seconds(o.KeepAliveIdle); s > maxKeepAliveSeconds {
			bad("KeepAliveIdle %v is over the kernel's limit of %d s", o.KeepAliveIdle, maxKeepAliveSeconds)
		}
		if o.KeepAliveInterval < 0 || seconds(o.KeepAliveInterval) > maxKeepAliveSeconds {
			bad("KeepAliveInterval %v is not within 1..%d s", o.KeepAliveInterval, maxKeepAliveSeconds)
		}
		if o.KeepAliveCount < 0 || o.KeepAliveCount > maxKeepAliveCount {
			bad("KeepAliveCount %d is not within 1..%d", o.KeepAliveCount, maxKeepAliveCount)
		}
	}
	errs = append(errs, validBuffer("SendBuffer", o.SendBuffer), validBuffer("ReceiveBuffer", o.ReceiveBuffer))
	return errors.Join(errs...)
}

// validBuffer checks a socket buffer size; the kernel doubles it in an int.
func validBuffer(name string, n int) error {
	if n < 0 || n > math.MaxInt32/2 {
		return fmt.Errorf("%w: %s %d is not within 0..%d", ErrInvalidOptions, name, n, math.MaxInt32/2)
	}
	return nil
}

// seconds rounds d up to whole seconds, at least one.
func seconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// tcpNetwork checks that network is one ListenTCP and DialTCP accept.
func tcpNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return fmt.Errorf("%w: network %q is not tcp, tcp4 or tcp6", ErrInvalidOptions, network)
}
