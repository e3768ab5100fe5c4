package chain

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
