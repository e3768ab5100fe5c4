package miner

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/miner/internal/kernel"
)

// impossible is a target no header meets in practice (the hash would need 256
// zero bits): a test mines against it when mining must last.
var impossible sha256d.Hash

// jobLog collects the jobs a miner starts (its onJob hook) for a test to wait
// on. The hook never blocks the coordinator.
type jobLog struct {
	mu   sync.Mutex
	jobs []*job
	more chan struct{} // signalled on every job
}

func newJobLog(m *Miner) *jobLog {
	l := &jobLog{more: make(chan struct{}, 1)}
	m.onJob = func(j *job) {
		l.mu.Lock()
		l.jobs = append(l.jobs, j)
		l.mu.Unlock()
		signal(l.more)
	}
	return l
}

// wait returns the first job after the first `from` that satisfies ok.
func (l *jobLog) wait(t *testing.T, from int, ok func(*job) bool) (*job, int) {
	t.Helper()
	for {
		l.mu.Lock()
		for i := from; i < len(l.jobs); i++ {
			if ok(l.jobs[i]) {
				j := l.jobs[i]
				l.mu.Unlock()
				return j, i + 1
			}
		}
		from = len(l.jobs)
		l.mu.Unlock()
		select {
		case <-l.more:
		case <-t.Context().Done():
			t.Fatal("test ended waiting for a job")
		}
	}
}

// newMiner makes a miner on the harness's chain with its clock and key.
func newMiner(t testing.TB, h *chaintest.Harness, pool *mempool.Pool, cfg Config) *Miner {
	t.Helper()
	cfg.Chain = h.Chain
	cfg.Pool = pool
	if cfg.Script == nil {
		cfg.Script = h.Script
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return h.Clock }
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// running starts m.Run and returns a function that stops it and returns
// Run's error.
func running(t *testing.T, m *Miner) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return stop
}

func TestGenerate(t *testing.T) {
	e := newPoolEnv(t, 3)
	parent := e.pay(t, 10_000, e.coins[0])
	child := e.pay(t, 50_000, outCoin(parent, 0))
	other := e.pay(t, 20_000, e.coins[1])
	e.accept(t, parent, child, other)
	var found []Found
	m := newMiner(t, e.h, e.pool, Config{Threads: 2, OnBlock: func(f Found) { found = append(found, f) }})
	start := e.h.Chain.Tip()
	payout := chain.PayToPubKeyHashScript([20]byte{1, 2, 3})
	if tm, err := m.Template(payout); err != nil || tm.Parent != start || len(tm.Txs) != 3 || tm.Fees != 80_000 ||
		string(tm.Coinbase.Outputs[0].ScriptPubKey) != string(payout) {
		t.Fatalf("Template: %+v, %v", tm, err)
	}

	hashes, err := m.Generate(t.Context(), 3, payout)
	if err != nil {
		t.Fatal(err)
	}
	tip := e.h.Chain.Tip()
	if len(hashes) != 3 || tip.Height != start.Height+3 || tip.Hash != hashes[2] {
		t.Fatalf("generated %v; tip %d %s, want height %d", hashes, tip.Height, tip.Hash, start.Height+3)
	}
	if len(found) != 3 {
		t.Fatalf("OnBlock heard of %d blocks, want 3", len(found))
	}
	for i, f := range found {
		n := e.h.Chain.NodeAt(start.Height + 1 + int32(i))
		if f.Err != nil || f.Hash != hashes[i] || n == nil || n.Hash != f.Hash || f.Height != n.Height {
			t.Fatalf("found %d: %s at %d (%v), chain has %v", i, f.Hash, f.Height, f.Err, n)
		}
		b, err := e.h.Chain.Block(n)
		if err != nil {
			t.Fatal(err)
		}
		cb := b.Txs[0]
		if string(cb.Outputs[0].ScriptPubKey) != string(payout) || cb.Outputs[0].Value != chain.Regtest.Subsidy(n.Height)+f.Fees {
			t.Fatalf("block %d pays %d to %x", n.Height, cb.Outputs[0].Value, cb.Outputs[0].ScriptPubKey)
		}
		if b.Header.Version != Version || int64(b.Header.Time) <= n.Parent.MedianTimePast() {
			t.Fatalf("block %d header %+v", n.Height, b.Header)
		}
	}
	// The first block took the pool's transactions, parents first.
	if found[0].Txs != 3 || found[0].Fees != 80_000 || found[1].Txs != 0 {
		t.Fatalf("blocks hold %d (fees %d) and %d transactions", found[0].Txs, found[0].Fees, found[1].Txs)
	}
	txs := found[0].Block.Txs
	if txs[1].TxID() != other.TxID() || txs[2].TxID() != parent.TxID() || txs[3].TxID() != child.TxID() {
		t.Fatal("transactions out of order")
	}
	if n := e.pool.Info().Count; n != 0 {
		t.Fatalf("pool still holds %d transactions", n)
	}
	st := m.Stats()
	if st.Found != 3 || st.Mining || st.Rejected != 0 || st.Templates < 3 || st.Jobs < 3 || st.Hashes < 3 || st.Height != tip.Height {
		t.Fatalf("stats %+v", st)
	}
}

func TestGenerateManyBlocks(t *testing.T) {
	// Enough blocks to cross a subsidy halving (150 on regtest) and cover
	// heights whose BIP34 push grows from one byte to two.
	h := chaintest.New(t, chain.Regtest)
	m := newMiner(t, h, nil, Config{})
	hashes, err := m.Generate(t.Context(), 160, h.Script)
	if err != nil {
		t.Fatal(err)
	}
	if tip := h.Chain.Tip(); tip.Height != 160 || tip.Hash != hashes[159] {
		t.Fatalf("tip %d %s", tip.Height, tip.Hash)
	}
	b, err := h.Chain.Block(h.Chain.Tip())
	if err != nil {
		t.Fatal(err)
	}
	if v := b.Txs[0].Outputs[0].Value; v != 25*chain.Coin {
		t.Fatalf("block 160 pays %d", v)
	}
}

func TestErrors(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	t.Run("config", func(t *testing.T) {
		bad := Config{Tag: string(make([]byte, MaxTagSize+1)), Threads: -1, MaxWeight: chain.MaxBlockWeight + 1, RefreshInterval: -1}
		err := bad.Validate()
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("error %v", err)
		}
		// Every problem is reported: no chain, tag, threads, weight, interval.
		if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 5 {
			t.Fatalf("%d problems reported: %v", n, err)
		}
		if _, err := New(bad); !errors.Is(err, ErrConfig) {
			t.Fatalf("New: %v", err)
		}
	})
	t.Run("unknown kernel", func(t *testing.T) {
		_, err := New(Config{Chain: h.Chain, Kernel: "nope"})
		if !errors.Is(err, ErrConfig) || !errors.Is(err, kernel.ErrUnknownKernel) {
			t.Fatalf("error %v", err)
		}
	})
	m := newMiner(t, h, nil, Config{Script: []byte{}, Kernel: "generic"})
	t.Run("no script", func(t *testing.T) {
		if err := m.Run(t.Context()); !errors.Is(err, ErrNoScript) {
			t.Fatalf("Run: %v", err)
		}
		if _, err := m.Generate(t.Context(), 1, nil); !errors.Is(err, ErrNoScript) {
			t.Fatalf("Generate: %v", err)
		}
	})
	t.Run("no blocks", func(t *testing.T) {
		if _, err := m.Generate(t.Context(), 0, h.Script); !errors.Is(err, ErrConfig) {
			t.Fatalf("Generate 0: %v", err)
		}
	})
	t.Run("busy", func(t *testing.T) {
		m.targetFor = func(*Template) sha256d.Hash { return impossible }
		jobs := newJobLog(m)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := m.Generate(ctx, 1, h.Script)
			done <- err
		}()
		jobs.wait(t, 0, func(*job) bool { return true })
		if _, err := m.Generate(t.Context(), 1, h.Script); !errors.Is(err, ErrBusy) {
			t.Fatalf("second Generate: %v", err)
		}
		cancel()
		// Interrupted, Generate says how far it got and why it stopped.
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted Generate: %v", err)
		}
	})
}

func TestExtranonceRolls(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	m := newMiner(t, h, nil, Config{Threads: 2})
	m.nonceLimit = 1 << 12
	var easy atomic.Bool
	m.targetFor = func(tm *Template) sha256d.Hash {
		if easy.Load() {
			return tm.Target
		}
		return impossible
	}
	jobs := newJobLog(m)
	var found []Found
	m.cfg.OnBlock = func(f Found) { found = append(found, f) }
	stop := running(t, m)

	first, next := jobs.wait(t, 0, func(*job) bool { return true })
	if first.why != "tip" {
		t.Fatalf("first job started by %q", first.why)
	}
	// Rolls follow one another, each with the next extranonce, on the same
	// template and the same time.
	prev := first
	for range 3 {
		var j *job
		j, next = jobs.wait(t, next, func(*job) bool { return true })
		if j.why != "roll" || j.tmpl != first.tmpl || j.extranonce != prev.extranonce+1 || j.kjob.Midstate == prev.kjob.Midstate {
			t.Fatalf("job %q extranonce %#x after %#x (same template %v)", j.why, j.extranonce, prev.extranonce, j.tmpl == first.tmpl)
		}
		prev = j
	}
	// (A roll comes as soon as every nonce is claimed, while the last
	// ranges are still being scanned: Stats.Hashes is TestStats's business.)
	if st := m.Stats(); st.Rolls < 3 {
		t.Fatalf("stats after three rolls: %+v", st)
	}
	// A rolled job finds a block the chain accepts (the next roll gets the
	// real target).
	easy.Store(true)
	j, _ := jobs.wait(t, next, func(j *job) bool { return j.target == first.tmpl.Target })
	_, _ = jobs.wait(t, next, func(j *job) bool { return j.tmpl != first.tmpl }) // the template after the block
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 || found[0].Err != nil {
		t.Fatalf("found %+v", found)
	}
	b := found[0].Block
	en, _ := Extranonce(&b.Txs[0], found[0].Height)
	// From the first job with the real target or a roll after it, which
	// may be scanned beside it (a roll starts once every nonce is claimed)
	// and find first.
	if en < j.extranonce || en < first.extranonce+3 || b.Header.Nonce >= 1<<12 {
		t.Fatalf("block extranonce %#x (job %#x, first %#x), nonce %d", en, j.extranonce, first.extranonce, b.Header.Nonce)
	}
	if n := h.Chain.NodeByHash(found[0].Hash); n == nil || !h.Chain.InActiveChain(n) {
		t.Fatal("the block is not in the active chain")
	}
}

func TestRestartOnNewTip(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	h.Mine(5)
	tip0 := h.Chain.Tip()
	m := newMiner(t, h, nil, Config{Threads: 2})
	// Nothing is found on tip0; on anything else the real target applies.
	m.targetFor = func(tm *Template) sha256d.Hash {
		if tm.Parent == tip0 {
			return impossible
		}
		return tm.Target
	}
	jobs := newJobLog(m)
	foundc := make(chan Found, 1) // the first block found; mining goes on
	m.cfg.OnBlock = func(f Found) {
		select {
		case foundc <- f:
		default:
		}
	}
	stop := running(t, m)
	_, next := jobs.wait(t, 0, func(j *job) bool { return j.tmpl.Parent == tip0 })

	// A block arrives from elsewhere while the workers search.
	other := h.Next(tip0, 0)
	begin := time.Now()
	if _, err := h.Chain.ProcessBlock(other, nil); err != nil {
		t.Fatal(err)
	}
	j, _ := jobs.wait(t, next, func(j *job) bool { return j.tmpl.Parent.Hash == other.Hash() })
	restart := time.Since(begin)
	var f Found
	select {
	case f = <-foundc:
	case <-time.After(time.Minute):
		t.Fatal("no block found on the new tip in a minute")
	}
	t.Logf("job on the new tip %s after the block was processed; block found on it %s after", restart, time.Since(begin))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if j.why != "tip" {
		t.Fatalf("job on the new tip started by %q", j.why)
	}
	if f.Err != nil || f.Block.Header.PrevBlock != other.Hash() || f.Height != tip0.Height+2 {
		t.Fatalf("found %s at %d on %s (%v); want on %s", f.Hash, f.Height, f.Block.Header.PrevBlock, f.Err, other.Hash())
	}
	// Mining went on after it: the block is in the active chain.
	if n := h.Chain.NodeByHash(f.Hash); n == nil || !h.Chain.InActiveChain(n) {
		t.Fatalf("the miner's block %s is not in the active chain", f.Hash)
	}
}

func TestBetterTemplateFromPool(t *testing.T) {
	e := newPoolEnv(t, 2)
	m := newMiner(t, e.h, e.pool, Config{Threads: 1, RefreshInterval: time.Hour})
	m.targetFor = func(*Template) sha256d.Hash { return impossible }
	jobs := newJobLog(m)
	stop := running(t, m)
	first, next := jobs.wait(t, 0, func(*job) bool { return true })
	if len(first.tmpl.Txs) != 0 {
		t.Fatalf("first template holds %d transactions", len(first.tmpl.Txs))
	}
	// The pool was quiet for an hour (the miner's clock is the harness's,
	// which does not move: its last refresh counts as the zero time), so the
	// first transaction is taken at once.
	tx := e.pay(t, 10_000, e.coins[0])
	e.accept(t, tx)
	j, _ := jobs.wait(t, next, func(j *job) bool { return j.why == "pool" })
	if len(j.tmpl.Txs) != 1 || j.tmpl.Txs[0].TxID != tx.TxID() || j.tmpl.Reward != first.tmpl.Reward+10_000 {
		t.Fatalf("pool template: %d transactions, reward %d", len(j.tmpl.Txs), j.tmpl.Reward)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestStats(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	var clock atomic.Int64 // nanoseconds after the harness's clock
	now := func() time.Time { return h.Clock.Add(time.Duration(clock.Load())) }
	// One thread: a roll then means every nonce of the job was scanned.
	m := newMiner(t, h, nil, Config{Threads: 1, Kernel: "generic", Now: now})
	m.nonceLimit = 1 << 16
	m.targetFor = func(*Template) sha256d.Hash { return impossible }
	jobs := newJobLog(m)
	if st := m.Stats(); st.Kernel != "generic" || st.Threads != 1 || st.Mining || st.Hashes != 0 || st.Rate != 0 {
		t.Fatalf("stats before mining %+v", st)
	}
	stop := running(t, m)
	jobs.wait(t, 0, func(j *job) bool { return j.why == "roll" }) // at least 2^16 nonces scanned
	clock.Add(int64(2 * time.Second))
	st := m.Stats()
	// The rate is measured from the start of the run, 2 s ago by the
	// miner's clock.
	if !st.Mining || st.Hashes < 1<<16 || st.Rate < 1<<15 || st.Rate > float64(st.Hashes)/2 ||
		st.Height != h.Chain.Tip().Height+1 || st.Parent != h.Chain.Tip().Hash || st.Rolls < 1 || st.Jobs < 2 {
		t.Fatalf("stats while mining %+v", st)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Mining || st.Rate != 0 || st.Found != 0 {
		t.Fatalf("stats after mining %+v", st)
	}
}

func TestRateMeter(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var r rateMeter
	if got := r.rate(t0, 100); got != 0 {
		t.Fatalf("empty meter: %v", got)
	}
	// 100 hashes/s for 10 s, then 300/s; a sample every second.
	count := func(s int) uint64 {
		if s <= 10 {
			return 1000 + 100*uint64(s)
		}
		return 2000 + 300*uint64(s-10)
	}
	r.reset(t0, count(0))
	tests := []struct {
		name   string
		upTo   int // samples taken up to this second
		at     int // second of the reading
		hashes uint64
		want   float64
	}{
		{"no time passed", 0, 0, 1000, 0},
		{"from the start", 0, 2, 1200, 100},
		{"within the window", 5, 5, 1500, 100},
		{"the window slides", 20, 20, count(20), 300},
		{"between samples", 20, 21, count(20) + 150, (300*9 + 150) / 10.0}, // from the sample at 11 s
		{"a count that went back", 20, 21, 0, 0},
	}
	taken := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for ; taken < tt.upTo; taken++ {
				r.add(t0.Add(time.Duration(taken+1)*time.Second), count(taken+1))
			}
			if got := r.rate(t0.Add(time.Duration(tt.at)*time.Second), tt.hashes); got != tt.want {
				t.Fatalf("rate %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStaleBlockNotSubmitted(t *testing.T) {
	// A solution for a parent that is no longer the tip is reported stale
	// and not given to the chain.
	h := chaintest.New(t, chain.Regtest)
	m := newMiner(t, h, nil, Config{Threads: 1})
	tip0 := h.Chain.Tip()
	s := &session{m: m, script: h.Script}
	tm, err := s.template()
	if err != nil {
		t.Fatal(err)
	}
	s.start(tm, "tip")
	j := s.cur.Load()
	var nonce uint32
	var hash sha256d.Hash
	for ; ; nonce++ {
		var ok bool
		if hash, ok = j.kjob.Confirm(nonce, &j.target); ok {
			break
		}
	}
	h.Mine(1) // the tip moves on
	var got []Found
	m.cfg.OnBlock = func(f Found) { got = append(got, f) }
	if _, err := s.submit(foundNonce{job: j, nonce: nonce, hash: hash}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !errors.Is(got[0].Err, ErrStale) || got[0].Block.Header.PrevBlock != tip0.Hash {
		t.Fatalf("found %+v", got)
	}
	if h.Chain.NodeByHash(got[0].Hash) != nil {
		t.Fatal("the stale block was given to the chain")
	}
	if st := m.Stats(); st.Stale != 1 || st.Found != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefusedBlockFallsBackToEmpty(t *testing.T) {
	// A pool transaction the chain refuses (here: its input is spent by a
	// block the pool has not heard of) makes the block invalid; the miner
	// counts it and mines without transactions on that parent.
	e := newPoolEnv(t, 2)
	tx := e.pay(t, 10_000, e.coins[0])
	e.accept(t, tx)
	m := newMiner(t, e.h, e.pool, Config{Threads: 1})
	s := &session{m: m, script: e.h.Script}
	tm, err := s.template()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Txs) != 1 {
		t.Fatalf("template holds %d transactions", len(tm.Txs))
	}
	// A second spend of the same coin joins the template.
	spend2 := e.pay(t, 20_000, e.coins[0])
	tm.Txs = append(tm.Txs, &mempool.Entry{Tx: spend2, TxID: spend2.TxID(), Fee: 20_000})
	tm.branch = merkleBranch([]sha256d.Hash{{}, tm.Txs[0].TxID, tm.Txs[1].TxID})
	s.start(tm, "tip")
	j := s.cur.Load()
	var nonce uint32
	var hash sha256d.Hash
	for ; ; nonce++ {
		var ok bool
		if hash, ok = j.kjob.Confirm(nonce, &j.target); ok {
			break
		}
	}
	var got []Found
	m.cfg.OnBlock = func(f Found) { got = append(got, f) }
	if _, err := s.submit(foundNonce{job: j, nonce: nonce, hash: hash}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !errors.Is(got[0].Err, chain.ErrInvalidBlock) {
		t.Fatalf("found %+v", got)
	}
	if s.empty != tm.Parent {
		t.Fatal("the miner goes on mining transactions on the parent that refused them")
	}
	next, err := s.template()
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Txs) != 0 {
		t.Fatalf("next template holds %d transactions", len(next.Txs))
	}
	if st := m.Stats(); st.Rejected != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A refused block without transactions is a bug that stops the miner.
	s.start(next, "tip")
	j = s.cur.Load()
	j.tmpl.Header.Bits = 0x207ffffe // not what the chain requires
	j = newJob(j.tmpl, 99, j.time, 1<<32, "test", nil)
	for nonce = 0; ; nonce++ {
		var ok bool
		if hash, ok = j.kjob.Confirm(nonce, &j.target); ok {
			break
		}
	}
	if _, err := s.submit(foundNonce{job: j, nonce: nonce, hash: hash}); !errors.Is(err, chain.ErrInvalidBlock) {
		t.Fatalf("submit of a refused coinbase-only block: %v", err)
	}
}
