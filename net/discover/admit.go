package discover

import (
	"errors"
	"net/netip"
	"time"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/sock"
	"github.com/renga-p2p/renga/wire"
)

// maxSources bounds the limiter's table of source addresses. A LAN has far
// fewer beaconing hosts; past it, idle sources are forgotten first, and a
// flood of new ones is dropped rather than remembered.
const maxSources = 1024

// maxReplayRecords bounds the replay memory: the instances whose signed
// beacons were accepted within the last 2×ReplayWindow. A LAN has a few
// hundred at most (the table holds MaxPeers); past it, a new instance is
// dropped until a record is old enough to forget, since forgetting a live
// one would let its beacons be replayed.
const maxReplayRecords = 4096

// linkChecker is the part of a [Conn] that says which sources are
// neighbours.
type linkChecker interface {
	OnLink(ifindex int, addr netip.Addr) bool
}

// admission decides which datagrams are beacons worth the table's time. It
// holds no lock: the reader goroutine owns it.
type admission struct {
	magic    wire.Magic
	genesis  sha256d.Hash
	instance uint64
	group    netip.Addr
	secret   []byte
	limit    limiter
	replay   replayMemory
}

func newAdmission(c Config) *admission {
	return &admission{
		magic:    c.Magic,
		genesis:  c.Genesis,
		instance: c.Instance,
		group:    c.Group.Addr(),
		secret:   c.Secret,
		limit:    newLimiter(c.SourceLimit, c.MinInterval),
		replay:   newReplayMemory(c.ReplayWindow),
	}
}

// admit checks datagram p, described by dg, read at now. link says which
// sources are on the link dg arrived on; nil means the conn cannot tell,
// and then neither dg.Dst nor the link is checked. It returns the beacon and
// the address to dial its node at, or why it was dropped. It does not retain
// p.
func (a *admission) admit(p []byte, dg sock.Datagram, link linkChecker, now time.Time) (b wire.Beacon, peer netip.AddrPort, reason DropReason, ok bool) {
	from := dg.Src.Addr().Unmap()
	// First, before any work: where it was sent and who sent it cost a
	// comparison and a look at a few prefixes; a flood from off the link
	// never reaches the limiter.
	switch {
	case link != nil && dg.Dst.Unmap() != a.group:
		return b, peer, DropUnicast, false
	case !from.IsValid() || from.IsUnspecified() || from.IsMulticast():
		return b, peer, DropSource, false
	case link != nil && !link.OnLink(dg.Ifindex, from):
		return b, peer, DropOffLink, false
	case !a.limit.allow(from, now):
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
	}
	if len(a.secret) > 0 {
		if reason, ok := a.replay.check(&b, now); !ok {
			return b, peer, reason, false
		}
	}
	return b, netip.AddrPortFrom(from, b.Port), 0, true
}

// replayMemory refuses signed beacons that are too far from our clock or
// that an instance has sent before. It remembers, per instance, the sequence
// number of the last beacon accepted and when, for 2×window after that: a
// beacon accepted at time t had a time of at most t+window, so any copy of
// it is stale by t+2×window, and until then the record refuses it.
type replayMemory struct {
	window time.Duration
	last   map[uint64]replayRecord
	// nextPrune is when the oldest record left by the last prune is
	// forgotten: while the memory is full, no prune before then can make
	// room, so a flood of new instances costs no scan each.
	nextPrune time.Time
}

type replayRecord struct {
	seq uint64
	at  time.Time // when we accepted it, by our clock
}

func newReplayMemory(window time.Duration) replayMemory {
	return replayMemory{window: window, last: make(map[uint64]replayRecord)}
}

// check decides about signed beacon b at now, and records it if it passes.
func (m *replayMemory) check(b *wire.Beacon, now time.Time) (DropReason, bool) {
	// Wall clocks: the sender's stamp against ours (now.Sub saturates, so
	// no time in the beacon overflows this).
	if age := now.Sub(time.UnixMilli(b.Time)); age > m.window || age < -m.window {
		return DropStale, false
	}
	r, known := m.last[b.Instance]
	if known && now.Sub(r.at) >= 2*m.window {
		known = false // forgotten: anything it would refuse is stale by now
	}
	if known && b.Sequence <= r.seq {
		return DropReplay, false
	}
	if !known && len(m.last) >= maxReplayRecords && !m.prune(now) {
		return DropFull, false
	}
	m.last[b.Instance] = replayRecord{seq: b.Sequence, at: now}
	return 0, true
}

// prune forgets the records older than 2×window and reports whether that
// made room.
func (m *replayMemory) prune(now time.Time) bool {
	if now.Before(m.nextPrune) {
		return false
	}
	m.nextPrune = time.Time{}
	for id, r := range m.last {
		forget := r.at.Add(2 * m.window)
		if !now.Before(forget) {
			delete(m.last, id)
		} else if m.nextPrune.IsZero() || forget.Before(m.nextPrune) {
			m.nextPrune = forget
		}
	}
	return len(m.last) < maxReplayRecords
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
