package discover

import (
	"errors"
	"net/netip"
	"time"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// maxSources bounds the limiter's table of source addresses. A LAN has far
// fewer beaconing hosts; past it, idle sources are forgotten first, and a
// flood of new ones is dropped rather than remembered.
const maxSources = 1024

// admission decides which datagrams are beacons worth the table's time. It
// holds no lock: the reader goroutine owns it.
type admission struct {
	magic    wire.Magic
	genesis  sha256d.Hash
	instance uint64
	secret   []byte
	limit    limiter
}

func newAdmission(c Config) *admission {
	return &admission{
		magic:    c.Magic,
		genesis:  c.Genesis,
		instance: c.Instance,
		secret:   c.Secret,
		limit:    newLimiter(c.SourceLimit, c.MinInterval),
	}
}

// admit checks one datagram p from src, read at now. It returns the beacon
// and the address to dial its node at, or why it was dropped. It does not
// retain p.
func (a *admission) admit(p []byte, src netip.AddrPort, now time.Time) (b wire.Beacon, peer netip.AddrPort, reason DropReason, ok bool) {
	from := src.Addr().Unmap()
	// First, before any work: a flood costs one map lookup per datagram.
	if !a.limit.allow(from, now) {
		return b, peer, DropRate, false
	}
	b, err := wire.DecodeBeacon(p, a.secret)
	switch {
	case errors.Is(err, wire.ErrBeaconUnsigned) || errors.Is(err, wire.ErrBeaconMAC):
		return b, peer, DropAuth, false
	case err != nil || b.Port == 0:
		return b, peer, DropMalformed, false
	case b.Magic != a.magic || b.Genesis != a.genesis:
		return b, peer, DropNetwork, false
	case b.Instance == a.instance:
		return b, peer, DropSelf, false
	case !from.IsValid() || from.IsUnspecified() || from.IsMulticast():
		return b, peer, DropSource, false
	}
	return b, netip.AddrPortFrom(from, b.Port), 0, true
}

// limiter is a token bucket per source address: size tokens, refilled at
// size per period.
type limiter struct {
	size    float64
	period  time.Duration
	buckets map[netip.Addr]bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

func newLimiter(size int, period time.Duration) limiter {
	return limiter{size: float64(size), period: period, buckets: make(map[netip.Addr]bucket)}
}

// allow takes a token from src's bucket at now, if there is one.
func (l *limiter) allow(src netip.Addr, now time.Time) bool {
	b, ok := l.buckets[src]
	if ok {
		elapsed := max(now.Sub(b.at), 0)
		b.tokens = min(l.size, b.tokens+l.size*float64(elapsed)/float64(l.period))
	} else {
		if len(l.buckets) >= maxSources && !l.prune(now) {
			return false
		}
		b.tokens = l.size
	}
	b.at = now
	if b.tokens < 1 {
		l.buckets[src] = b
		return false
	}
	b.tokens--
	l.buckets[src] = b
	return true
}

// prune forgets the sources whose buckets have refilled (a full bucket is
// the same as none) and reports whether that made room.
func (l *limiter) prune(now time.Time) bool {
	for src, b := range l.buckets {
		if now.Sub(b.at) >= l.period {
			delete(l.buckets, src)
		}
	}
	return len(l.buckets) < maxSources
}
