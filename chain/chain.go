package chain

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Options configures Open. The zero value is usable.
type Options struct {
	// Logger receives the chain's messages. Nil discards them.
	Logger *slog.Logger
	// Now is the clock for the two-hour future limit. Nil means time.Now.
	Now func() time.Time
	// Store configures the database (file system, cache).
	Store store.Options
	// MaxOrphans bounds the blocks kept while their parent is unknown.
	// Zero means 100.
	MaxOrphans int
	// MaxOrphanBytes bounds the memory those blocks hold (serialized size
	// plus decoded structures). Zero means DefaultMaxOrphanBytes.
	MaxOrphanBytes int
	// SigCacheBytes bounds the signature cache shared by block validation
	// and the mempool. Zero means DefaultSigCacheBytes; negative, no cache.
	SigCacheBytes int
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxOrphans == 0 {
		o.MaxOrphans = 100
	}
	if o.MaxOrphanBytes == 0 {
		o.MaxOrphanBytes = DefaultMaxOrphanBytes
	}
	if o.SigCacheBytes == 0 {
		o.SigCacheBytes = DefaultSigCacheBytes
	}
	if o.Store.Logger == nil {
		o.Store.Logger = o.Logger
	}
	return o
}

// EventKind says what happened to the active chain.
type EventKind int

const (
	// BlockConnected: the block became part of the active chain.
	BlockConnected EventKind = iota
	// BlockDisconnected: a reorganization took the block out of it.
	BlockDisconnected
)

// Event reports a change of the active chain, in order, after it is durable.
// Block is the full block; treat it as read-only.
type Event struct {
	Kind  EventKind
	Node  *Node
	Block *wire.Block
}

// Chain is a validated block chain on disk: the block index (every header ever
// accepted), the active chain (the valid chain with the most work, ties to the
// first seen), its UTXO set, and the blocks waiting for a parent.
//
// It is safe for concurrent use. Methods that change the chain run one at a
// time and report their effect through subscribers (Subscribe) after the
// change is durable; reading methods may run alongside them.
type Chain struct {
	params *Params
	db     *store.DB
	log    *slog.Logger
	now    func() time.Time

	// procMu serializes changes and event delivery; mu guards the fields below
	// it for readers.
	procMu sync.Mutex
	mu     sync.RWMutex
	index  map[sha256d.Hash]*Node
	active []*Node // the active chain by height
	best   *Node   // the most-work header not known invalid (where sync heads)
	seq    uint64
	// candidates are linked blocks (with data, as all their ancestors) that
	// might have more work than the tip; waiting holds blocks with data whose
	// parent has none yet, by parent.
	candidates map[*Node]struct{}
	waiting    map[*Node][]*Node
	linked     map[*Node]bool
	orphans    *orphanPool

	reasons map[*Node]error // why recent blocks were found invalid

	// syncHeld counts the headers all HeaderSyncs hold (MaxSyncHeadersTotal).
	syncHeld atomic.Int64
	// prunedAt is the tip height at the last prune of low-work side branches.
	prunedAt int32

	sigCache *SigCache // nil when Options.SigCacheBytes < 0

	view    *utxoView
	pending *pendingBatch
	broken  error // a failed commit leaves memory and disk apart: refuse work
	closed  bool

	subMu       sync.Mutex
	subscribers []func(Event)
}

// Open opens the chain stored in dir for network p, creating it with the
// genesis block if empty, and checks that the stored tip is consistent,
// rolling back over any block whose data is missing or corrupt.
func Open(dir string, p *Params, opts Options) (*Chain, error) {
	opts = opts.withDefaults()
	db, err := store.Open(dir, p.Magic, opts.Store)
	if err != nil {
		return nil, fmt.Errorf("chain: %w", err)
	}
	c := &Chain{
		params:     p,
		db:         db,
		log:        opts.Logger,
		now:        opts.Now,
		index:      make(map[sha256d.Hash]*Node),
		candidates: make(map[*Node]struct{}),
		waiting:    make(map[*Node][]*Node),
		linked:     make(map[*Node]bool),
		orphans:    newOrphanPool(opts.MaxOrphans, opts.MaxOrphanBytes),
		view:       newUTXOView(db),
		reasons:    make(map[*Node]error),
	}
	if opts.SigCacheBytes > 0 {
		c.sigCache = NewSigCache(opts.SigCacheBytes)
	}
	if err := c.load(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return c, nil
}

// Close closes the store; later calls do nothing. The chain must not be used
// afterwards.
func (c *Chain) Close() error {
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var err error
	if c.broken == nil {
		err = c.commit() // what was deferred while catching up
	}
	return errors.Join(err, c.db.Close())
}

// SigCache returns the signature cache block validation uses (nil if
// Options turned it off), for the mempool to share: a transaction whose
// signatures it checked costs no second verification when it comes in a
// block.
func (c *Chain) SigCache() *SigCache { return c.sigCache }

// Orphans returns how many blocks wait for an unknown parent and the memory
// they hold (see Options.MaxOrphans and Options.MaxOrphanBytes).
func (c *Chain) Orphans() (count, bytes int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.orphans.stats()
}

// Params returns the network's parameters.
func (c *Chain) Params() *Params { return c.params }

// Subscribe registers fn to be called with every change of the active chain,
// in order, after it is durable. fn runs on the goroutine that made the change
// and must not call methods of the Chain that change it.
func (c *Chain) Subscribe(fn func(Event)) {
	c.subMu.Lock()
	c.subscribers = append(c.subscribers, fn)
	c.subMu.Unlock()
}

func (c *Chain) deliver(events []Event) {
	c.subMu.Lock()
	subs := slices.Clone(c.subscribers)
	c.subMu.Unlock()
	for _, e := range events {
		for _, fn := range subs {
			fn(e)
		}
	}
}

// Tip returns the last block of the active chain.
func (c *Chain) Tip() *Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.active[len(c.active)-1]
}

// BestHeader returns the most-work header not known to be invalid: the chain a
// syncing node is heading for.
func (c *Chain) BestHeader() *Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.best
}

// NodeByHash returns the index entry of a block, or nil.
func (c *Chain) NodeByHash(h sha256d.Hash) *Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.index[h]
}

// Status returns n's status flags. They change as the chain learns about
// the block (its body stored, validated, found invalid), so they are read
// under the chain's lock: read them with Status, not from the Node.
func (c *Chain) Status(n *Node) Status {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return n.Status
}

// Missing returns the first max nodes of list (all, for max < 0) whose
// body is not stored and that are not known invalid (what a download still
// needs), reading their status under one lock.
func (c *Chain) Missing(list []*Node, max int) []*Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*Node
	for _, n := range list {
		if len(out) == max {
			break
		}
		if n.Status&StatusHaveData == 0 && !n.Status.Invalid() {
			out = append(out, n)
		}
	}
	return out
}

// NodeAt returns the active chain's block at height, or nil.
func (c *Chain) NodeAt(height int32) *Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if height < 0 || int(height) >= len(c.active) {
		return nil
	}
	return c.active[height]
}

// InActiveChain reports whether n is part of the active chain.
func (c *Chain) InActiveChain(n *Node) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return int(n.Height) < len(c.active) && c.active[n.Height] == n
}

// Block reads a stored block.
func (c *Chain) Block(n *Node) (*wire.Block, error) {
	raw, pending, err := c.rawBlock(n)
	if err != nil {
		return nil, err
	}
	pos := n.Pos
	if pending {
		b := new(wire.Block)
		if err := b.Decode(raw); err != nil {
			return nil, fmt.Errorf("chain: block %s: %w", n.Hash, err)
		}
		return b, nil
	}
	b := new(wire.Block)
	if err := b.Decode(raw); err != nil {
		return nil, fmt.Errorf("chain: block %s at %+v: %w: %v", n.Hash, pos, store.ErrCorrupt, err)
	}
	if b.Hash() != n.Hash {
		return nil, fmt.Errorf("chain: block %s at %+v: %w: stored block hashes to %s", n.Hash, pos, store.ErrCorrupt, b.Hash())
	}
	// The header hash does not cover the transactions: check that they are
	// the ones the header commits to, so that a damaged body is reported as
	// corrupt rather than found "invalid".
	if root, _ := b.MerkleRoot(); root != b.Header.MerkleRoot {
		return nil, fmt.Errorf("chain: block %s at %+v: %w: transactions do not match the merkle root", n.Hash, pos, store.ErrCorrupt)
	}
	return b, nil
}

// RawBlock returns a block's bytes (treat them as read-only).
func (c *Chain) RawBlock(n *Node) ([]byte, error) {
	raw, _, err := c.rawBlock(n)
	return raw, err
}

// rawBlock returns a block's bytes from the pending batch or from disk.
func (c *Chain) rawBlock(n *Node) (raw []byte, pending bool, err error) {
	c.mu.RLock()
	raw, pending = c.pending.bodies[n]
	pos, have := n.Pos, n.Status&StatusHaveData != 0
	c.mu.RUnlock()
	switch {
	case pending:
		return raw, true, nil
	case !have:
		return nil, false, fmt.Errorf("chain: block %s: %w: no data", n.Hash, ErrNotFound)
	}
	raw, err = c.db.ReadBlock(pos)
	if err != nil {
		return nil, false, fmt.Errorf("chain: block %s: %w", n.Hash, err)
	}
	return raw, false, nil
}

// Coin returns the unspent output at op in the active chain's UTXO set.
func (c *Chain) Coin(op wire.OutPoint) (store.Coin, error) {
	coin, err := c.db.Coin(op)
	if errors.Is(err, store.ErrNotFound) {
		return store.Coin{}, fmt.Errorf("chain: coin %s: %w", op, ErrNotFound)
	}
	return coin, err
}

// ForEachCoin visits the committed UTXO set in (txid, index) order.
func (c *Chain) ForEachCoin(fn func(op wire.OutPoint, coin store.Coin) error) error {
	return c.db.ForEachCoin(fn)
}

// Locator returns a block locator for the active chain: the tip, then blocks
// back at exponentially growing steps, ending with genesis (at most
// wire.MaxLocator hashes).
func (c *Chain) Locator() []sha256d.Hash {
	return LocatorFrom(c.Tip())
}

// LocatorFrom builds a locator from any block back to genesis, as Bitcoin
// Core does: the last ten blocks one by one, then doubling steps, then genesis.
func LocatorFrom(n *Node) []sha256d.Hash {
	var loc []sha256d.Hash
	step := int32(1)
	for n != nil {
		loc = append(loc, n.Hash)
		if n.Height == 0 {
			break
		}
		n = n.Ancestor(max(n.Height-step, 0))
		if len(loc) > 10 {
			step *= 2
		}
	}
	return loc
}

// FindFork returns the last block of the active chain that is in the locator
// (genesis if none is): where to continue sending headers or blocks to a peer.
func (c *Chain) FindFork(locator []sha256d.Hash) *Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, h := range locator {
		if n, ok := c.index[h]; ok && int(n.Height) < len(c.active) && c.active[n.Height] == n {
			return n
		}
	}
	return c.active[0]
}
