package miner

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/miner/internal/kernel"
	"github.com/renga-p2p/renga/wire"
)

// ErrStale is the error of a [Found] block that was not made part of the
// active chain: the tip moved on before it could be submitted, or the chain
// kept another block of the same height.
var ErrStale = errors.New("miner: block found on a parent that is no longer the tip")

// Found is a block the miner found, as reported to [Config.OnBlock].
type Found struct {
	Hash   sha256d.Hash
	Height int32
	Block  *wire.Block
	// Txs counts the transactions besides the coinbase; Fees are theirs.
	Txs  int
	Fees int64
	// Elapsed is the time from the first job on this block's parent (or from
	// the start of the run) to the find, by the miner's clock.
	Elapsed time.Duration
	// Err is nil when the chain connected the block; it wraps ErrStale when
	// the block was left off the active chain and chain.ErrInvalidBlock when
	// it was refused.
	Err error
}

// Stats are the miner's counters, readable at any time with [Miner.Stats].
type Stats struct {
	Kernel  string // the scan kernel's name
	Threads int    // workers
	Mining  bool   // a Run or Generate is in progress
	// The block being mined (the last one, when not mining).
	Height int32
	Parent sha256d.Hash
	Txs    int
	Fees   int64
	// Hashes counts the nonces scanned since New; Rate is nonces per second
	// over the last ten seconds of mining (0 when not mining).
	Hashes uint64
	Rate   float64
	// Blocks found: connected to the active chain, stale (not submitted
	// because the tip had moved, or left off the active chain), refused by the
	// chain as invalid.
	Found, Stale, Rejected uint64
	// Templates made, jobs started (each with its own extranonce: a new
	// template, a better one, a later time or a roll), and rolls: jobs started
	// because the nonce space of the last one ran out.
	Templates, Jobs, Rolls uint64
}

// Miner mines blocks on a chain with a pool of workers. Make one with [New],
// mine with [Miner.Run] or [Miner.Generate] (one at a time), and read
// [Miner.Stats] from anywhere.
type Miner struct {
	cfg    Config
	kernel kernel.Kernel

	// tipChanged and poolChanged hold a signal (capacity 1) when the active
	// chain changed or the pool accepted a transaction since they were last
	// read. The chain and the pool keep their subscriptions for the life of
	// the process, so these are made once, in New, and survive runs.
	tipChanged  chan struct{}
	poolChanged chan struct{}

	running atomic.Bool
	hashes  atomic.Uint64

	mu    sync.Mutex // guards stats (except Hashes) and rate
	stats Stats
	rate  rateMeter

	// extranonce is the next extranonce: read and advanced only by the
	// goroutine running Run or Generate. It starts at a random value so that
	// two miners paying to one script never search the same headers.
	extranonce uint64

	// Test knobs. nonceLimit is the size of a job's nonce space (2^32); a
	// test shrinks it to make rolls happen. targetFor replaces a template's
	// target (a test makes it harder so mining lasts).
	nonceLimit uint64
	targetFor  func(*Template) sha256d.Hash
	onJob      func(*job)
}

// New checks cfg, chooses the kernel (calibrating for about
// kernel.CalibrationTime per kernel unless cfg.Kernel or $RENGA_KERNEL names
// one) and subscribes to the chain and the pool. It starts nothing.
func New(cfg Config) (*Miner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	k, err := pickKernel(cfg.Kernel)
	if err != nil {
		return nil, err
	}
	m := &Miner{
		cfg:         cfg,
		kernel:      k,
		tipChanged:  make(chan struct{}, 1),
		poolChanged: make(chan struct{}, 1),
		nonceLimit:  1 << 32,
	}
	m.stats.Kernel = k.Name
	m.stats.Threads = cfg.Threads
	var seed [8]byte
	rand.Read(seed[:]) // never fails (crypto/rand)
	m.extranonce = binary.LittleEndian.Uint64(seed[:])
	cfg.Chain.Subscribe(func(chain.Event) { signal(m.tipChanged) })
	if cfg.Pool != nil {
		cfg.Pool.OnAccept(func(*mempool.Entry) { signal(m.poolChanged) })
	}
	return m, nil
}

func pickKernel(name string) (kernel.Kernel, error) {
	if name == "" {
		k, err := kernel.Select()
		if err != nil {
			return kernel.Kernel{}, fmt.Errorf("miner: %w", err)
		}
		return k, nil
	}
	k, err := kernel.Lookup(name)
	if err != nil {
		return kernel.Kernel{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return k, nil
}

// signal leaves a signal in c unless one is waiting already.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Kernel returns the name of the kernel the workers scan with.
func (m *Miner) Kernel() string { return m.kernel.Name }

// Threads returns the number of workers.
func (m *Miner) Threads() int { return m.cfg.Threads }

// Run mines blocks paying Config.Script until ctx is done, then returns nil
// once every goroutine it started has ended. It returns an error when the
// chain fails to store a block (or refuses a block with no transaction but
// the coinbase, which would be a bug), ErrNoScript without a script and
// ErrBusy while another Run or Generate is mining.
func (m *Miner) Run(ctx context.Context) error {
	if len(m.cfg.Script) == 0 {
		return ErrNoScript
	}
	_, err := m.mine(ctx, m.cfg.Script, 0)
	return err
}

// Generate mines until n blocks it found paying script are connected to the
// active chain, and returns their hashes in order (what bitcoind's
// generatetoaddress does). Blocks that end up stale do not count. If ctx
// ends first it returns the hashes so far and ctx's error. It returns ErrBusy
// while another Run or Generate is mining.
func (m *Miner) Generate(ctx context.Context, n int, script []byte) ([]sha256d.Hash, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: generate %d blocks", ErrConfig, n)
	}
	if len(script) == 0 {
		return nil, ErrNoScript
	}
	hashes, err := m.mine(ctx, append([]byte(nil), script...), n)
	if err == nil && len(hashes) < n {
		err = fmt.Errorf("miner: generated %d of %d blocks: %w", len(hashes), n, context.Cause(ctx))
	}
	return hashes, err
}

// Stats returns the miner's counters.
func (m *Miner) Stats() Stats {
	now := m.cfg.Now()
	hashes := m.hashes.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Hashes = hashes
	if s.Mining {
		s.Rate = m.rate.rate(now, hashes)
	}
	return s
}

// mine runs the workers and coordinates them until ctx is done or limit
// blocks (if limit > 0) are connected.
func (m *Miner) mine(ctx context.Context, script []byte, limit int) ([]sha256d.Hash, error) {
	if !m.running.CompareAndSwap(false, true) {
		return nil, ErrBusy
	}
	defer m.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	s := &session{
		m:      m,
		script: script,
		limit:  limit,
		found:  make(chan foundNonce, m.cfg.Threads),
		roll:   make(chan struct{}, 1),
	}
	// Signals left from before this run say nothing the first template will
	// not see.
	drain(m.tipChanged)
	drain(m.poolChanged)
	now := m.cfg.Now()
	m.mu.Lock()
	m.stats.Mining = true
	m.rate.reset(now, m.hashes.Load())
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.stats.Mining = false
		m.mu.Unlock()
	}()

	if err := s.renew(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for range m.cfg.Threads {
		wg.Go(func() { s.work(ctx) })
	}
	err := s.loop(ctx)
	cancel()
	wg.Wait()
	return s.hashes, err
}

func drain(c chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// session is one Run or Generate: the current job, the channels from the
// workers and what the coordinating goroutine keeps between events.
type session struct {
	m      *Miner
	script []byte
	limit  int

	cur    atomic.Pointer[job]
	found  chan foundNonce  // a worker solved the current template
	roll   chan struct{}    // a worker ran out of nonces
	tmpl   *Template        // the current template
	since  time.Time        // first job on tmpl's parent
	empty  *chain.Node      // a parent on which to mine without transactions
	last   time.Time        // when a template was last made for the pool
	timer  *time.Timer      // pending template for the pool, or nil
	wake   <-chan time.Time // timer's channel while it is pending
	dirty  bool             // the pool accepted transactions since the template
	hashes []sha256d.Hash   // blocks connected
}

// foundNonce is a worker's solution: the job and the nonce whose header hash
// (hash) meets the job's target.
type foundNonce struct {
	job   *job
	nonce uint32
	hash  sha256d.Hash
}

// loop is the coordinating goroutine: it answers the workers (solutions,
// rolls), the chain and the pool, and samples the rate, until ctx is done or
// the session's limit is reached.
func (s *session) loop(ctx context.Context) error {
	m := s.m
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	defer func() {
		if s.timer != nil {
			s.timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-s.found:
			done, err := s.submit(f)
			if err != nil || done {
				return err
			}
			// Our own block changed the tip (or was refused): the signal it
			// raised is answered by this template.
			drain(m.tipChanged)
			if err := s.renew(); err != nil {
				return err
			}
		case <-m.tipChanged:
			if err := s.renew(); err != nil {
				return err
			}
		case <-m.poolChanged:
			s.dirty = true
			if s.wake == nil {
				wait := s.last.Add(m.cfg.RefreshInterval).Sub(m.cfg.Now())
				s.timer = time.NewTimer(max(wait, 0))
				s.wake = s.timer.C
			}
		case <-s.wake:
			s.timer, s.wake = nil, nil
			if err := s.better(); err != nil {
				return err
			}
		case <-s.roll:
			// The request may be for a job already replaced: roll only if
			// the current one is used up.
			if j := s.cur.Load(); !j.tmpl.solved.Load() && j.next.Load() >= j.limit {
				s.publish(j.tmpl, "roll")
			}
		case <-ticker.C:
			now := m.cfg.Now()
			m.mu.Lock()
			m.rate.add(now, m.hashes.Load())
			m.mu.Unlock()
			// Keep the header's time up with the clock (never ahead of it).
			if j := s.cur.Load(); !j.tmpl.solved.Load() && now.Unix() > int64(j.time) {
				s.publish(j.tmpl, "time")
			}
		}
	}
}

// Template makes a template on the current tip paying script, with the
// pool's transactions: the block the miner would search next. Run and
// Generate make their own; this is for callers that want to look (an RPC
// getblocktemplate, tests).
func (m *Miner) Template(script []byte) (*Template, error) {
	return m.template(script, true)
}

// template makes a template on the current tip, with the pool's transactions
// if withTxs.
func (m *Miner) template(script []byte, withTxs bool) (*Template, error) {
	tip := m.cfg.Chain.Tip()
	var entries []*mempool.Entry
	if m.cfg.Pool != nil && withTxs {
		entries = m.cfg.Pool.Entries()
	}
	t, err := newTemplate(m.cfg.Chain.Params(), tip, entries, templateOptions{
		script:    script,
		tag:       []byte(m.cfg.Tag),
		maxWeight: m.cfg.MaxWeight,
		now:       m.cfg.Now(),
	})
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.stats.Templates++
	m.mu.Unlock()
	return t, nil
}

// template makes the session's next template, without transactions on a
// parent where a block with transactions was refused.
func (s *session) template() (*Template, error) {
	return s.m.template(s.script, s.empty == nil || s.empty != s.m.cfg.Chain.Tip())
}

// renew makes a template on the (new) tip and starts it at once.
func (s *session) renew() error {
	t, err := s.template()
	if err != nil {
		return err
	}
	s.dirty = false
	s.start(t, "tip")
	return nil
}

// better makes a template for the transactions the pool accepted and starts
// it if it earns more than the current one.
func (s *session) better() error {
	if !s.dirty {
		return nil
	}
	s.dirty = false
	s.last = s.m.cfg.Now()
	t, err := s.template()
	if err != nil {
		return err
	}
	switch {
	case t.Parent != s.tmpl.Parent:
		s.start(t, "tip") // the tip moved; its signal is on the way
	case t.Reward > s.tmpl.Reward && !s.tmpl.solved.Load():
		s.start(t, "pool")
	}
	return nil
}

// start makes t the current template: the time spent on a parent counts from
// its first template, and a parent on which a block was refused is mined
// without transactions until the tip moves.
func (s *session) start(t *Template, why string) {
	if s.tmpl == nil || t.Parent != s.tmpl.Parent {
		s.since = t.Made
		if s.empty != t.Parent {
			s.empty = nil
		}
	}
	s.publish(t, why)
}

// publish starts a job on t with a fresh extranonce and the current time,
// and releases the workers waiting on the job it replaces.
func (s *session) publish(t *Template, why string) {
	m := s.m
	en := m.extranonce
	m.extranonce++
	j := newJob(t, en, max(uint32(m.cfg.Now().Unix()), t.MinTime), m.nonceLimit, why, m.targetFor)
	s.tmpl = t
	old := s.cur.Swap(j)
	if old != nil {
		close(old.stale)
	}
	m.mu.Lock()
	m.stats.Jobs++
	if why == "roll" {
		m.stats.Rolls++
	}
	m.stats.Height = t.Height
	m.stats.Parent = t.Parent.Hash
	m.stats.Txs = len(t.Txs)
	m.stats.Fees = t.Fees
	m.mu.Unlock()
	if m.onJob != nil {
		m.onJob(j)
	}
}

// submit hands a solved block to the chain and reports it. It returns done
// when the session has connected its limit of blocks, and an error that must
// stop the miner.
func (s *session) submit(f foundNonce) (done bool, err error) {
	m := s.m
	c := m.cfg.Chain
	t := f.job.tmpl
	b := t.Block(f.job.extranonce, f.job.time, f.nonce)
	found := Found{
		Hash:    b.Hash(),
		Height:  t.Height,
		Block:   b,
		Txs:     len(t.Txs),
		Fees:    t.Fees,
		Elapsed: m.cfg.Now().Sub(s.since),
	}
	if found.Hash != f.hash {
		// The kernel's job and the template disagree about the header.
		return false, fmt.Errorf("miner: bug: block %s assembled for nonce %d hashes differently from its job (%s)", found.Hash, f.nonce, f.hash)
	}
	var node *chain.Node
	if tip := c.Tip(); tip.Hash != b.Header.PrevBlock {
		found.Err = fmt.Errorf("%w: block %s on %s, tip %s", ErrStale, found.Hash, b.Header.PrevBlock, tip.Hash)
	} else {
		node, err = c.ProcessBlock(b, nil)
		switch {
		case err == nil && c.InActiveChain(node):
		case err == nil:
			found.Err = fmt.Errorf("%w: block %s left off the active chain", ErrStale, found.Hash)
		case errors.Is(err, chain.ErrInvalidBlock):
			found.Err = fmt.Errorf("miner: block %s at height %d refused: %w", found.Hash, t.Height, err)
		default:
			return false, fmt.Errorf("miner: submit block %s at height %d: %w", found.Hash, t.Height, err)
		}
	}

	m.mu.Lock()
	switch {
	case found.Err == nil:
		m.stats.Found++
	case errors.Is(found.Err, chain.ErrInvalidBlock):
		m.stats.Rejected++
	default:
		m.stats.Stale++
	}
	m.mu.Unlock()
	log := m.cfg.Logger
	switch {
	case found.Err == nil:
		s.hashes = append(s.hashes, found.Hash)
		log.Info("block found", "height", found.Height, "hash", found.Hash, "txs", found.Txs, "fees", found.Fees, "elapsed", found.Elapsed)
	case errors.Is(found.Err, chain.ErrInvalidBlock):
		log.Error("block refused", "height", found.Height, "hash", found.Hash, "txs", found.Txs, "err", err)
	default:
		log.Info("stale block", "height", found.Height, "hash", found.Hash, "err", found.Err)
	}
	m.cfg.OnBlock(found)

	if errors.Is(found.Err, chain.ErrInvalidBlock) {
		if len(t.Txs) == 0 {
			return false, found.Err
		}
		// A transaction the pool still holds made the block invalid (the
		// pool may lag the chain by a moment, see the package comment):
		// mine without transactions on this parent.
		s.empty = t.Parent
	}
	return s.limit > 0 && len(s.hashes) >= s.limit, nil
}
