package chain

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/holiman/uint256"

	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// pendingBatch gathers what one commit will write: bodies not yet on disk,
// index entries changed, and the active chain's moves (with their undo
// records) in the order they happened.
type pendingBatch struct {
	bodies    map[*Node][]byte
	bodyBytes int
	dirty     map[*Node]struct{}
	pruned    []sha256d.Hash // index entries to delete (before dirty ones are written)
	moves     []move
	events    []Event
	since     time.Time // when the first change was added
}

type move struct {
	connect bool
	node    *Node
	undo    *store.Undo
}

func newPending() *pendingBatch {
	return &pendingBatch{bodies: map[*Node][]byte{}, dirty: map[*Node]struct{}{}}
}

// commitEvery bounds how many blocks one bulk commit covers (import, reindex,
// catching up after a restart): large enough that fsyncs do not dominate,
// small enough that memory stays modest and little is redone after a crash.
const commitEvery = 2000

// load builds the index from the store (or creates the genesis state), checks
// the tip against the stored data, and connects blocks stored but not yet
// connected (what a crash left undone).
func (c *Chain) load() error {
	type loaded struct {
		hash sha256d.Hash
		e    store.IndexEntry
	}
	var entries []loaded
	err := c.db.ForEachIndex(func(h sha256d.Hash, e store.IndexEntry) error {
		entries = append(entries, loaded{h, e})
		return nil
	})
	if err != nil {
		return fmt.Errorf("chain: load index: %w", err)
	}
	c.pending = newPending()
	if len(entries) == 0 {
		return c.initGenesis()
	}
	slices.SortFunc(entries, func(a, b loaded) int { return int(a.e.Height - b.e.Height) })
	for _, l := range entries {
		var parent *Node
		if l.e.Height > 0 {
			parent = c.index[l.e.Header.PrevBlock]
			if parent == nil {
				return fmt.Errorf("chain: load index: %w: block %s at height %d has no parent %s",
					store.ErrCorrupt, l.hash, l.e.Height, l.e.Header.PrevBlock)
			}
		} else if l.hash != c.params.GenesisHash {
			return fmt.Errorf("chain: %w: stored genesis %s is not %s's", ErrNetwork, l.hash, c.params.Name)
		}
		n := newNode(&l.e.Header, l.hash, parent)
		n.Status, n.Seq, n.Pos = Status(l.e.Status), l.e.Seq, l.e.Pos
		c.index[l.hash] = n
		c.seq = max(c.seq, n.Seq)
	}
	tip, err := c.db.Tip()
	if err != nil {
		return fmt.Errorf("chain: load tip: %w", err)
	}
	tipNode := c.index[tip.Hash]
	if tipNode == nil || tipNode.Height != tip.Height {
		return fmt.Errorf("chain: load tip: %w: tip %s at %d is not in the index", store.ErrCorrupt, tip.Hash, tip.Height)
	}
	c.setActive(tipNode)
	if err := c.checkTip(); err != nil {
		return err
	}
	for _, l := range entries { // in height order, so parents come first
		c.link(c.index[l.hash])
		c.considerBest(c.index[l.hash])
	}
	// Blocks stored but not connected when the process stopped.
	if err := c.activate(commitEvery); err != nil {
		return err
	}
	c.prunedAt = c.Tip().Height
	c.prune()
	return c.commit()
}

// initGenesis writes the genesis block as the whole chain. Its coinbase
// output is not spendable (as in Bitcoin): no coin is added.
func (c *Chain) initGenesis() error {
	g := c.params.Genesis
	raw, _ := g.AppendBinary(nil)
	pos, err := c.db.AppendBlocks([][]byte{raw})
	if err != nil {
		return fmt.Errorf("chain: write genesis: %w", err)
	}
	n := newNode(&g.Header, c.params.GenesisHash, nil)
	n.Status, n.Pos, n.Seq = StatusHaveData|StatusValid, pos[0], 1
	c.seq = 1
	c.index[n.Hash] = n
	b := c.db.NewBatch()
	e := n.entry()
	b.PutIndex(n.Hash, &e)
	b.PutHeight(0, n.Hash)
	b.SetTip(store.Tip{Hash: n.Hash, Height: 0})
	if err := b.Commit(); err != nil {
		return fmt.Errorf("chain: write genesis: %w", err)
	}
	c.setActive(n)
	c.linked[n] = true
	c.best = n
	return nil
}

// setActive makes the active chain the ancestors of tip.
func (c *Chain) setActive(tip *Node) {
	c.active = make([]*Node, tip.Height+1, tip.Height+1+1024)
	for n := tip; n != nil; n = n.Parent {
		c.active[n.Height] = n
	}
}

// checkTip verifies that the committed tip's block is readable and hashes
// right and that the height index agrees; if not, it rolls back over such
// blocks with their undo records (which do not need the bodies).
func (c *Chain) checkTip() error {
	for {
		tip := c.active[len(c.active)-1]
		if tip.Height == 0 {
			return nil
		}
		_, readErr := c.Block(tip)
		at, hashErr := c.db.HashAt(tip.Height)
		if readErr == nil && hashErr == nil && at == tip.Hash {
			return nil
		}
		c.log.Warn("tip block unreadable or inconsistent; rolling back", "hash", tip.Hash, "height", tip.Height,
			"read", readErr, "height_index", hashErr)
		undo, err := c.db.Undo(tip.Hash)
		if err != nil {
			return fmt.Errorf("chain: roll back %s: %w", tip.Hash, err)
		}
		if err := disconnectBlock(&undo, c.view); err != nil {
			return err
		}
		b := c.db.NewBatch()
		c.view.flush(b)
		b.DeleteUndo(tip.Hash)
		b.DeleteHeight(tip.Height)
		b.SetTip(store.Tip{Hash: tip.Parent.Hash, Height: tip.Parent.Height})
		if readErr != nil {
			// The body is gone or corrupt: forget it, so it is fetched again.
			tip.Status &^= StatusHaveData
			tip.Pos = store.BlockPos{}
		}
		e := tip.entry()
		b.PutIndex(tip.Hash, &e)
		if err := b.Commit(); err != nil {
			return fmt.Errorf("chain: roll back %s: %w", tip.Hash, err)
		}
		c.active = c.active[:len(c.active)-1]
	}
}

// hasData reports whether n's body is stored or about to be.
func (c *Chain) hasData(n *Node) bool { return n.Status&StatusHaveData != 0 }

// link marks n linked (it and all its ancestors have data) if it is, making it
// a candidate, and links the blocks that were waiting for it.
func (c *Chain) link(n *Node) {
	if c.linked[n] || !c.hasData(n) || n.Status.Invalid() {
		return
	}
	if n.Parent != nil && !c.linked[n.Parent] {
		if !slices.Contains(c.waiting[n.Parent], n) {
			c.waiting[n.Parent] = append(c.waiting[n.Parent], n)
		}
		return
	}
	queue := []*Node{n}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if m.Status.Invalid() {
			continue
		}
		c.linked[m] = true
		if moreWork(m, c.active[len(c.active)-1]) {
			c.candidates[m] = struct{}{}
		}
		queue = append(queue, c.waiting[m]...)
		delete(c.waiting, m)
	}
}

// considerBest updates the best header with n.
func (c *Chain) considerBest(n *Node) {
	if !n.Status.Invalid() && (c.best == nil || moreWork(n, c.best)) {
		c.best = n
	}
}

// acceptHeader adds a header to the index after the header rules. Known
// headers are returned as they are (an error if known invalid). A header that
// fails is not stored, so a later, valid one with the same parent is judged
// afresh (and one too far in the future may come back when it is not).
func (c *Chain) acceptHeader(h *wire.Header) (*Node, error) {
	hash := h.Hash()
	if n, ok := c.index[hash]; ok {
		if n.Status.Invalid() {
			return n, blockErr(RuleInvalidChain, "block %s is known to be invalid", hash)
		}
		return n, nil
	}
	parent, ok := c.index[h.PrevBlock]
	if !ok {
		return nil, fmt.Errorf("chain: header %s: %w %s", hash, ErrUnknownParent, h.PrevBlock)
	}
	if parent.Status.Invalid() {
		return nil, blockErr(RuleInvalidChain, "parent %s of %s is invalid", parent.Hash, hash)
	}
	if err := CheckProofOfWork(&hash, h.Bits, &c.params.PowLimit); err != nil {
		return nil, err
	}
	if err := c.params.checkHeader(h, parent, c.now()); err != nil {
		return nil, err
	}
	n := newNode(h, hash, parent)
	c.addHeader(n)
	return n, nil
}

// addHeader puts a checked header's node into the index (under mu).
func (c *Chain) addHeader(n *Node) {
	c.seq++
	n.Seq = c.seq
	c.index[n.Hash] = n
	c.pending.dirty[n] = struct{}{}
	c.considerBest(n)
}

// ProcessHeaders accepts headers in order (as a headers message brings them)
// and returns the index entry of the last. It stops at the first that fails.
// It applies no work threshold: it is for headers from a source the caller
// trusts (tests, tools). Headers from peers go through a HeaderSync.
func (c *Chain) ProcessHeaders(hs []wire.Header) (*Node, error) {
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	var last *Node
	var firstErr error
	c.mu.Lock()
	for i := range hs {
		n, err := c.acceptHeader(&hs[i])
		if err != nil {
			firstErr = err
			break
		}
		last = n
	}
	c.mu.Unlock()
	if err := c.commit(); err != nil {
		return nil, err
	}
	return last, firstErr
}

// ProcessBlock accepts a block the caller asked for or trusts (raw is its
// serialization, or nil to have it encoded), connects it and whatever it
// makes the best chain, and commits before returning. A block whose parent
// is unknown is checked first (CheckBlock: proof of work against its own
// bits and the network's limit, merkle root and mutation, size, its
// transactions' own rules; a failure is returned as for any invalid block),
// then kept as an orphan and reported with ErrUnknownParent; it is processed
// when the parent arrives. The orphan pool is bounded by Options.MaxOrphans
// and Options.MaxOrphanBytes, oldest dropped first. A rejected block's error
// wraps ErrInvalidBlock and names the rule; the tip is then unchanged
// (unless other blocks were connected before the failure).
//
// Blocks a peer sent without being asked go to ProcessUnrequested instead.
//
// At the tip every block is committed before ProcessBlock returns. While the
// chain is catching up (the tip more than a few blocks behind the best header
// it knows), commits are deferred and batched, by SyncCommitBlocks blocks,
// SyncCommitBytes of bodies or SyncCommitAge, whichever comes first: an fsync
// per block would cost more than validating it. Flush commits what waits.
func (c *Chain) ProcessBlock(b *wire.Block, raw []byte) (*Node, error) {
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	n, err := c.processBlock(b, raw, commitEvery, true)
	if c.dueForCommit() {
		if cerr := c.commit(); cerr != nil {
			return nil, cerr
		}
	}
	return n, err
}

// Batching while catching up (see ProcessBlock).
const (
	// syncingGap: a tip this many blocks behind the best header is catching up.
	syncingGap       = 6
	SyncCommitBlocks = 500
	SyncCommitBytes  = 32 << 20
	SyncCommitAge    = 2 * time.Second
)

// dueForCommit reports whether the pending batch should be committed now.
func (c *Chain) dueForCommit() bool {
	p := c.pending
	if len(p.moves) == 0 && len(p.bodies) == 0 && len(p.dirty) == 0 && len(p.pruned) == 0 {
		return false
	}
	c.mu.RLock()
	tip := c.active[len(c.active)-1]
	syncing := c.best != nil && c.best.Height-tip.Height > syncingGap
	c.mu.RUnlock()
	return !syncing || len(p.moves) >= SyncCommitBlocks || p.bodyBytes >= SyncCommitBytes ||
		c.now().Sub(p.since) >= SyncCommitAge
}

// Flush commits changes deferred while catching up. The node calls it now
// and then, and Close calls it.
func (c *Chain) Flush() error {
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.broken != nil {
		return c.broken
	}
	return c.commit()
}

// AcceptBlocks processes blocks in order as ProcessBlock does, but commits
// only every few thousand blocks and at the end, which is how a node imports
// or catches up. Blocks already known are skipped, and blocks whose parent is
// not known yet are held as orphans (as by ProcessBlock) and connected when
// it comes, so a file of blocks out of order imports. It returns how many
// blocks were processed before the first other error; everything before that
// is committed.
func (c *Chain) AcceptBlocks(blocks []*wire.Block, raws [][]byte) (int, error) {
	n, _, err := c.acceptBlocks(blocks, raws)
	return n, err
}

// acceptBlocks is AcceptBlocks, also counting the blocks already known.
func (c *Chain) acceptBlocks(blocks []*wire.Block, raws [][]byte) (n, known int, err error) {
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.broken != nil {
		return 0, 0, c.broken
	}
	for i, b := range blocks {
		var raw []byte
		if raws != nil {
			raw = raws[i]
		}
		_, err := c.processBlock(b, raw, commitEvery, true)
		switch {
		case err == nil, errors.Is(err, ErrUnknownParent):
		case errors.Is(err, ErrDuplicate):
			known++
		default:
			if cerr := c.commit(); cerr != nil {
				return i, known, cerr
			}
			return i, known, err
		}
	}
	return len(blocks), known, c.commit()
}

// ProcessUnrequested is ProcessBlock for a block a peer sent without being
// asked for it (Bitcoin Core's AcceptBlock with fRequested false): a block
// that cannot make the best chain is ignored, its body not stored, and
// reported with ErrNotUseful. That is a block whose chain would have less
// work than the tip, or one more than MaxUnrequestedAhead blocks above the
// tip (the node is still syncing and will ask for it in turn). Its header is
// stored (and the node returned with ErrNotUseful) if it passes the header
// rules and its chain reaches the anti-DoS work threshold, as Core keeps it,
// so that the block's children are judged by their work too and not as
// orphans; below the threshold nothing of it is kept (a header that breaks
// a rule is reported as such). A block whose parent is unknown is checked
// (CheckBlock, as by ProcessBlock) but not kept: its work cannot be judged,
// and a peer announcing blocks sends headers first. Anything else is
// processed as by ProcessBlock, and a block that breaks a rule is reported
// the same way (wrapping ErrInvalidBlock).
func (c *Chain) ProcessUnrequested(b *wire.Block, raw []byte) (*Node, error) {
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	if err := c.unrequestedUseful(b); err != nil {
		c.mu.Lock()
		n, herr := c.headerAboveThreshold(&b.Header)
		c.mu.Unlock()
		if c.dueForCommit() {
			if cerr := c.commit(); cerr != nil {
				return nil, cerr
			}
		}
		if herr != nil {
			return n, herr
		}
		return n, err
	}
	n, err := c.processBlock(b, raw, commitEvery, false)
	if c.dueForCommit() {
		if cerr := c.commit(); cerr != nil {
			return nil, cerr
		}
	}
	return n, err
}

// MaxUnrequestedAhead is how far above the tip an unrequested block may be
// and still be stored (Core's MIN_BLOCKS_TO_KEEP, which it uses so).
const MaxUnrequestedAhead = 288

// unrequestedUseful returns ErrNotUseful (wrapped, with the reason) for an
// unrequested block that cannot make the best chain, nil otherwise (also when
// its parent is unknown, or it is already stored: processBlock reports those).
func (c *Chain) unrequestedUseful(b *wire.Block) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	hash := b.Hash()
	tip := c.active[len(c.active)-1]
	var work uint256.Int
	var height int32
	if n, ok := c.index[hash]; ok {
		if c.hasData(n) {
			return nil
		}
		work, height = n.Work, n.Height
	} else if parent, ok := c.index[b.Header.PrevBlock]; ok {
		w := Work(b.Header.Bits)
		work.Add(&parent.Work, &w)
		height = parent.Height + 1
	} else {
		return nil
	}
	if work.Lt(&tip.Work) {
		return fmt.Errorf("chain: block %s at height %d: %w: less work than the tip (height %d)", hash, height, ErrNotUseful, tip.Height)
	}
	if height > tip.Height+MaxUnrequestedAhead {
		return fmt.Errorf("chain: block %s at height %d: %w: more than %d blocks above the tip (height %d)",
			hash, height, ErrNotUseful, MaxUnrequestedAhead, tip.Height)
	}
	return nil
}

// headerAboveThreshold stores h (after the header rules) if its chain
// reaches the work threshold, and returns its node; below the threshold it
// stores nothing and returns nil. h's parent (or h) is known. Under mu.
func (c *Chain) headerAboveThreshold(h *wire.Header) (*Node, error) {
	if n, ok := c.index[h.Hash()]; ok {
		return n, nil
	}
	parent, ok := c.index[h.PrevBlock]
	if !ok {
		return nil, nil
	}
	w := Work(h.Bits)
	var work uint256.Int
	work.Add(&parent.Work, &w)
	if threshold := c.workThreshold(); work.Lt(&threshold) {
		return nil, nil
	}
	return c.acceptHeader(h)
}

// processBlock is ProcessBlock without the commit; batchLimit bounds how many
// blocks activation connects before committing. A parentless block is held
// as an orphan only if keepOrphan (and only after CheckBlock).
func (c *Chain) processBlock(b *wire.Block, raw []byte, batchLimit int, keepOrphan bool) (*Node, error) {
	n, err := c.acceptBlock(b, raw)
	if err != nil {
		if errors.Is(err, ErrUnknownParent) {
			// Nothing costs us memory before its proof of work and merkle
			// root are checked (design.md §6). procMu is held, so readers
			// are not blocked while the block is hashed.
			if cerr := CheckBlock(b, c.params); cerr != nil {
				return nil, cerr
			}
			if keepOrphan {
				c.mu.Lock()
				kept := c.orphans.add(b, raw)
				c.mu.Unlock()
				if !kept {
					return nil, fmt.Errorf("%w (not kept: larger than the orphan pool)", err)
				}
			} else {
				return nil, fmt.Errorf("%w (not kept: unrequested)", err)
			}
		}
		return n, err
	}
	if err := c.activate(batchLimit); err != nil {
		return n, err
	}
	// Blocks that were waiting for this one.
	queue := []sha256d.Hash{n.Hash}
	for len(queue) > 0 {
		c.mu.Lock()
		kids := c.orphans.takeChildren(queue[0])
		c.mu.Unlock()
		queue = queue[1:]
		for _, o := range kids {
			if kn, err := c.acceptBlock(o.block, o.raw); err == nil {
				queue = append(queue, kn.Hash)
			} else {
				c.log.Info("orphan rejected", "hash", o.block.Hash(), "err", err)
			}
		}
		if err := c.activate(batchLimit); err != nil {
			return n, err
		}
	}
	// The block itself may have failed when connected.
	if n.Status.Invalid() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if err := c.reasons[n]; err != nil {
			return n, err
		}
		for a := n.Parent; a != nil; a = a.Parent {
			if err := c.reasons[a]; err != nil {
				return n, blockErr(RuleInvalidChain, "block %s descends from invalid block %s (height %d): %v",
					n.Hash, a.Hash, a.Height, err)
			}
		}
		return n, blockErr(RuleInvalidChain, "block %s descends from an invalid block", n.Hash)
	}
	return n, nil
}

// acceptBlock runs the header, context-free and contextual rules and stores
// the block (its body is written at the next commit).
func (c *Chain) acceptBlock(b *wire.Block, raw []byte) (*Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hash := b.Hash()
	if n, ok := c.index[hash]; ok && c.hasData(n) {
		if n.Status.Invalid() {
			return n, blockErr(RuleInvalidChain, "block %s is known to be invalid", hash)
		}
		return n, fmt.Errorf("chain: block %s: %w", hash, ErrDuplicate)
	}
	n, err := c.acceptHeader(&b.Header)
	if err != nil {
		return n, err
	}
	if err := CheckBlock(b, c.params); err != nil {
		switch RuleOf(err) {
		case RuleBadMerkle, RuleMutated, RuleWitness:
			// These transactions are not what the header commits to (or carry
			// uncommitted witness data): the header stays good, and the real
			// block may still come.
		default:
			c.markInvalid(n, err)
		}
		return n, err
	}
	if err := c.params.checkBlockContext(b, n.Parent); err != nil {
		c.markInvalid(n, err)
		return n, err
	}
	if raw == nil {
		raw, _ = b.AppendBinary(nil)
	}
	if len(c.pending.bodies) == 0 && len(c.pending.moves) == 0 {
		c.pending.since = c.now()
	}
	c.pending.bodies[n] = raw
	c.pending.bodyBytes += len(raw)
	n.Status |= StatusHaveData // written at the next commit; served from memory until then
	c.pending.dirty[n] = struct{}{}
	c.link(n)
	return n, nil
}

// forgetData drops n's body (damaged on disk) and relinks the index, so that n
// and its descendants wait until the body is stored again.
func (c *Chain) forgetData(n *Node) {
	n.Status &^= StatusHaveData
	n.Pos = store.BlockPos{}
	c.pending.dirty[n] = struct{}{}
	delete(c.pending.bodies, n)
	clear(c.candidates)
	clear(c.waiting)
	clear(c.linked)
	nodes := make([]*Node, 0, len(c.index))
	for _, m := range c.index {
		nodes = append(nodes, m)
	}
	sortByHeight(nodes)
	for _, m := range nodes {
		if m.Parent == nil {
			c.linked[m] = true
			continue
		}
		c.link(m)
	}
}

// markInvalid flags n invalid and every descendant as having an invalid parent.
func (c *Chain) markInvalid(n *Node, reason error) {
	c.log.Info("invalid block", "hash", n.Hash, "height", n.Height, "err", reason)
	if len(c.reasons) >= 64 {
		clear(c.reasons) // only the block being processed needs its reason
	}
	c.reasons[n] = reason
	n.Status |= StatusInvalid
	c.pending.dirty[n] = struct{}{}
	delete(c.candidates, n)
	for _, m := range c.index {
		if m.Height > n.Height && !m.Status.Invalid() && m.Ancestor(n.Height) == n {
			m.Status |= StatusInvalidParent
			c.pending.dirty[m] = struct{}{}
			delete(c.candidates, m)
		}
	}
	if c.best != nil && c.best.Status.Invalid() {
		c.best = nil
		for _, m := range c.index {
			c.considerBest(m)
		}
	}
}

// activate moves the active chain to the best candidate, reorganizing if
// needed, committing every batchLimit blocks. A block that fails to connect is
// marked invalid and the next best candidate tried, so the chain always ends
// on the valid chain with the most work it can reach.
func (c *Chain) activate(batchLimit int) error {
	for {
		c.mu.Lock()
		tip := c.active[len(c.active)-1]
		var best *Node
		for n := range c.candidates {
			if n.Status.Invalid() || !moreWork(n, tip) {
				delete(c.candidates, n)
				continue
			}
			if best == nil || moreWork(n, best) {
				best = n
			}
		}
		c.mu.Unlock()
		if best == nil {
			return nil
		}
		fork := commonAncestor(tip, best)
		for c.Tip() != fork {
			if err := c.disconnectTip(); err != nil {
				return err
			}
		}
		var path []*Node
		for n := best; n != fork; n = n.Parent {
			path = append(path, n)
		}
		for i := len(path) - 1; i >= 0; i-- {
			err := c.connectTip(path[i])
			var re *RuleError
			if errors.As(err, &re) {
				c.mu.Lock()
				c.markInvalid(path[i], err)
				c.mu.Unlock()
				break // choose again: maybe the old chain, maybe another
			}
			if errors.Is(err, store.ErrCorrupt) {
				c.log.Warn("stored block is corrupt; forgetting it so it is fetched again", "hash", path[i].Hash, "err", err)
				c.mu.Lock()
				c.forgetData(path[i])
				c.mu.Unlock()
				break
			}
			if err != nil {
				return err
			}
			if len(c.pending.moves) >= batchLimit {
				if err := c.commit(); err != nil {
					return err
				}
			}
		}
	}
}

// body returns a block to connect (from the pending batch or from disk).
func (c *Chain) body(n *Node) (*wire.Block, error) { return c.Block(n) }

// connectTip connects n, whose parent is the tip.
func (c *Chain) connectTip(n *Node) error {
	b, err := c.body(n)
	if err != nil {
		return err
	}
	undo, err := c.connectBlock(b, n, c.view)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.active = append(c.active, n)
	delete(c.candidates, n)
	c.pending.moves = append(c.pending.moves, move{connect: true, node: n, undo: undo})
	c.pending.dirty[n] = struct{}{}
	c.mu.Unlock()
	c.pending.events = append(c.pending.events, Event{Kind: BlockConnected, Node: n, Block: b})
	return nil
}

// disconnectTip takes the tip out of the active chain with its undo record.
// It stays a candidate, so that if the other branch fails it comes back.
func (c *Chain) disconnectTip() error {
	n := c.Tip()
	var undo *store.Undo
	for i := len(c.pending.moves) - 1; i >= 0; i-- {
		if m := c.pending.moves[i]; m.connect && m.node == n {
			undo = m.undo
			break
		}
	}
	if undo == nil {
		u, err := c.db.Undo(n.Hash)
		if err != nil {
			return fmt.Errorf("chain: disconnect %s: %w", n.Hash, err)
		}
		undo = &u
	}
	b, err := c.body(n)
	if err != nil {
		return err
	}
	if err := disconnectBlock(undo, c.view); err != nil {
		return err
	}
	c.mu.Lock()
	c.active = c.active[:len(c.active)-1]
	c.candidates[n] = struct{}{}
	c.pending.moves = append(c.pending.moves, move{connect: false, node: n})
	c.mu.Unlock()
	c.pending.events = append(c.pending.events, Event{Kind: BlockDisconnected, Node: n, Block: b})
	return nil
}

// commit writes the pending batch: first the new bodies (made durable by
// AppendBlocks), then in one Pebble batch committed with Sync the index
// entries, the UTXO changes, undo records, heights and the tip. Afterwards
// the events are delivered. A failed commit leaves memory ahead of the disk,
// so the chain refuses further work until reopened.
func (c *Chain) commit() error {
	c.maybePrune()
	p := c.pending
	if len(p.bodies) == 0 && len(p.dirty) == 0 && len(p.moves) == 0 && len(p.pruned) == 0 {
		return nil
	}
	fail := func(err error) error {
		c.broken = fmt.Errorf("chain: commit failed; reopen the chain: %w", err)
		return c.broken
	}
	if len(p.bodies) > 0 {
		nodes := make([]*Node, 0, len(p.bodies))
		for n := range p.bodies {
			nodes = append(nodes, n)
		}
		slices.SortFunc(nodes, func(a, b *Node) int { return int(a.Height - b.Height) })
		raws := make([][]byte, len(nodes))
		for i, n := range nodes {
			raws[i] = p.bodies[n]
		}
		pos, err := c.db.AppendBlocks(raws)
		if err != nil {
			return fail(err)
		}
		c.mu.Lock()
		for i, n := range nodes {
			n.Pos = pos[i]
			n.Status |= StatusHaveData
		}
		c.mu.Unlock()
	}
	b := c.db.NewBatch()
	c.view.flush(b)
	c.mu.Lock() // Status is read by others (Chain.Status) under the read lock
	for _, m := range p.moves {
		if m.connect {
			b.PutUndo(m.node.Hash, m.undo)
			b.PutHeight(m.node.Height, m.node.Hash)
			m.node.Status |= StatusValid
		} else {
			b.DeleteUndo(m.node.Hash)
			b.DeleteHeight(m.node.Height)
		}
	}
	c.mu.Unlock()
	// The moves are applied in order, so a height rewritten by a later move
	// (a reorganization, or one undone again) ends with the last write.
	if len(p.moves) > 0 {
		tip := c.Tip()
		b.SetTip(store.Tip{Hash: tip.Hash, Height: tip.Height})
	}
	c.mu.RLock()
	for _, h := range p.pruned {
		b.DeleteIndex(h) // first: a header pruned and stored again is written below
	}
	for n := range p.dirty {
		e := n.entry()
		b.PutIndex(n.Hash, &e)
	}
	c.mu.RUnlock()
	if err := b.Commit(); err != nil {
		return fail(err)
	}
	events := p.events
	c.mu.Lock() // readers look for bodies in the pending batch
	c.pending = newPending()
	c.mu.Unlock()
	c.deliver(events)
	return nil
}

// sortByHeight orders nodes so that parents come before children.
func sortByHeight(nodes []*Node) {
	slices.SortFunc(nodes, func(a, b *Node) int { return int(a.Height - b.Height) })
}
