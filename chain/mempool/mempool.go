package mempool

import (
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
	Size    int
	Fee     int64
	Added   time.Time
	Height  int32 // tip height when it was added
	parents []*Entry
	kids    []*Entry
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
func (p *Pool) Accept(tx *wire.Tx) (*Entry, error) {
	p.mu.Lock()
	e, accepted, err := p.acceptWithOrphans(tx)
	p.mu.Unlock()
	p.notify(accepted)
	return e, err
}

// acceptWithOrphans accepts tx (keeping it as an orphan if its inputs are
// unknown) and then the orphans it completes; accepted lists them all.
func (p *Pool) acceptWithOrphans(tx *wire.Tx) (e *Entry, accepted []*Entry, err error) {
	e, err = p.accept(tx)
	switch {
	case err == nil:
		accepted = append(accepted, e)
		accepted = append(accepted, p.acceptOrphansOf(e.TxID)...)
	case errors.Is(err, ErrOrphan):
		p.orphans.add(tx)
	}
	return e, accepted, err
}

// acceptOrphansOf retries the orphans that spend txid (and their own orphans).
func (p *Pool) acceptOrphansOf(txid sha256d.Hash) []*Entry {
	var accepted []*Entry
	queue := []sha256d.Hash{txid}
	for len(queue) > 0 {
		for _, o := range p.orphans.spending(queue[0]) {
			if e, err := p.accept(o); err == nil {
				p.orphans.remove(e.TxID)
				accepted = append(accepted, e)
				queue = append(queue, e.TxID)
			} else if !errors.Is(err, ErrOrphan) {
				p.orphans.remove(o.TxID())
			}
		}
		queue = queue[1:]
	}
	return accepted
}

// accept is Accept's validation and insertion, under the lock.
func (p *Pool) accept(tx *wire.Tx) (*Entry, error) {
	txid := tx.TxID()
	if _, ok := p.txs[txid]; ok {
		return nil, fmt.Errorf("%w: %s", ErrDuplicate, txid)
	}
	if tx.IsCoinbase() {
		return nil, ErrCoinbase
	}
	if err := chain.CheckTransaction(tx); err != nil {
		return nil, err
	}
	size := tx.SerializeSize()
	if err := standard(tx, size); err != nil {
		return nil, err
	}
	tip := p.chain.Tip()
	height := tip.Height + 1
	params := p.chain.Params()
	if !chain.IsFinal(tx, height, tip.MedianTimePast()) {
		return nil, fmt.Errorf("%w: not final", ErrNonStandard)
	}
	// Inputs: from the pool (unconfirmed parents) or the chain.
	var in int64
	var parents []*Entry
	coins := make([]store.Coin, len(tx.Inputs))
	missing := false
	for i := range tx.Inputs {
		op := tx.Inputs[i].PrevOut
		if other, ok := p.spends[op]; ok {
			return nil, fmt.Errorf("%w: %s is spent by %s", ErrConflict, op, other.TxID)
		}
		if parent, ok := p.txs[op.Hash]; ok && int(op.Index) < len(parent.Tx.Outputs) {
			out := parent.Tx.Outputs[op.Index]
			coins[i] = store.Coin{Value: out.Value, Script: out.ScriptPubKey, Height: height}
			if !slices.Contains(parents, parent) {
				parents = append(parents, parent)
			}
		} else {
			coin, err := p.chain.Coin(op)
			if errors.Is(err, chain.ErrNotFound) {
				missing = true
				continue
			}
			if err != nil {
				return nil, err
			}
			coins[i] = coin
		}
		if coins[i].Coinbase && !params.Mature(coins[i].Height, height) {
			return nil, fmt.Errorf("%w: %s spends immature coinbase %s", chain.ErrInvalidTx, txid, op)
		}
		in += coins[i].Value
	}
	if missing {
		// Already confirmed? Then it is not an orphan but a duplicate.
		if _, err := p.chain.Coin(wire.OutPoint{Hash: txid, Index: 0}); err == nil {
			return nil, fmt.Errorf("%w: %w: %s", ErrDuplicate, ErrConfirmed, txid)
		}
		return nil, fmt.Errorf("%w: %s", ErrOrphan, txid)
	}
	var out int64
	for i := range tx.Outputs {
		out += tx.Outputs[i].Value
	}
	if in < out {
		return nil, fmt.Errorf("%w: %s spends %d, creates %d", chain.ErrInvalidTx, txid, in, out)
	}
	fee := in - out
	if fee*1000 < p.cfg.MinRelayFee*int64(size) {
		return nil, fmt.Errorf("%w: %d satoshis for %d bytes (minimum %d per 1,000)", ErrLowFee, fee, size, p.cfg.MinRelayFee)
	}
	if height >= params.CSVHeight && tx.Version >= 2 {
		if !sequenceLocksMet(tx, coins, tip) {
			return nil, fmt.Errorf("%w: BIP68 sequence lock not reached", ErrNonStandard)
		}
	}
	for i := range tx.Inputs {
		if err := chain.VerifyInput(tx, i, coins[i].Script, chain.StandardScriptFlags); err != nil {
			return nil, err
		}
	}
	e := &Entry{Tx: tx, TxID: txid, Size: size, Fee: fee, Added: p.cfg.Now(), Height: tip.Height, parents: parents}
	p.insert(e)
	if p.bytes > p.cfg.MaxBytes {
		p.evict()
		if _, ok := p.txs[txid]; !ok {
			return nil, fmt.Errorf("%w: fee rate %d", ErrFull, e.FeeRate())
		}
	}
	return e, nil
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
	delete(p.txs, e.TxID)
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
// the pool fits.
func (p *Pool) evict() {
	entries := make([]*Entry, 0, len(p.txs))
	for _, e := range p.txs {
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b *Entry) int {
		if r := a.FeeRate() - b.FeeRate(); r != 0 {
			if r < 0 {
				return -1
			}
			return 1
		}
		return b.Added.Compare(a.Added) // newest first among equals
	})
	for _, e := range entries {
		if p.bytes <= p.cfg.MaxBytes {
			return
		}
		if _, ok := p.txs[e.TxID]; ok {
			p.cfg.Logger.Debug("evicting", "txid", e.TxID, "feerate", e.FeeRate())
			p.remove(e, true)
		}
	}
}

// onChainEvent keeps the pool consistent with the active chain.
func (p *Pool) onChainEvent(ev chain.Event) {
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
		p.mu.Lock()
		for i := 1; i < len(ev.Block.Txs); i++ {
			tx := ev.Block.Txs[i]
			_, accepted, err := p.acceptWithOrphans(&tx)
			if err != nil && !errors.Is(err, ErrOrphan) {
				p.cfg.Logger.Debug("transaction of a disconnected block not re-added", "txid", tx.TxID(), "err", err)
			}
			back = append(back, accepted...)
		}
		p.mu.Unlock()
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
