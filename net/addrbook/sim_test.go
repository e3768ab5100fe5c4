package addrbook

import (
	"container/heap"
	"maps"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// The eclipse simulation of issue 10 (Heilman et al., "Eclipse Attacks on
// Bitcoin's Peer-to-Peer Network", 2015, and the countermeasures Bitcoin
// Core took from it), in fake time with no sockets.
//
// The network: 1,000 honest nodes in 500 /16 groups, all reachable, and an
// attacker with 256 reachable addresses in 16 /16 groups. The victim runs
// a node's policy over a book (the address manager, or the flat book this
// package used to be):
//
//   - 8 full-relay outbound connections, at most one per group, chosen
//     with Select (Pick for the flat book), skipping addresses tried in
//     the last 10 minutes; every dial is an Attempt, every handshake a
//     Good. An honest outbound peer leaves after 6 hours on average; the
//     attacker's never do. Each new outbound peer is sent getaddr and
//     answers: an honest one with 23% of the honest addresses, the
//     attacker with 1,000 addresses of its choice.
//   - A feeler every 2 minutes on average: ResolveCollisions, then the
//     tried entry a collision would evict, or else a new-table address.
//   - Address relay: a peer's token bucket starts at 1 and fills at 0.1
//     per second (at most 1,000); an answer to our getaddr is let through
//     whole. Honest outbound peers relay an honest address now and then.
//   - The attacker holds 16 inbound connections (one per group of its
//     own), reconnects each every minute for a fresh token, and sends all
//     its tokens allow: its own addresses (a quarter) and made-up ones
//     (never reachable) in random public /16s.
//
// A day to warm up with honest peers only, then a day of attack; then the
// book is saved and loaded (a restart) and the victim opens its 8 outbound
// connections many times over from the loaded book. The figures: the
// attacker's share of the tried table (of the whole book for the flat
// book, which has no tables), and the share of restarts in which every
// outbound connection goes to the attacker, the paper's measure of an
// eclipse.

const (
	simHonest         = 1000
	simAttacker       = 256
	simAttackerGroups = 16
	simOutbound       = 8
	simFeelerMean     = 2 * time.Minute
	simHonestLife     = 6 * time.Hour
	simAttackConns    = 16
	simReconnect      = time.Minute
	simDay            = 24 * time.Hour
	simGetAddrPct     = 23
)

type role int

const (
	trash role = iota
	honest
	attacker
)

// simBook is what the simulation needs of a book.
type simBook interface {
	add(source netip.Addr, entries []Entry)
	// pick chooses an address to dial; feeler asks for new-table only.
	pick(feeler bool, skip func(a netip.AddrPort, lastTry time.Time) bool) (netip.AddrPort, bool)
	dialled(a netip.AddrPort, countFailure, reachable bool)
	disconnected(a netip.AddrPort)
	// collision returns a tried entry to test, after settling collisions.
	collision() (netip.AddrPort, bool)
	// contents returns the addresses the figure is about (tried) and all.
	contents() (tried, all []netip.AddrPort)
	restart(t *testing.T, seed uint64) simBook
}

type managerSim struct{ b *Book }

func (m managerSim) add(src netip.Addr, e []Entry) { m.b.Add(src, 2*time.Hour, e...) }
func (m managerSim) pick(feeler bool, skip func(netip.AddrPort, time.Time) bool) (netip.AddrPort, bool) {
	e, ok := m.b.Select(feeler, func(e Entry) bool { return skip(e.Addr, e.LastTry) })
	return e.Addr, ok
}
func (m managerSim) dialled(a netip.AddrPort, count, ok bool) {
	m.b.Attempt(a, count)
	if ok {
		m.b.Good(a, 1)
	}
}
func (m managerSim) disconnected(a netip.AddrPort) { m.b.Connected(a) }
func (m managerSim) collision() (netip.AddrPort, bool) {
	m.b.ResolveCollisions()
	e, ok := m.b.SelectTriedCollision()
	return e.Addr, ok
}
func (m managerSim) contents() (tried, all []netip.AddrPort) {
	for _, e := range m.b.Entries() {
		all = append(all, e.Addr)
		if e.Tried {
			tried = append(tried, e.Addr)
		}
	}
	return tried, all
}
func (m managerSim) restart(t *testing.T, seed uint64) simBook {
	path := filepath.Join(t.TempDir(), "peers.dat")
	if err := m.b.Save(path); err != nil {
		t.Fatal(err)
	}
	b := New(Config{Seed: seed})
	if err := b.Load(path); err != nil {
		t.Fatal(err)
	}
	return managerSim{b}
}

type flatSim struct{ b *flatBook }

func (f flatSim) add(_ netip.Addr, entries []Entry) {
	for _, e := range entries {
		f.b.Add(flatEntry{Addr: e.Addr, Services: e.Services, LastSeen: e.LastSeen})
	}
}
func (f flatSim) pick(feeler bool, skip func(netip.AddrPort, time.Time) bool) (netip.AddrPort, bool) {
	if feeler {
		return netip.AddrPort{}, false // no new table to move addresses from (and the old node had no feelers)
	}
	// The flat book backs off failed addresses itself.
	return f.b.Pick(func(a netip.AddrPort) bool { return skip(a, time.Time{}) })
}
func (f flatSim) dialled(a netip.AddrPort, _, ok bool) {
	f.b.Attempt(a)
	if ok {
		f.b.Good(a, 1)
	} else {
		f.b.Failed(a)
	}
}
func (f flatSim) disconnected(netip.AddrPort)       {}
func (f flatSim) collision() (netip.AddrPort, bool) { return netip.AddrPort{}, false }
func (f flatSim) contents() (tried, all []netip.AddrPort) {
	for a := range f.b.entries {
		all = append(all, a)
	}
	return all, all
}
func (f flatSim) restart(t *testing.T, seed uint64) simBook {
	path := filepath.Join(t.TempDir(), "peers.json")
	if err := f.b.Save(path); err != nil {
		t.Fatal(err)
	}
	b := newFlatBook(flatConfig{Seed: seed})
	if err := b.Load(path); err != nil {
		t.Fatal(err)
	}
	return flatSim{b}
}

// The event queue.

type simEvent struct {
	at   time.Time
	seq  int
	kind int
	arg  int
}

const (
	evFeeler = iota
	evFill
	evClose  // arg: index into sim.outbound order (by address key)
	evAttack // arg: attacker connection
	evRelay
)

type eventQueue []simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

type sim struct {
	book     simBook
	rng      *rand.Rand
	honest   []netip.AddrPort
	attacker []netip.AddrPort
	roles    map[netip.AddrPort]role
	outbound map[netip.AddrPort]bool
	closing  map[int]netip.AddrPort // evClose arg → the peer it closes
	nextArg  int
	groups   map[Group]int // groups of outbound peers
	attack   bool
	ownShare float64 // of the attacker's addresses, how many are its own
	q        eventQueue
	seq      int
	// what happened, for the log
	feelers, feelerOK, dials int
}

func newSim(book simBook, seed uint64) *sim {
	s := &sim{book: book, rng: rand.New(rand.NewPCG(seed, 7)), roles: map[netip.AddrPort]role{},
		outbound: map[netip.AddrPort]bool{}, closing: map[int]netip.AddrPort{}, groups: map[Group]int{}}
	for i := range simHonest {
		a := pub(i/2, i%2+1) // 500 groups of 2
		s.honest = append(s.honest, a)
		s.roles[a] = honest
	}
	for j := range simAttacker {
		a := pub(1000+j%simAttackerGroups, j/simAttackerGroups+1)
		s.attacker = append(s.attacker, a)
		s.roles[a] = attacker
	}
	return s
}

func (s *sim) at(d time.Duration, kind, arg int) {
	s.seq++
	heap.Push(&s.q, simEvent{at: time.Now().Add(d), seq: s.seq, kind: kind, arg: arg})
}

func (s *sim) exp(mean time.Duration) time.Duration {
	return time.Duration(s.rng.ExpFloat64() * float64(mean))
}

// made-up returns an address nobody runs, in a random public /16.
func (s *sim) madeUp() netip.AddrPort { return pub(2000+s.rng.IntN(40_000), s.rng.IntN(65_536)) }

// attackerAddrs is n addresses as the attacker sends them.
func (s *sim) attackerAddrs(n int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		a := s.madeUp()
		if s.rng.Float64() < s.ownShare {
			a = s.attacker[s.rng.IntN(len(s.attacker))]
		}
		out[i] = Entry{Addr: a, Services: 1, LastSeen: time.Now()}
	}
	return out
}

// honestAddrs is n honest addresses with the times an honest node has for
// them (up to 3 days old).
func (s *sim) honestAddrs(n int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		out[i] = Entry{Addr: s.honest[s.rng.IntN(len(s.honest))], Services: 1,
			LastSeen: time.Now().Add(-time.Duration(s.rng.Int64N(int64(72 * time.Hour))))}
	}
	return out
}

// dial tries a and reports whether it answered.
func (s *sim) dial(a netip.AddrPort) bool {
	s.dials++
	ok := s.roles[a] != trash
	s.book.dialled(a, len(s.outbound) >= 2, ok)
	return ok
}

// fill opens outbound connections until there are 8, trying at most 100
// addresses (as Bitcoin Core's connection loop), then tries again later.
func (s *sim) fill() {
	now := time.Now()
	for tries := 0; len(s.outbound) < simOutbound && tries < 100; tries++ {
		a, ok := s.book.pick(false, func(a netip.AddrPort, lastTry time.Time) bool {
			return s.outbound[a] || s.groups[GroupOf(a.Addr())] > 0 || (now.Sub(lastTry) < 10*time.Minute && tries < 30)
		})
		if !ok {
			break
		}
		if !s.dial(a) {
			continue
		}
		s.outbound[a] = true
		s.groups[GroupOf(a.Addr())]++
		// Our getaddr, answered whole.
		if s.roles[a] == honest {
			s.book.add(a.Addr(), s.honestAddrs(simHonest*simGetAddrPct/100))
			s.nextArg++
			s.closing[s.nextArg] = a
			s.at(s.exp(simHonestLife), evClose, s.nextArg)
		} else {
			s.book.add(a.Addr(), s.attackerAddrs(1000))
		}
	}
	if len(s.outbound) < simOutbound {
		s.at(time.Minute, evFill, 0)
	}
}

func (s *sim) feeler() {
	s.feelers++
	a, ok := s.book.collision()
	if !ok {
		now := time.Now()
		a, ok = s.book.pick(true, func(a netip.AddrPort, lastTry time.Time) bool {
			return s.outbound[a] || now.Sub(lastTry) < 10*time.Minute
		})
	}
	if ok && s.dial(a) {
		s.feelerOK++
		s.book.disconnected(a)
	}
	s.at(s.exp(simFeelerMean), evFeeler, 0)
}

// run plays events until d from now.
func (s *sim) run(d time.Duration) {
	end := time.Now().Add(d)
	for s.q.Len() > 0 && !s.q[0].at.After(end) {
		ev := heap.Pop(&s.q).(simEvent)
		time.Sleep(time.Until(ev.at))
		switch ev.kind {
		case evFeeler:
			s.feeler()
		case evFill:
			s.fill()
		case evClose:
			a := s.closing[ev.arg]
			delete(s.closing, ev.arg)
			delete(s.outbound, a)
			s.groups[GroupOf(a.Addr())]--
			s.book.disconnected(a)
			s.fill()
		case evAttack:
			if !s.attack {
				continue
			}
			// The connection that ends had 0.1 tokens a second; the one
			// that replaces it starts with 1.
			n := int(simReconnect.Seconds()*0.1) + 1
			src := s.attacker[(ev.arg+s.rng.IntN(simAttacker/simAttackerGroups)*simAttackerGroups)%simAttacker]
			s.book.add(src.Addr(), s.attackerAddrs(n))
			s.at(simReconnect, evAttack, ev.arg)
		case evRelay:
			for _, a := range slices.SortedFunc(maps.Keys(s.outbound), netip.AddrPort.Compare) { // in a fixed order, for the rng
				if s.roles[a] == honest && s.rng.IntN(5) == 0 {
					s.book.add(a.Addr(), s.honestAddrs(1))
				}
			}
			s.at(time.Minute, evRelay, 0)
		}
	}
	time.Sleep(time.Until(end))
}

// restartTrial opens 8 outbound connections from a freshly loaded book,
// without writing to it (so that every trial starts from the same book),
// and reports how many it made and how many went to the attacker.
func (s *sim) restartTrial(book simBook) (attackers, connected int) {
	tried := map[netip.AddrPort]bool{}
	groups := map[Group]bool{}
	for dials := 0; connected < simOutbound && dials < 2000; dials++ {
		a, ok := book.pick(false, func(a netip.AddrPort, _ time.Time) bool {
			return tried[a] || groups[GroupOf(a.Addr())]
		})
		if !ok {
			break
		}
		tried[a] = true
		if s.roles[a] == trash {
			continue
		}
		groups[GroupOf(a.Addr())] = true
		connected++
		if s.roles[a] == attacker {
			attackers++
		}
	}
	return attackers, connected
}

type simResult struct {
	share    float64 // attacker's share of the tried table (of the book, for the flat one)
	eclipsed float64 // share of restarts with every outbound connection to the attacker
	outShare float64 // attacker's share of the outbound connections after restarts
	trials   int
}

func simulate(t *testing.T, book simBook, trials int, ownShare float64) simResult {
	var res simResult
	synctest.Test(t, func(t *testing.T) {
		s := newSim(book, 42)
		s.ownShare = ownShare
		// Bootstrap: a seed gives 50 honest addresses.
		s.book.add(netip.MustParseAddr("7.7.7.7"), s.honestAddrs(50))
		s.at(0, evFill, 0)
		s.at(s.exp(simFeelerMean), evFeeler, 0)
		s.at(time.Minute, evRelay, 0)
		s.run(simDay)
		s.attack = true
		for k := range simAttackConns {
			s.at(time.Duration(k)*simReconnect/simAttackConns, evAttack, k)
		}
		s.run(simDay)

		count := func(list []netip.AddrPort) (h, a, x int) {
			for _, e := range list {
				switch s.roles[e] {
				case honest:
					h++
				case attacker:
					a++
				default:
					x++
				}
			}
			return
		}
		triedList, all := s.book.contents()
		th, ta, tx := count(triedList)
		ah, aa, ax := count(all)
		res.share = float64(ta+tx) / float64(max(1, th+ta+tx))
		outAttacker := 0
		for a := range s.outbound {
			if s.roles[a] == attacker {
				outAttacker++
			}
		}

		loaded := s.book.restart(t, 43)
		eclipsed, short, attackers, connected := 0, 0, 0, 0
		for range trials {
			a, n := s.restartTrial(loaded)
			if n > 0 && a == n {
				eclipsed++
			}
			if n < simOutbound {
				short++
			}
			attackers += a
			connected += n
		}
		res.eclipsed, res.trials = float64(eclipsed)/float64(trials), trials
		res.outShare = float64(attackers) / float64(max(1, connected))
		t.Logf("after a day of attack: tried table (flat: book) %d honest, %d attacker, %d made-up; whole book %d honest, %d attacker, %d made-up; "+
			"outbound before the restart %d/8 attacker; %d feelers (%d answered), %d dials", th, ta, tx, ah, aa, ax, outAttacker, s.feelers, s.feelerOK, s.dials)
		t.Logf("FIGURES: attacker's share of the tried table (flat: book) %.1f%%; after a restart all 8 outbound to the attacker in %d of %d restarts (%.2f%%), "+
			"attacker's share of outbound connections %.1f%% (%d restarts short of 8)", 100*res.share, eclipsed, trials, 100*res.eclipsed, 100*res.outShare, short)
	})
	return res
}

func TestEclipseSimulation(t *testing.T) {
	for _, strategy := range []struct {
		name     string
		ownShare float64
	}{
		// Made-up addresses flush the flat book; the attacker's own
		// addresses are what can reach the tried table.
		{"flood of made-up and own addresses", 0.25},
		{"own addresses only", 1},
	} {
		t.Run(strategy.name, func(t *testing.T) {
			var manager, flat simResult
			t.Run("manager", func(t *testing.T) {
				manager = simulate(t, managerSim{New(Config{Seed: 1})}, 1000, strategy.ownShare)
			})
			t.Run("flat", func(t *testing.T) {
				// Few restarts: every Pick of the flat book reads all of it.
				flat = simulate(t, flatSim{newFlatBook(flatConfig{Seed: 1})}, 10, strategy.ownShare)
			})
			if t.Failed() {
				return
			}
			// Bounds with room for other seeds, far from the flat book's.
			if manager.share > 0.35 {
				t.Errorf("the attacker holds %.1f%% of the tried table; want at most 35%%", 100*manager.share)
			}
			if manager.eclipsed > 0.01 || manager.outShare > 0.5 {
				t.Errorf("after restarts: every outbound to the attacker in %.2f%%, %.1f%% of outbound to it; want at most 1%% and 50%%",
					100*manager.eclipsed, 100*manager.outShare)
			}
			if flat.eclipsed < 0.9 || manager.outShare > flat.outShare/2 {
				t.Errorf("eclipsed restarts: manager %.2f%%, flat %.0f%%; outbound to the attacker: manager %.1f%%, flat %.1f%%; want the flat book eclipsed and the manager far from it",
					100*manager.eclipsed, 100*flat.eclipsed, 100*manager.outShare, 100*flat.outShare)
			}
		})
	}
}
