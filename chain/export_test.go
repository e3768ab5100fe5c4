package chain

import "github.com/renga-p2p/renga/wire"

// Internals the external tests (package chain_test) look at.

// IndexLen returns how many entries the block index holds.
func IndexLen(c *Chain) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.index)
}

// SyncHeld returns how many headers all of c's HeaderSyncs hold.
func SyncHeld(c *Chain) int { return int(c.syncHeld.Load()) }

// PruneInterval is pruneInterval.
const PruneInterval = pruneInterval

// ConnectOnView validates and applies b, a child of the tip, to a fresh
// view of the UTXO set (which is then dropped), with the chain's signature
// cache or with none: what connecting a block costs, repeatable.
func ConnectOnView(c *Chain, b *wire.Block, useCache bool) error {
	c.procMu.Lock()
	defer c.procMu.Unlock()
	tip := c.Tip()
	node := newNode(&b.Header, b.Hash(), tip)
	saved := c.sigCache
	if !useCache {
		c.sigCache = nil
	}
	defer func() { c.sigCache = saved }()
	_, err := c.connectBlock(b, node, newUTXOView(c.db))
	return err
}
