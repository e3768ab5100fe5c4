package chain

// Side branches that stay behind are pruned: an index entry that is only a
// header (no body stored), off the active chain, whose chain work has fallen
// below the anti-DoS work threshold, and from which no entry that is kept
// descends, is dropped from memory and from the store. Such a header was
// stored when its chain was within reach of the tip; now that the tip has
// moved ThresholdBlocks blocks' worth of work past it, a peer would have to
// bring the whole branch again through a HeaderSync for it to matter.
// Entries with a body stay (their body is on disk, and the index is how it is
// found), as do the active chain and everything that leads to a kept entry,
// so the index stays a tree rooted at genesis.
//
// Together with the threshold on what is stored (HeaderSync,
// ProcessUnrequested), this bounds the index off the active chain to the
// branches within ThresholdBlocks blocks' worth of work of the tip, plus the
// blocks the node itself asked for.

// pruneInterval is how far the tip moves between prunes. Pruning scans the
// whole index, so it does not run for every block; a branch is dropped at
// most this many blocks after it fell below the threshold.
const pruneInterval = 36

// maybePrune prunes when the tip has moved pruneInterval blocks since the
// last time (under procMu).
func (c *Chain) maybePrune() {
	tip := c.Tip()
	if d := tip.Height - c.prunedAt; d >= 0 && d < pruneInterval {
		return
	}
	c.prunedAt = tip.Height
	c.prune()
}

// prune drops the low-work header-only side branches and returns how many
// entries it dropped (under procMu; it takes mu).
func (c *Chain) prune() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	threshold := c.workThreshold()
	low := make(map[*Node]bool)
	for _, n := range c.index {
		if !c.hasData(n) && n.Work.Lt(&threshold) {
			low[n] = true // never on the active chain: those have bodies
		}
	}
	if len(low) == 0 {
		return 0
	}
	// Whatever is kept keeps its ancestors. Each walk stops at the first
	// ancestor already kept, so this is linear in the index.
	for _, n := range c.index {
		if low[n] {
			continue
		}
		for p := n.Parent; p != nil && low[p]; p = p.Parent {
			delete(low, p)
		}
	}
	for n := range low {
		delete(c.index, n.Hash)
		delete(c.pending.dirty, n)
		delete(c.reasons, n)
		c.pending.pruned = append(c.pending.pruned, n.Hash)
	}
	c.log.Debug("pruned low-work side branches", "headers", len(low), "index", len(c.index))
	return len(low)
}
