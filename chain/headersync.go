package chain

import (
	"fmt"

	"github.com/holiman/uint256"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// The anti-DoS work threshold (Bitcoin Core's GetAntiDoSWorkThreshold): a
// header from a peer is stored only on a chain with at least the active tip's
// work minus ThresholdBlocks blocks' worth of work at the tip's difficulty.
// Headers are cheap to make where the difficulty is low (two hashes each on
// regtest; a devnet fork from an old block eases to PowLimit within a dozen
// blocks), so a chain of them that cannot come near the tip would otherwise
// fill the index and the disk for nothing.
//
// Headers below the threshold are not thrown away at once: an honest peer on
// a competing chain sends them in order from the fork, and the chain only
// passes the threshold after many of them. A [HeaderSync] holds them, fully
// checked, in memory until the chain they form reaches the threshold, and
// then stores them all; until then they cost the chain nothing on disk.
// (Core keeps a few bits per thousand headers and downloads them again; this
// simpler scheme costs more memory per header, so it is bounded.)
const (
	// ThresholdBlocks is how many blocks' worth of work at the tip's
	// difficulty a stored chain may fall short of the tip's.
	ThresholdBlocks = 144
	// MaxSyncHeaders bounds the headers one HeaderSync holds: eight full
	// headers messages, at about 216 bytes each (a Node and a pointer),
	// ~3.5 MB per peer.
	MaxSyncHeaders = 8 * wire.MaxHeaders
	// MaxSyncHeadersTotal bounds the headers all of a chain's HeaderSyncs
	// hold together: ~28 MB, whatever the number of peers.
	MaxSyncHeadersTotal = 64 * wire.MaxHeaders
)

// WorkThreshold returns the anti-DoS work threshold: the active tip's chain
// work less ThresholdBlocks times the work of a block at the tip's
// difficulty (zero if that is more than the tip's work).
func (c *Chain) WorkThreshold() uint256.Int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.workThreshold()
}

// workThreshold is WorkThreshold for callers holding mu or procMu.
func (c *Chain) workThreshold() uint256.Int {
	tip := c.active[len(c.active)-1]
	w := Work(tip.Header.Bits)
	var margin, t uint256.Int
	if _, overflow := margin.MulOverflow(&w, uint256.NewInt(ThresholdBlocks)); overflow || margin.Gt(&tip.Work) {
		return t
	}
	t.Sub(&tip.Work, &margin)
	return t
}

// HeaderSync takes headers from one peer and applies the anti-DoS work
// threshold to them: headers on a chain that has reached the threshold are
// stored as by [Chain.ProcessHeaders]; headers below it are checked as fully
// (proof of work, and the header rules against their ancestors, held or
// stored) and held in memory until more of the peer's chain brings it to the
// threshold, when they are all stored. One per peer; not safe for concurrent
// use (the Chain it belongs to is). Close it when the peer goes, to release
// its share of MaxSyncHeadersTotal.
//
// What one peer can make it hold: MaxSyncHeaders headers, ~3.5 MB; all
// peers together MaxSyncHeadersTotal, ~28 MB. A low-work chain longer than
// that from its fork cannot be synced from one peer (the error is
// ErrTooManyHeaders); a chain 144 blocks within the tip's work needs none of
// it.
type HeaderSync struct {
	c *Chain
	// held are headers not stored yet, each the child of the one before;
	// held[0]'s parent is in the index. They are Nodes so that the header
	// rules (difficulty, median time past) see their ancestors.
	held []*Node
}

// NewHeaderSync returns a HeaderSync for one peer's headers.
func (c *Chain) NewHeaderSync() *HeaderSync { return &HeaderSync{c: c} }

// Held returns how many headers are held waiting for more work.
func (h *HeaderSync) Held() int { return len(h.held) }

// Close releases the held headers. The HeaderSync may be used again.
func (h *HeaderSync) Close() { h.release(0) }

// release drops the held headers from index keep on.
func (h *HeaderSync) release(keep int) {
	if dropped := len(h.held) - keep; dropped > 0 {
		h.c.syncHeld.Add(-int64(dropped))
		clear(h.held[keep:])
		h.held = h.held[:keep]
	}
	if len(h.held) == 0 {
		h.held = nil // let the memory go
	}
}

// Locator returns where to ask the peer to continue: from the last header
// held, or (holding none) from the chain's best header.
func (h *HeaderSync) Locator() []sha256d.Hash {
	if len(h.held) > 0 {
		return LocatorFrom(h.held[len(h.held)-1])
	}
	return LocatorFrom(h.c.BestHeader())
}

// Process takes the headers of one headers message, in order, and returns
// the last header stored (nil if none was). The errors:
//
//   - nil: every header is stored (or was known).
//   - ErrLowWork: the headers are checked and held, below the threshold so
//     far; ask the peer for more from Locator.
//   - ErrNotUseful: a headers message shorter than wire.MaxHeaders left the
//     held chain below the threshold: the peer's chain ends there, so the
//     held headers are dropped (Core's PRESYNC gives up the same way). Not a
//     fault of the peer.
//   - ErrTooManyHeaders: holding more would pass MaxSyncHeaders or
//     MaxSyncHeadersTotal; the held headers are dropped.
//   - ErrUnknownParent: the first header follows neither a stored header nor
//     a held one, or the headers are not in sequence.
//   - a rule error (ErrInvalidBlock), as from ProcessHeaders; the held
//     headers are dropped.
func (h *HeaderSync) Process(hs []wire.Header) (*Node, error) {
	c := h.c
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	if len(hs) == 0 {
		return nil, nil
	}
	c.mu.Lock()
	last, err := h.process(hs)
	c.mu.Unlock()
	if cerr := c.commit(); cerr != nil {
		return nil, cerr
	}
	return last, err
}

// process is Process under both locks.
func (h *HeaderSync) process(hs []wire.Header) (last *Node, err error) {
	c := h.c
	h.revalidate()
	threshold := c.workThreshold()
	now := c.now()
	parent, err := h.parentOf(&hs[0])
	if err != nil {
		return nil, err
	}
	for i := range hs {
		hdr := &hs[i]
		hash := hdr.Hash()
		if hdr.PrevBlock != parent.Hash {
			h.release(0)
			return last, fmt.Errorf("chain: header %s: %w: headers not in sequence (its parent is %s, the header before is %s)",
				hash, ErrUnknownParent, hdr.PrevBlock, parent.Hash)
		}
		if len(h.held) == 0 {
			// On a stored parent: known headers, and headers whose chain
			// reaches the threshold, go to the index at once.
			w := Work(hdr.Bits)
			var work uint256.Int
			work.Add(&parent.Work, &w)
			if _, known := c.index[hash]; known || !work.Lt(&threshold) {
				n, err := c.acceptHeader(hdr)
				if err != nil {
					return last, err
				}
				parent, last = n, n
				continue
			}
			if parent.Status.Invalid() {
				return last, blockErr(RuleInvalidChain, "parent %s of %s is invalid", parent.Hash, hash)
			}
		}
		// Below the threshold so far: the checks acceptHeader makes, then hold.
		if err := CheckProofOfWork(&hash, hdr.Bits, &c.params.PowLimit); err != nil {
			h.release(0)
			return last, err
		}
		if err := c.params.checkHeader(hdr, parent, now); err != nil {
			h.release(0)
			return last, err
		}
		if len(h.held) >= MaxSyncHeaders || c.syncHeld.Load() >= MaxSyncHeadersTotal {
			held := len(h.held)
			h.release(0)
			return last, fmt.Errorf("chain: header %s at height %d: %w (%d held from this peer, at most %d; %d from all, at most %d)",
				hash, parent.Height+1, ErrTooManyHeaders, held, MaxSyncHeaders, c.syncHeld.Load(), MaxSyncHeadersTotal)
		}
		n := newNode(hdr, hash, parent)
		h.held = append(h.held, n)
		c.syncHeld.Add(1)
		parent = n
		if !n.Work.Lt(&threshold) {
			last = h.store()
			parent = last
		}
	}
	if len(h.held) == 0 {
		return last, nil
	}
	top := h.held[len(h.held)-1]
	if len(hs) < wire.MaxHeaders {
		h.release(0)
		return last, fmt.Errorf("chain: headers up to %s at height %d: %w: the peer's chain ends below the work threshold",
			top.Hash, top.Height, ErrNotUseful)
	}
	return last, fmt.Errorf("chain: %d headers held, up to height %d: %w", len(h.held), top.Height, ErrLowWork)
}

// parentOf finds the parent of the first header of a message: the last held
// header (the peer goes on), a stored one (the peer starts again from there:
// what was held is dropped), or an earlier held one (the peer goes back: the
// held headers after it are dropped).
func (h *HeaderSync) parentOf(hdr *wire.Header) (*Node, error) {
	prev := hdr.PrevBlock
	if k := len(h.held); k > 0 && h.held[k-1].Hash == prev {
		return h.held[k-1], nil
	}
	if n, ok := h.c.index[prev]; ok {
		h.release(0)
		return n, nil
	}
	for i := len(h.held) - 2; i >= 0; i-- {
		if h.held[i].Hash == prev {
			h.release(i + 1)
			return h.held[i], nil
		}
	}
	return nil, fmt.Errorf("chain: header %s: %w %s", hdr.Hash(), ErrUnknownParent, prev)
}

// revalidate brings the held headers up to date with the index, which may
// have changed since the last call: the block they hang from may have been
// pruned or found invalid (then they are dropped), and another peer's
// headers may have stored some of them (then those are dropped from the
// held ones and the rest hang from the stored copies).
func (h *HeaderSync) revalidate() {
	if len(h.held) == 0 {
		return
	}
	c := h.c
	if root := h.held[0].Parent; c.index[root.Hash] != root || root.Status.Invalid() {
		h.release(0)
		return
	}
	k := 0
	for k < len(h.held) && c.index[h.held[k].Hash] != nil {
		k++
	}
	if k == 0 {
		return
	}
	parent := c.index[h.held[k-1].Hash]
	if parent.Status.Invalid() {
		h.release(0)
		return
	}
	rest := make([]*Node, 0, len(h.held)-k)
	for _, n := range h.held[k:] {
		m := newNode(&n.Header, n.Hash, parent)
		rest = append(rest, m)
		parent = m
	}
	c.syncHeld.Add(-int64(k))
	h.held = rest
}

// store adds the held headers to the index (their chain reached the
// threshold) and returns the last.
func (h *HeaderSync) store() *Node {
	for _, n := range h.held {
		h.c.addHeader(n)
	}
	last := h.held[len(h.held)-1]
	h.c.syncHeld.Add(-int64(len(h.held)))
	h.held = nil
	return last
}
