// Package chain is Renga's consensus: the network parameters ([Params]:
// devnet, regtest, mainnet), the header, block and transaction rules
// (proof of work and difficulty, median-time-past, merkle root, sizes and
// sigops, coinbase and subsidy, coinbase maturity, no double spends), script
// validation for P2PK and P2PKH with the legacy signature hash, the block
// index and fork choice (the valid chain with the most work, ties to the
// first seen), and reorganizations with undo data. It stores what it
// accepts through package chain/store (Pebble); it knows nothing of peers,
// the mempool's relay policy (chain/mempool) or the miner.
//
// # Using a Chain
//
//	c, err := chain.Open(dir, chain.Regtest, chain.Options{Logger: log})
//	...
//	c.Subscribe(func(e chain.Event) { ... })     // connected and disconnected blocks, in order
//	hs := c.NewHeaderSync()                      // one per peer; hs.Close() when it goes
//	last, err := hs.Process(msg.Headers)        // headers first (ErrLowWork: ask from hs.Locator())
//	node, err := c.ProcessBlock(block, raw)     // then the blocks asked for, in any order
//	node, err = c.ProcessUnrequested(block, raw) // a block pushed unasked (ErrNotUseful: ignored)
//	defer c.Close()
//
// A [HeaderSync] adds a peer's headers to the index once the chain they are
// on reaches the anti-DoS work threshold, holding them in bounded memory
// until then; [Chain.ProcessHeaders] adds headers from a trusted source with
// no threshold. [Chain.ProcessBlock] validates a block, stores it and moves
// the active chain to the best valid chain it can reach, connecting and
// disconnecting blocks as needed; [Chain.ProcessUnrequested] does so only
// for a block that can make the best chain; [Chain.AcceptBlocks] does the
// same for a run of blocks with fewer commits (import, reindex). Readers
// ([Chain.Tip], [Chain.BestHeader], [Chain.NodeByHash], [Chain.NodeAt],
// [Chain.Block], [Chain.Coin], ...) may run at any time alongside them.
//
// # What peers can make a Chain hold
//
// Every peer may be hostile, so what the data a peer sends can make the
// chain keep is bounded (design.md §6, in the way Bitcoin Core does it):
//
//   - Headers are stored only on a chain with at least the work threshold
//     ([Chain.WorkThreshold]: the tip's work less [ThresholdBlocks] blocks'
//     worth at the tip's difficulty). Below it a HeaderSync holds them,
//     checked, in memory: at most [MaxSyncHeaders] (~3.5 MB) per peer and
//     [MaxSyncHeadersTotal] (~28 MB) for all peers together.
//   - A block nobody asked for is stored only if its chain has at least the
//     tip's work and it is at most [MaxUnrequestedAhead] blocks above the
//     tip; otherwise at most its header is (if above the threshold).
//   - A block whose parent is unknown is held (orphan pool) only after its
//     proof of work, merkle root and the other context-free rules are
//     checked ([CheckBlock]), and only when it came through ProcessBlock or
//     AcceptBlocks (the p2p layer sends those only blocks it asked for; an
//     import, blocks in file order); the pool is bounded in count and bytes
//     ([Options.MaxOrphans], [Options.MaxOrphanBytes], [DefaultMaxOrphanBytes]).
//   - Signatures are verified once: a [SigCache] ([Chain.SigCache], bounded
//     by [Options.SigCacheBytes], [DefaultSigCacheBytes]) remembers those
//     that verified, shared with the mempool, so a block of transactions the
//     mempool accepted costs no second ECDSA verification.
//   - Header-only index entries off the active chain whose work falls below
//     the threshold, and that no kept entry descends from, are pruned from
//     memory and the store as the tip moves on, so stale side branches do
//     not stay. Entries with stored bodies are kept.
//
// # Index nodes
//
// Every stored header has a [Node] (until pruned): hash, header, parent,
// height, chain work, arrival order and where its body is stored. A Node's
// fields are fixed once it exists, except Status and Pos, which change
// under the chain's lock as the chain learns about the block; read the
// status of a node through [Chain.Status]. [Node.Ancestor] is logarithmic
// (skip pointers, as in Bitcoin Core).
//
// # Concurrency: two locks
//
// A Chain is safe for concurrent use. procMu serializes every change
// (headers, blocks, commits, reindex): one change runs at a time, and the
// order of events is the order of changes. mu, a read-write lock, guards the
// index, the active chain, the best header and the pending batch for
// readers; a change takes it only for the moment it updates them, never
// while validating scripts or reading the disk, so readers are not held up
// by validation. Lock order is procMu, then mu.
//
// # Events
//
// [Chain.Subscribe] registers a function called with every [Event]
// (BlockConnected, BlockDisconnected) in order, after the change it reports
// is durable, on the goroutine that made the change, with procMu held:
// a subscriber must not change the chain, and should return quickly (the
// p2p server queues announcements; the miner signals its workers).
//
// # Commits
//
// Chain state only moves in atomic Pebble batches written with Sync: the
// UTXO changes, undo records, height index and tip marker of one or many
// blocks together, after the bodies they need are durable (chain/store's
// crash recipe). At the tip every block is committed before ProcessBlock
// returns. While catching up (the tip more than a few blocks behind the best
// header) commits are batched by [SyncCommitBlocks], [SyncCommitBytes] or
// [SyncCommitAge], whichever comes first, because an fsync per block costs
// more than validating an early block; [Chain.Flush] commits what waits and
// the p2p server calls it every second. A crash loses at most the last
// batch, which the node downloads again. [Open] checks the stored tip
// against the stored blocks and rolls back over damaged ones. A commit that
// fails leaves memory ahead of the disk: the chain then refuses all further
// changes with that error until it is reopened.
//
// # Errors
//
// Consensus rejections wrap [ErrInvalidBlock] or [ErrInvalidTx] through a
// [*RuleError] that names the [Rule] (Bitcoin Core's reject reasons, so logs
// compare); [RuleOf] extracts it. [ErrUnknownParent] (the parent is not
// known yet), [ErrDuplicate] (already known), [ErrNotFound], [ErrNotUseful]
// (ignored: cannot make the best chain), [ErrLowWork] (headers held below
// the work threshold) and [ErrTooManyHeaders] (a HeaderSync's bound was
// reached) are not faults of the data. [ErrNetwork] is a data directory of
// another network.
// Anything else (wrapping chain/store's errors, [store.ErrCorrupt] among
// them) is the node's own failure, not the peer's.
//
// # Money
//
// Values are satoshis in int64; [Amount] shows and parses them as coins
// with eight decimals, exactly, for the RPC, the wallet and the command
// line. [Params.Mature] is the coinbase maturity rule.
package chain
