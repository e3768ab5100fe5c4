package mempool

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Policy errors.
var (
	ErrNonStandard = errors.New("mempool: non-standard transaction")
	ErrLowFee      = errors.New("mempool: fee below the minimum relay fee")
	ErrConflict    = errors.New("mempool: spends an output another pool transaction spends")
	ErrDuplicate   = errors.New("mempool: already known")
	// ErrConfirmed: the transaction is already in the chain. Errors that
	// wrap it also wrap ErrDuplicate.
	ErrConfirmed = errors.New("mempool: already confirmed")
	ErrFull      = errors.New("mempool: full, and the fee rate is too low to stay")
	ErrOrphan    = errors.New("mempool: inputs unknown; kept as an orphan")
	ErrCoinbase  = errors.New("mempool: coinbase transactions are not relayed")
	// ErrRecentlyRejected: the transaction was refused since the tip last
	// changed, and is refused again without being validated.
	ErrRecentlyRejected = errors.New("mempool: rejected recently; not validated again")
)

// Policy limits.
const (
	MaxStandardTxSize        = 100_000
	MaxStandardScriptSigSize = 1650
	MaxDataCarrierBytes      = 80
)

// Config configures a Pool. Zero fields take the defaults.
type Config struct {
	// MinRelayFee in satoshis per 1,000 bytes. Zero means 1,000.
	MinRelayFee int64
	// MaxBytes bounds the pool's transactions (serialized sizes). Zero means 64 MiB.
	MaxBytes int
	// MaxOrphans bounds the orphan pool. Zero means 100.
	MaxOrphans int
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock for entry times. Nil means time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MinRelayFee == 0 {
		c.MinRelayFee = 1000
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 64 << 20
	}
	if c.MaxOrphans == 0 {
		c.MaxOrphans = 100
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Entry is a transaction in the pool. Treat it as read-only.
type Entry struct {
	Tx      *wire.Tx
	TxID    sha256d.Hash
	WTxID   sha256d.Hash // what compact blocks name it by (BIP152 version 2)
	Size    int
	Fee     int64
	Added   time.Time
	Height  int32 // tip height when it was added
	parents []*Entry
	kids    []*Entry

	rate    int64  // FeeRate, fixed at creation: the eviction order compares it often
	seq     uint64 // arrival order: among equal fee rates the newest goes first
	heapIdx int    // place in Pool.byRate
}

// FeeRate is the fee per 1,000 bytes.
func (e *Entry) FeeRate() int64 { return e.Fee * 1000 / int64(e.Size) }

// Pool is the transaction pool.
type Pool struct {
	cfg   Config
	chain *chain.Chain

	mu      sync.RWMutex
	txs     map[sha256d.Hash]*Entry
	spends  map[wire.OutPoint]*Entry // which pool transaction spends an outpoint
	bytes   int
	orphans *orphans
	byRate  rateHeap // every entry, lowest fee rate (the next to evict) first
	seq     uint64   // entries made
	// gen counts changes to txs and spends, so that a transaction checked
	// under the read lock can tell, under the write lock, whether what the
	// checks read has moved.
	gen uint64

	rejects *recentRejects

	// testHookVerify, if set (by this package's tests), runs as scripts
	// are about to be verified.
	testHookVerify func()

	subMu     sync.Mutex
	listeners []func(*Entry)
}

// New returns an empty pool that follows c.
func New(c *chain.Chain, cfg Config) *Pool {
	cfg = cfg.withDefaults()
	p := &Pool{
		cfg:     cfg,
		chain:   c,
		txs:     make(map[sha256d.Hash]*Entry),
		spends:  make(map[wire.OutPoint]*Entry),
		orphans: newOrphans(cfg.MaxOrphans),
		rejects: newRecentRejects(maxRecentRejects),
	}
	c.Subscribe(p.onChainEvent)
	return p
}

// OnAccept registers fn to be called (outside the pool's lock) with every
// transaction the pool accepts, so the node can announce it.
func (p *Pool) OnAccept(fn func(*Entry)) {
	p.subMu.Lock()
	p.listeners = append(p.listeners, fn)
	p.subMu.Unlock()
}

func (p *Pool) notify(accepted []*Entry) {
	p.subMu.Lock()
	ls := slices.Clone(p.listeners)
	p.subMu.Unlock()
	for _, e := range accepted {
		for _, fn := range ls {
			fn(e)
		}
	}
}

// Accept validates tx and adds it to the pool, then retries orphans it makes
// whole. It returns the entry, or why the transaction was refused.
//
// The signatures are checked with no lock held: a large transaction whose
// last signature fails costs its validation time to nobody else. The checks
// that read the pool and the chain run under the read lock before, and again
// under the write lock if the pool or the tip changed in between (the
// scripts are checked again then only if the coins spent are not the same).
// A transaction refused for what it is (invalid, non-standard, too low a
// fee, a conflict) is remembered until the tip changes and refused again
// with ErrRecentlyRejected without being validated; see RecentlyRejected.
func (p *Pool) Accept(tx *wire.Tx) (*Entry, error) {
	e, err := p.acceptOne(tx)
	var accepted []*Entry
	switch {
	case err == nil:
		accepted = append(accepted, e)
		accepted = append(accepted, p.acceptOrphansOf(e.TxID)...)
	case errors.Is(err, ErrOrphan):
		p.mu.Lock()
		p.orphans.add(tx)
		p.mu.Unlock()
	}
	p.notify(accepted)
	return e, err
}

// RecentlyRejected reports whether the transaction was refused (for what it
// is, not for missing parents) since the tip last changed, so that a peer's
// announcement of it need not be followed (Bitcoin Core's recent rejects).
// The memory is bounded (maxRecentRejects) and forgets the oldest first.
func (p *Pool) RecentlyRejected(txid sha256d.Hash) bool { return p.rejects.has(txid) }

// acceptOrphansOf retries the orphans that spend txid (and their own orphans).
func (p *Pool) acceptOrphansOf(txid sha256d.Hash) []*Entry {
	var accepted []*Entry
	queue := []sha256d.Hash{txid}
	for len(queue) > 0 {
		p.mu.Lock()
		kids := p.orphans.spending(queue[0])
		p.mu.Unlock()
		queue = queue[1:]
		for _, o := range kids {
			e, err := p.acceptOne(o)
			if errors.Is(err, ErrOrphan) {
				continue // other parents still missing
			}
			p.mu.Lock()
			p.orphans.remove(o.TxID())
			p.mu.Unlock()
			if err == nil {
				accepted = append(accepted, e)
				queue = append(queue, e.TxID)
			}
		}
	}
	return accepted
}

// checked is what the checks found out about a transaction: what it takes
// to insert it, and what they read it from.
type checked struct {
	txid    sha256d.Hash
	size    int
	fee     int64
	coins   []store.Coin // what each input spends
	parents []*Entry
	tip     *chain.Node
	gen     uint64
}

// acceptOne validates tx and inserts it (see Accept; orphans are the
// caller's business).
func (p *Pool) acceptOne(tx *wire.Tx) (*Entry, error) {
	txid := tx.TxID()
	if p.rejects.has(txid) {
		return nil, fmt.Errorf("%w: %s", ErrRecentlyRejected, txid)
	}
	p.mu.RLock()
	ck, err := p.check(tx, txid)
	p.mu.RUnlock()
	if err == nil {
		err = p.verifyScripts(tx, ck.coins)
	}
	if err != nil {
		p.noteRejected(txid, err)
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ck.gen != p.gen || ck.tip != p.chain.Tip() {
		again, err := p.check(tx, txid)
		if err == nil && !sameScripts(ck.coins, again.coins) {
			err = p.verifyScripts(tx, again.coins) // rare: a reorganization changed a coin
		}
		if err != nil {
			p.noteRejected(txid, err)
			return nil, err
		}
		ck = again
	}
	e := &Entry{Tx: tx, TxID: txid, WTxID: tx.WTxID(), Size: ck.size, Fee: ck.fee, Added: p.cfg.Now(), Height: ck.tip.Height,
		parents: ck.parents}
	e.rate = e.FeeRate()
	p.insert(e)
	if p.bytes > p.cfg.MaxBytes {
		p.evict()
		if _, ok := p.txs[txid]; !ok {
			err := fmt.Errorf("%w: fee rate %d", ErrFull, e.rate)
			p.noteRejected(txid, err)
			return nil, err
		}
	}
	return e, nil
}

// noteRejected remembers a transaction refused for what it is. Missing
// parents (ErrOrphan), duplicates and the node's own failures are not such
// refusals.
func (p *Pool) noteRejected(txid sha256d.Hash, err error) {
	for _, class := range []error{chain.ErrInvalidTx, ErrNonStandard, ErrLowFee, ErrConflict, ErrFull, ErrCoinbase} {
		if errors.Is(err, class) {
			p.rejects.add(txid)
			return
		}
	}
}

// verifyScripts checks every input's script, with the chain's signature
// cache: what verifies here is not verified again when the block comes.
func (p *Pool) verifyScripts(tx *wire.Tx, coins []store.Coin) error {
	if p.testHookVerify != nil {
		p.testHookVerify()
	}
	cache := p.chain.SigCache()
	for i := range tx.Inputs {
		if err := chain.VerifyInputCached(tx, i, coins[i].Script, chain.StandardScriptFlags, cache); err != nil {
			return err
		}
	}
	return nil
}

// sameScripts reports whether two checks found the same scripts to spend.
func sameScripts(a, b []store.Coin) bool {
	return slices.EqualFunc(a, b, func(x, y store.Coin) bool { return bytes.Equal(x.Script, y.Script) })
}

// check applies every rule but the scripts, under the read lock (or the
// write lock).
func (p *Pool) check(tx *wire.Tx, txid sha256d.Hash) (checked, error) {
	ck := checked{txid: txid, gen: p.gen}
	if _, ok := p.txs[txid]; ok {
		return ck, fmt.Errorf("%w: %s", ErrDuplicate, txid)
	}
	if tx.IsCoinbase() {
		return ck, ErrCoinbase
	}
	if err := chain.CheckTransaction(tx); err != nil {
		return ck, err
	}
	ck.size = tx.SerializeSize()
	if err := standard(tx, ck.size); err != nil {
		return ck, err
	}
	tip := p.chain.Tip()
	ck.tip = tip
	height := tip.Height + 1
	params := p.chain.Params()
	if !chain.IsFinal(tx, height, tip.MedianTimePast()) {
		return ck, fmt.Errorf("%w: not final", ErrNonStandard)
	}
	// Inputs: from the pool (unconfirmed parents) or the chain.
	var in int64
	ck.coins = make([]store.Coin, len(tx.Inputs))
	missing := false
	for i := range tx.Inputs {
		op := tx.Inputs[i].PrevOut
		if other, ok := p.spends[op]; ok {
			return ck, fmt.Errorf("%w: %s is spent by %s", ErrConflict, op, other.TxID)
		}
		if parent, ok := p.txs[op.Hash]; ok && int(op.Index) < len(parent.Tx.Outputs) {
			out := parent.Tx.Outputs[op.Index]
			ck.coins[i] = store.Coin{Value: out.Value, Script: out.ScriptPubKey, Height: height}
			if !slices.Contains(ck.parents, parent) {
				ck.parents = append(ck.parents, parent)
			}
		} else {
			coin, err := p.chain.Coin(op)
			if errors.Is(err, chain.ErrNotFound) {
				missing = true
				continue
			}
			if err != nil {
				return ck, err
			}
			ck.coins[i] = coin
		}
		if ck.coins[i].Coinbase && !params.Mature(ck.coins[i].Height, height) {
			return ck, fmt.Errorf("%w: %s spends immature coinbase %s", chain.ErrInvalidTx, txid, op)
		}
		in += ck.coins[i].Value
	}
	if missing {
		// Already confirmed? Then it is not an orphan but a duplicate.
		if _, err := p.chain.Coin(wire.OutPoint{Hash: txid, Index: 0}); err == nil {
			return ck, fmt.Errorf("%w: %w: %s", ErrDuplicate, ErrConfirmed, txid)
		}
		return ck, fmt.Errorf("%w: %s", ErrOrphan, txid)
	}
	var out int64
	for i := range tx.Outputs {
		out += tx.Outputs[i].Value
	}
	if in < out {
		return ck, fmt.Errorf("%w: %s spends %d, creates %d", chain.ErrInvalidTx, txid, in, out)
	}
	ck.fee = in - out
	if ck.fee*1000 < p.cfg.MinRelayFee*int64(ck.size) {
		return ck, fmt.Errorf("%w: %d satoshis for %d bytes (minimum %d per 1,000)", ErrLowFee, ck.fee, ck.size, p.cfg.MinRelayFee)
	}
	if height >= params.CSVHeight && tx.Version >= 2 {
		if !sequenceLocksMet(tx, ck.coins, tip) {
			return ck, fmt.Errorf("%w: BIP68 sequence lock not reached", ErrNonStandard)
		}
	}
	return ck, nil
}

// sequenceLocksMet is BIP68 for the next block: inputs from the pool count as
// confirmed at the next height.
func sequenceLocksMet(tx *wire.Tx, coins []store.Coin, tip *chain.Node) bool {
	heights := make([]int32, len(coins))
	for i := range coins {
		heights[i] = coins[i].Height
	}
	return chain.SequenceLocksOK(tx, heights, tip)
}

func (p *Pool) insert(e *Entry) {
	p.gen++
	p.seq++
	e.seq = p.seq
	heap.Push(&p.byRate, e)
	p.txs[e.TxID] = e
	for i := range e.Tx.Inputs {
		p.spends[e.Tx.Inputs[i].PrevOut] = e
	}
	for _, parent := range e.parents {
		parent.kids = append(parent.kids, e)
	}
	p.bytes += e.Size
}

// remove takes e and, if withKids, everything spending it out of the pool.
func (p *Pool) remove(e *Entry, withKids bool) {
	if _, ok := p.txs[e.TxID]; !ok {
		return
	}
	p.gen++
	delete(p.txs, e.TxID)
	heap.Remove(&p.byRate, e.heapIdx)
	for i := range e.Tx.Inputs {
		if p.spends[e.Tx.Inputs[i].PrevOut] == e {
			delete(p.spends, e.Tx.Inputs[i].PrevOut)
		}
	}
	for _, parent := range e.parents {
		parent.kids = slices.DeleteFunc(parent.kids, func(k *Entry) bool { return k == e })
	}
	p.bytes -= e.Size
	if withKids {
		for _, k := range slices.Clone(e.kids) {
			p.remove(k, true)
		}
	} else {
		for _, k := range e.kids { // now confirmed: the kids' parent is the chain
			k.parents = slices.DeleteFunc(k.parents, func(x *Entry) bool { return x == e })
		}
	}
}

// evict drops the lowest fee-rate transactions (with their descendants) until
// the pool fits: each is the top of byRate, so an eviction costs O(log n),
// not a sort of the pool.
func (p *Pool) evict() {
	for p.bytes > p.cfg.MaxBytes && len(p.byRate) > 0 {
		e := p.byRate[0]
		p.cfg.Logger.Debug("evicting", "txid", e.TxID, "feerate", e.rate)
		p.remove(e, true)
	}
}

// onChainEvent keeps the pool consistent with the active chain.
func (p *Pool) onChainEvent(ev chain.Event) {
	p.rejects.reset() // a new tip may make them valid (Core resets its filter so)
	switch ev.Kind {
	case chain.BlockConnected:
		p.mu.Lock()
		for i := 1; i < len(ev.Block.Txs); i++ {
			tx := &ev.Block.Txs[i]
			if e, ok := p.txs[tx.TxID()]; ok {
				p.remove(e, false)
			}
			// Anything else spending the same outputs is now invalid.
			for j := range tx.Inputs {
				if e, ok := p.spends[tx.Inputs[j].PrevOut]; ok {
					p.remove(e, true)
				}
			}
		}
		p.mu.Unlock()
	case chain.BlockDisconnected:
		// The reorganization is complete when events arrive: what the new
		// chain spent or confirmed is refused here. Blocks come tip first, so
		// a transaction may come back before its parent: it waits as an
		// orphan until the parent does.
		var back []*Entry
		for i := 1; i < len(ev.Block.Txs); i++ {
			tx := ev.Block.Txs[i]
			e, err := p.acceptOne(&tx)
			switch {
			case err == nil:
				back = append(back, e)
				back = append(back, p.acceptOrphansOf(e.TxID)...)
			case errors.Is(err, ErrOrphan):
				p.mu.Lock()
				p.orphans.add(&tx)
				p.mu.Unlock()
			default:
				p.cfg.Logger.Debug("transaction of a disconnected block not re-added", "txid", tx.TxID(), "err", err)
			}
		}
		if len(back) > 0 {
			p.cfg.Logger.Info("transactions of a disconnected block are back in the pool",
				"block", ev.Node.Hash, "height", ev.Node.Height, "txs", len(back))
		}
		p.notify(back)
	}
}

// Get returns the pool's transaction with txid, or nil.
func (p *Pool) Get(txid sha256d.Hash) *Entry {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.txs[txid]
}

// SpentBy returns the pool's transaction that spends op, or nil (Bitcoin
// Core's gettxspendingprevout): a wallet asks before spending a coin again.
func (p *Pool) SpentBy(op wire.OutPoint) *Entry {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.spends[op]
}

// Each calls fn for every entry, in no order, with the pool's read lock
// held (fn must not call the pool): a walk of the pool without the sort
// and the copy Entries makes, for a compact block's reconstruction.
func (p *Pool) Each(fn func(*Entry)) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, e := range p.txs {
		fn(e)
	}
}

// Entries returns every entry, parents before children, by time of arrival.
func (p *Pool) Entries() []*Entry {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*Entry, 0, len(p.txs))
	for _, e := range p.txs {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Entry) int {
		if c := a.Added.Compare(b.Added); c != 0 {
			return c
		}
		return len(a.parents) - len(b.parents)
	})
	return topoSort(out)
}

// Info summarizes the pool.
type Info struct {
	Count, Bytes, Orphans int
	MinRelayFee           int64
}

// Info returns the pool's size and limits.
func (p *Pool) Info() Info {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return Info{Count: len(p.txs), Bytes: p.bytes, Orphans: p.orphans.len(), MinRelayFee: p.cfg.MinRelayFee}
}

// topoSort orders entries so that every parent precedes its children, keeping
// the given order otherwise.
func topoSort(in []*Entry) []*Entry {
	done := make(map[*Entry]bool, len(in))
	out := make([]*Entry, 0, len(in))
	var visit func(e *Entry)
	visit = func(e *Entry) {
		if done[e] {
			return
		}
		done[e] = true
		for _, parent := range e.parents {
			visit(parent)
		}
		out = append(out, e)
	}
	for _, e := range in {
		visit(e)
	}
	return out
}
