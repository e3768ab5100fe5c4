package addrbook

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Ages and counts that decide what an entry is worth (Bitcoin Core's values).
const (
	horizon            = 30 * 24 * time.Hour // not seen for longer: terrible
	retries            = 3                   // failed attempts, never a success: terrible
	maxFailures        = 10                  // failed attempts since the last success...
	minFailWindow      = 7 * 24 * time.Hour  // ...with that success longer ago: terrible
	recentTry          = time.Minute         // tried this recently: never terrible
	futureSlack        = 10 * time.Minute    // further in the future: a lie
	futurePenalty      = 5 * 24 * time.Hour  // what a lie about the time is worth: that long ago
	replacementWindow  = 4 * time.Hour       // a tried entry that succeeded this recently is kept
	collisionGrace     = time.Minute         // a test connection gets this long to succeed
	testWindow         = 40 * time.Minute    // an untested collision is settled for the newcomer after this
	maxCollisions      = 10                  // tried collisions waiting for a test
	connectedInterval  = 20 * time.Minute    // Connected refreshes LastSeen at most this often
	maxSelectDraws     = 1024                // random draws before Select scans the table
	deprioritizedAfter = 10 * time.Minute    // tried this recently: chance × 0.01
)

// Config configures a Book. The zero Config is a book with a random key and
// seed, the system clock and no logging.
type Config struct {
	// Key salts every bucket hash, so that nobody who lacks it can aim
	// addresses at a bucket or a position. Nil means random (drawn from
	// the rng when Seed is set, from crypto/rand otherwise). Load replaces
	// it with the key kept in the file.
	Key *[32]byte
	// Seed seeds the book's random choices; 0 means crypto/rand. Tests and
	// simulations set it to be reproducible.
	Seed uint64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what happens to the file (warnings) and to entries
	// (debug); nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Entry is what the book knows of an address.
type Entry struct {
	Addr        netip.AddrPort
	Services    uint64
	LastSeen    time.Time  // the time the network claims it was last up (the addr message's time, after penalties)
	LastTry     time.Time  // when we last dialled it
	LastSuccess time.Time  // when a handshake we started with it last completed
	Attempts    int        // dials counted as failed since the last success
	Source      netip.Addr // who first told us (the address itself when we found it ourselves)
	Tried       bool       // in the tried table
}

// entry is an Entry with its place in the tables.
type entry struct {
	Entry
	lastCountAttempt time.Time // the last attempt that counted as a failure
	refs             []int32   // new-table slots holding it (at most maxNewRefs); empty when tried
	triedSlot        int32     // tried-table slot, or -1
	randPos          int       // index in Book.random
}

// Book is the address manager: a new table of addresses we heard of and a
// tried table of addresses we connected to (see the package comment). It is
// safe for concurrent use.
type Book struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	key        [32]byte
	rng        *mrand.Rand
	entries    map[netip.AddrPort]*entry
	random     []*entry // every entry, in an order GetAddr shuffles
	newT       table
	triedT     table
	nNew       int
	nTried     int
	lastGood   time.Time // the last Good: failures count once per success anywhere
	collisions []*entry  // new entries whose move to tried waits for a test
}

// New returns an empty book.
func New(cfg Config) *Book {
	cfg = cfg.withDefaults()
	seed := cfg.Seed
	if seed == 0 {
		var b [8]byte
		rand.Read(b[:]) // never fails (crypto/rand panics if the system's source does)
		seed = binary.LittleEndian.Uint64(b[:])
	}
	b := &Book{cfg: cfg, log: cfg.Logger, rng: mrand.New(mrand.NewPCG(seed, seed^0x61646472626f6f6b))}
	switch {
	case cfg.Key != nil:
		b.key = *cfg.Key
	case cfg.Seed != 0:
		for i := 0; i < len(b.key); i += 8 {
			binary.LittleEndian.PutUint64(b.key[i:], b.rng.Uint64())
		}
	default:
		rand.Read(b.key[:])
	}
	b.reset()
	return b
}

// reset empties the tables. b.mu must be held (or b unshared).
func (b *Book) reset() {
	b.entries = make(map[netip.AddrPort]*entry)
	b.random = nil
	b.newT = newTable(newBucketCount)
	b.triedT = newTable(triedBucketCount)
	b.nNew, b.nTried = 0, 0
	b.lastGood = time.Unix(1, 0) // so that "never counted" is before it
	b.collisions = nil
}

// acceptable reports whether the book takes ap as heard from source: a
// public address from anyone; a local one only from a local source or from
// ourselves (invalid source), and a loopback one only from loopback or
// ourselves, since another machine's loopback is not ours.
func acceptable(ap netip.AddrPort, source netip.Addr) bool {
	ip := ap.Addr()
	if !ap.IsValid() || ap.Port() == 0 {
		return false
	}
	if IsRoutable(ip) {
		return true
	}
	if !IsLocal(ip) {
		return false
	}
	if !source.IsValid() {
		return true
	}
	if ip.IsLoopback() {
		return source.IsLoopback()
	}
	return IsLocal(source)
}

func unmapAP(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// Hashes. Every placement is a SHA-256 of the key and what it depends on,
// cut to 64 bits: an outsider cannot predict it, and the book computes the
// same placement again from what it stores.

func (b *Book) hash(buf []byte) uint64 {
	sum := sha256.Sum256(buf)
	return binary.LittleEndian.Uint64(sum[:8])
}

// groupKey is the group an address is bucketed by: GroupOf, and for a local
// address its port too, because on one machine (a devnet on loopback) every
// node shares the IP and only the port tells them apart.
func groupKey(buf []byte, ap netip.AddrPort) []byte {
	g := GroupOf(ap.Addr())
	buf = append(buf, byte(g.kind))
	buf = append(buf, g.bits[:]...)
	var port uint16
	if g.kind == groupLocal {
		port = ap.Port()
	}
	return binary.LittleEndian.AppendUint16(buf, port)
}

func sourceKey(buf []byte, src netip.Addr) []byte {
	g := GroupOf(src)
	buf = append(buf, byte(g.kind))
	buf = append(buf, g.bits[:]...)
	return binary.LittleEndian.AppendUint16(buf, 0)
}

func addrKey(buf []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().As16()
	buf = append(buf, a[:]...)
	return binary.LittleEndian.AppendUint16(buf, ap.Port())
}

func (b *Book) start(tag byte) []byte {
	buf := make([]byte, 0, 96)
	buf = append(buf, b.key[:]...)
	return append(buf, tag)
}

// newBucket is the new bucket ap goes to when heard from src: one of 64
// buckets chosen by src's group, so a source group reaches at most 64 of
// the 1,024.
func (b *Book) newBucket(ap netip.AddrPort, src netip.Addr) int {
	h1 := b.hash(sourceKey(groupKey(b.start('n'), ap), src)) % newBucketsPerSourceGroup
	h2 := b.hash(binary.LittleEndian.AppendUint64(sourceKey(b.start('s'), src), h1)) % newBucketCount
	return int(h2)
}

// triedBucket is ap's tried bucket: one of 8 chosen by its group.
func (b *Book) triedBucket(ap netip.AddrPort) int {
	h1 := b.hash(addrKey(b.start('t'), ap)) % triedBucketsPerGroup
	h2 := b.hash(binary.LittleEndian.AppendUint64(groupKey(b.start('g'), ap), h1)) % triedBucketCount
	return int(h2)
}

// position is ap's position in a bucket of the new (tag 'N') or tried ('K')
// table.
func (b *Book) position(tag byte, bucket int, ap netip.AddrPort) int {
	buf := binary.LittleEndian.AppendUint16(b.start(tag), uint16(bucket))
	return int(b.hash(addrKey(buf, ap)) % bucketSize)
}

// Entry state.

func (e *entry) isTerrible(now time.Time) bool {
	switch {
	case !e.LastTry.IsZero() && now.Sub(e.LastTry) <= recentTry:
		return false
	case e.LastSeen.After(now.Add(futureSlack)):
		return true
	case now.Sub(e.LastSeen) > horizon:
		return true
	case e.LastSuccess.IsZero() && e.Attempts >= retries:
		return true
	case now.Sub(e.LastSuccess) > minFailWindow && e.Attempts >= maxFailures:
		return true
	}
	return false
}

// chance is how likely Select is to take e when it draws it: 1, a hundredth
// if tried in the last 10 minutes, and 0.66 less per failure (at most 8).
func (e *entry) chance(now time.Time) float64 {
	c := 1.0
	if !e.LastTry.IsZero() && now.Sub(e.LastTry) < deprioritizedAfter {
		c *= 0.01
	}
	return c * math.Pow(0.66, float64(min(e.Attempts, 8)))
}

func (e *entry) public() Entry {
	out := e.Entry
	out.Tried = e.triedSlot >= 0
	return out
}

// Table maintenance. b.mu is held in everything below.

func (b *Book) create(ap netip.AddrPort, src netip.Addr, services uint64, seen time.Time) *entry {
	e := &entry{Entry: Entry{Addr: ap, Services: services, LastSeen: seen, Source: src}, triedSlot: -1, randPos: len(b.random)}
	b.entries[ap] = e
	b.random = append(b.random, e)
	b.nNew++
	return e
}

// drop removes an entry that is in no table.
func (b *Book) drop(e *entry) {
	last := b.random[len(b.random)-1]
	b.random[e.randPos] = last
	last.randPos = e.randPos
	b.random = b.random[:len(b.random)-1]
	delete(b.entries, e.Addr)
	b.nNew--
}

// clearNew empties a new slot; an entry left in no new bucket goes.
func (b *Book) clearNew(slot int) {
	o := b.newT.slots[slot]
	if o == nil {
		return
	}
	b.newT.set(slot, nil)
	o.refs = slices.DeleteFunc(o.refs, func(s int32) bool { return int(s) == slot })
	if len(o.refs) == 0 && o.triedSlot < 0 {
		b.drop(o)
	}
}

func (b *Book) putNew(e *entry, slot int) {
	b.clearNew(slot)
	b.newT.set(slot, e)
	e.refs = append(e.refs, int32(slot))
}

func inBucket(refs []int32, bucket int) bool {
	return slices.ContainsFunc(refs, func(s int32) bool { return int(s)/bucketSize == bucket })
}

// newSlot is where e would go in a new bucket: its hashed position, or for
// a local address whose position is taken the next free one, so that a LAN
// of up to 64 machines never loses one to chance (a public address keeps
// its hashed position, which nobody without the key can aim at).
func (b *Book) newSlot(e *entry, bucket int) int {
	slot := bucket*bucketSize + b.position('N', bucket, e.Addr)
	if b.newT.slots[slot] != nil && IsLocal(e.Addr.Addr()) {
		if free := b.newT.freeIn(bucket, slot%bucketSize); free >= 0 {
			return free
		}
	}
	return slot
}

// triedSlotFor is where e would go in the tried table, with the same rule
// for local addresses.
func (b *Book) triedSlotFor(e *entry) int {
	bucket := b.triedBucket(e.Addr)
	slot := bucket*bucketSize + b.position('K', bucket, e.Addr)
	if o := b.triedT.slots[slot]; o != nil && o != e && IsLocal(e.Addr.Addr()) {
		if free := b.triedT.freeIn(bucket, slot%bucketSize); free >= 0 {
			return free
		}
	}
	return slot
}

// makeTried moves a new entry to the tried table; whatever held its slot
// goes back to the new table.
func (b *Book) makeTried(e *entry) {
	for _, s := range e.refs {
		b.newT.set(int(s), nil)
	}
	e.refs = e.refs[:0]
	slot := b.triedSlotFor(e)
	if old := b.triedT.slots[slot]; old != nil {
		b.triedT.set(slot, nil)
		old.triedSlot = -1
		b.nTried--
		b.nNew++
		ns := b.newSlot(old, b.newBucket(old.Addr, old.Source))
		b.putNew(old, ns)
		b.log.Debug("address moved from tried to new to make room", "addr", old.Addr, "for", e.Addr)
	}
	b.triedT.set(slot, e)
	e.triedSlot = int32(slot)
	b.nNew--
	b.nTried++
}

// Operations.

// Add records addresses heard from source (invalid: found by ourselves,
// as LAN discovery or the command line do; the address is then its own
// source). Each address is aged by penalty (Bitcoin Core gives 2 hours to
// relayed addresses; none for a peer's announcement of itself, which Add
// recognises); a LastSeen in the future (more than 10 minutes), before 1973
// or zero is taken as 5 days ago. Unusable addresses (no port, unroutable,
// or a LAN address from a public source) are ignored. It returns how many
// addresses the book did not hold before and holds now.
func (b *Book) Add(source netip.Addr, penalty time.Duration, entries ...Entry) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	source = source.Unmap()
	added := 0
	for i := range entries {
		if b.addOne(&entries[i], source, penalty, now) {
			added++
		}
	}
	return added
}

var earliest = time.Unix(100_000_000, 0)

func (b *Book) addOne(in *Entry, source netip.Addr, penalty time.Duration, now time.Time) bool {
	ap := unmapAP(in.Addr)
	if !acceptable(ap, source) {
		return false
	}
	src := source
	if !src.IsValid() {
		src = ap.Addr()
	}
	if src == ap.Addr() {
		penalty = 0 // a node announcing itself is as fresh as it says
	}
	seen := in.LastSeen
	if seen.Before(earliest) || seen.After(now.Add(futureSlack)) {
		seen = now.Add(-futurePenalty)
	}
	created := false
	e := b.entries[ap]
	if e != nil {
		interval := 24 * time.Hour
		if now.Sub(seen) < 24*time.Hour {
			interval = time.Hour // an address that looks online is refreshed hourly
		}
		if e.LastSeen.Before(seen.Add(-interval - penalty)) {
			e.LastSeen = seen.Add(-penalty)
		}
		e.Services |= in.Services
		switch {
		case !seen.After(e.LastSeen), e.triedSlot >= 0, len(e.refs) >= maxNewRefs:
			return false
		case len(e.refs) > 0 && b.rng.IntN(1<<len(e.refs)) != 0:
			return false // each further bucket is twice as hard to reach
		}
	} else {
		e = b.create(ap, src, in.Services, seen.Add(-penalty))
		created = true
	}
	bucket := b.newBucket(ap, src)
	if inBucket(e.refs, bucket) {
		return false
	}
	slot := b.newSlot(e, bucket)
	o := b.newT.slots[slot]
	if o == nil || o.isTerrible(now) || (len(o.refs) > 1 && len(e.refs) == 0) {
		b.putNew(e, slot)
		return created
	}
	if len(e.refs) == 0 {
		b.drop(e)
	}
	return false
}

// Good records that a connection we opened to a completed its handshake,
// with the services it announced. The address moves to the tried table
// unless its place there is taken: then the collision waits for a test of
// the entry holding it (see SelectTriedCollision and ResolveCollisions). An
// address the book did not hold is added first, as its own source.
func (b *Book) Good(a netip.AddrPort, services uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	a = unmapAP(a)
	e := b.entries[a]
	if e == nil {
		if !acceptable(a, netip.Addr{}) {
			return
		}
		b.addOne(&Entry{Addr: a, Services: services, LastSeen: now}, netip.Addr{}, 0, now)
		if e = b.entries[a]; e == nil {
			// Its new position is taken: straight to tried if there is
			// room, since we know it works.
			e = b.create(a, a.Addr(), services, now)
			if b.triedT.slots[b.triedSlotFor(e)] != nil {
				b.drop(e)
				return
			}
		}
	}
	b.good(e, services, now, true)
}

func (b *Book) good(e *entry, services uint64, now time.Time, testBeforeEvict bool) {
	b.lastGood = now
	e.LastSuccess, e.LastTry, e.Attempts = now, now, 0
	if services != 0 {
		e.Services = services
	}
	// LastSeen stays: refreshing it would tell whoever asks for addresses
	// which peers we have now.
	if e.triedSlot >= 0 {
		return
	}
	if testBeforeEvict {
		if o := b.triedT.slots[b.triedSlotFor(e)]; o != nil {
			if len(b.collisions) < maxCollisions && !slices.Contains(b.collisions, e) {
				b.collisions = append(b.collisions, e)
			}
			b.log.Debug("tried collision", "addr", e.Addr, "with", o.Addr, "collisions", len(b.collisions))
			return
		}
	}
	b.makeTried(e)
}

// Attempt records that we dialled a (whatever came of it). countFailure
// says whether the dial counts against the address should it fail; Bitcoin
// Core counts only while it has at least two outbound connections, so that
// an outage of our own does not ruin the book. A failure counts once per
// Good anywhere, for the same reason.
func (b *Book) Attempt(a netip.AddrPort, countFailure bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	e := b.entries[unmapAP(a)]
	if e == nil {
		return
	}
	e.LastTry = now
	if countFailure && e.lastCountAttempt.Before(b.lastGood) {
		e.lastCountAttempt = now
		e.Attempts++
	}
}

// Connected records that an outbound connection to a ended after being
// up: its LastSeen becomes now (at most every 20 minutes), which keeps
// addresses we use fresh without telling anyone when we used them.
func (b *Book) Connected(a netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	if e := b.entries[unmapAP(a)]; e != nil && now.Sub(e.LastSeen) > connectedInterval {
		e.LastSeen = now
	}
}

// Select picks an address to dial. Unless newOnly, it takes the tried or
// the new table with even odds (the other when one is empty); within it, a
// random occupied bucket, a random position and the next entry from there,
// taken with its chance (1; ×0.01 if tried in the last 10 minutes; ×0.66
// per failure, at most 8) times a factor that grows 1.2× per refusal, so a
// bad entry is rarely taken but some entry always is. skip (nil: none)
// rules entries out (connected already, a group in use, backing off); it is
// called with the book locked and must not call the book. Select returns
// false only when no entry passes skip.
func (b *Book) Select(newOnly bool, skip func(Entry) bool) (Entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nNew+b.nTried == 0 || (newOnly && b.nNew == 0) {
		return Entry{}, false
	}
	now := b.cfg.Now()
	useTried := !newOnly && b.nTried > 0 && (b.nNew == 0 || b.rng.IntN(2) == 0)
	t := &b.newT
	if useTried {
		t = &b.triedT
	}
	factor := 1.0
	for range maxSelectDraws {
		bucket := int(t.nonEmpty[b.rng.IntN(len(t.nonEmpty))])
		e := t.slots[t.firstFrom(bucket, b.rng.IntN(bucketSize))]
		pub := e.public()
		if skip != nil && skip(pub) {
			continue
		}
		if b.rng.Float64() < factor*e.chance(now) {
			return pub, true
		}
		factor *= 1.2
	}
	// Almost everything is skipped: choose among what is left, by chance,
	// in the drawn table first.
	for _, tried := range []bool{useTried, !useTried} {
		if tried && newOnly {
			continue
		}
		var pick *entry
		total := 0.0
		for _, e := range b.random {
			if (e.triedSlot >= 0) != tried {
				continue
			}
			if skip != nil && skip(e.public()) {
				continue
			}
			c := e.chance(now)
			total += c
			if b.rng.Float64()*total < c {
				pick = e
			}
		}
		if pick != nil {
			return pick.public(), true
		}
	}
	return Entry{}, false
}

// SelectTriedCollision returns the tried entry that a waiting collision
// would evict, for a feeler connection to test: if it answers (Good), it
// stays; if not (Attempt), ResolveCollisions replaces it.
func (b *Book) SelectTriedCollision() (Entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.collisions) == 0 {
		return Entry{}, false
	}
	i := b.rng.IntN(len(b.collisions))
	e := b.collisions[i]
	if b.entries[e.Addr] != e || e.triedSlot >= 0 {
		b.collisions = slices.Delete(b.collisions, i, i+1)
		return Entry{}, false
	}
	o := b.triedT.slots[b.triedSlotFor(e)]
	if o == nil {
		return Entry{}, false
	}
	return o.public(), true
}

// ResolveCollisions settles the waiting collisions as Bitcoin Core does:
// the old entry stays if it succeeded in the last 4 hours; it is replaced
// if it was tried in the last 4 hours, at least a minute ago, without
// success since; and if nobody tested it within 40 minutes of the
// newcomer's success, the newcomer takes its place anyway. Call it before
// each feeler.
func (b *Book) ResolveCollisions() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	b.collisions = slices.DeleteFunc(b.collisions, func(e *entry) bool {
		if b.entries[e.Addr] != e || e.triedSlot >= 0 {
			return true
		}
		o := b.triedT.slots[b.triedSlotFor(e)]
		switch {
		case o == nil:
			b.good(e, 0, now, false)
		case now.Sub(o.LastSuccess) < replacementWindow:
			b.log.Debug("tried collision: old entry kept", "addr", o.Addr, "over", e.Addr)
		case now.Sub(o.LastTry) < replacementWindow:
			if now.Sub(o.LastTry) <= collisionGrace {
				return false // the test is under way
			}
			b.log.Debug("tried collision: old entry replaced", "addr", o.Addr, "by", e.Addr)
			b.good(e, 0, now, false)
		case now.Sub(e.LastSuccess) > testWindow:
			b.log.Debug("tried collision: untested, old entry replaced", "addr", o.Addr, "by", e.Addr)
			b.good(e, 0, now, false)
		default:
			return false // waiting for a test
		}
		return true
	})
}

// GetAddr returns a random selection of entries for a getaddr answer: at
// most maxPct percent of the book (0: no limit) and at most maxAddrs (0: no
// limit), skipping terrible ones.
func (b *Book) GetAddr(maxAddrs, maxPct int) []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	n := len(b.random)
	if maxPct > 0 {
		n = min(n, maxPct*n/100)
	}
	if maxAddrs > 0 {
		n = min(n, maxAddrs)
	}
	out := make([]Entry, 0, n)
	for i := 0; i < len(b.random) && len(out) < n; i++ {
		j := i + b.rng.IntN(len(b.random)-i)
		b.random[i], b.random[j] = b.random[j], b.random[i]
		b.random[i].randPos, b.random[j].randPos = i, j
		if e := b.random[i]; !e.isTerrible(now) {
			out = append(out, e.public())
		}
	}
	return out
}

// Len returns how many addresses the new and the tried tables hold.
func (b *Book) Len() (newCount, triedCount int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nNew, b.nTried
}

// Lookup returns what the book knows of a.
func (b *Book) Lookup(a netip.AddrPort) (Entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[unmapAP(a)]
	if e == nil {
		return Entry{}, false
	}
	return e.public(), true
}

// Entries returns a copy of every entry: tried first, then most recently
// seen first.
func (b *Book) Entries() []Entry {
	b.mu.Lock()
	out := make([]Entry, 0, len(b.random))
	for _, e := range b.random {
		out = append(out, e.public())
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(x, y Entry) int {
		if x.Tried != y.Tried {
			if x.Tried {
				return -1
			}
			return 1
		}
		return y.LastSeen.Compare(x.LastSeen)
	})
	return out
}
