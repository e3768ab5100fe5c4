// Package mempool keeps the transactions a node has accepted for the next
// blocks and relays: valid against the active chain's UTXO set plus the pool
// itself (a transaction may spend another unconfirmed one), and standard by
// Renga's relay policy.
//
// # Policy
//
//   - Consensus first: the transaction must be valid in the next block (every
//     rule of package chain, with the next block's height and the tip's median
//     time past for lock times and BIP68).
//   - Standard scripts only: outputs pay to P2PK, P2PKH or a single OP_RETURN
//     of at most 80 bytes of data; no output below the dust limit; scriptSigs
//     push-only, at most 1,650 bytes; signatures checked with
//     chain.StandardScriptFlags (strict DER, low S, strict encodings,
//     NULLFAIL, clean stack, minimal pushes); version 1 or 2; at most 100,000
//     bytes.
//   - A minimum relay fee ([Config.MinRelayFee] satoshis per 1,000 bytes).
//   - First seen wins: a transaction spending an output another pool
//     transaction already spends is refused (no replacement).
//   - Orphans (transactions whose inputs are not known yet) are kept in a
//     bounded pool and retried when a parent arrives.
//   - Bounded size: past [Config.MaxBytes], the transactions with the lowest
//     fee rate are evicted, with everything that spends them (a heap keeps
//     them in that order: an eviction costs O(log n), not a sort).
//   - Recent rejects: a transaction refused for what it is (invalid,
//     non-standard, too low a fee, a conflict, the pool full) is remembered
//     until the tip changes and refused again without validation
//     ([ErrRecentlyRejected]); [Pool.RecentlyRejected] lets the p2p layer
//     skip asking for it. At most 120,000 are remembered (~2 MB).
//
// # Validation and the lock
//
// The signatures of a transaction are checked with no lock held, through the
// chain's signature cache (chain.SigCache): what the pool verified, block
// validation does not verify again. The other checks read the pool and the
// chain under the read lock before, and again under the write lock, as the
// transaction is inserted, if the pool or the tip changed in between (the
// scripts are checked again only if the coins they spend differ). So a large
// transaction whose last signature fails costs its validation time to no
// other caller.
//
// # Chain events
//
// The pool subscribes to the chain: a connected block removes its
// transactions and anything that conflicts with them; a disconnected block's
// transactions are offered back to the pool (those the new chain made invalid
// are dropped).
//
// # Errors
//
// Consensus failures wrap chain.ErrInvalidTx; policy refusals wrap
// [ErrNonStandard], [ErrLowFee], [ErrConflict], [ErrDuplicate] (with
// [ErrConfirmed] too for a transaction already in the chain), [ErrFull],
// [ErrRecentlyRejected]; [ErrOrphan] means the transaction was kept waiting
// for its parents.
//
// # Concurrency
//
// A Pool is safe for concurrent use.
package mempool
