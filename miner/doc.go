// Package miner mines blocks on a [chain.Chain]: it makes block templates
// from the tip and the mempool, searches their nonces with a pool of workers
// running the fastest SHA-256d kernel of the CPU, and hands the blocks it
// finds to [chain.Chain.ProcessBlock]. It is what `renga node --mine`,
// `renga mine`, the RPC generatetoaddress and `renga bench` use. It does not
// relay blocks: the node hears of them from the chain like of any other.
//
// # Templates
//
// A [Template] builds on the tip:
//
//   - version [Version] (0x20000000), bits from [chain.Params.NextBits], time
//     max(now, median time past + 1), never ahead of the clock;
//   - transactions from the mempool by fee rate, highest first, a
//     transaction only after its parents in the pool, within the block
//     weight ([Config.MaxWeight], at most chain.MaxBlockWeight) and the
//     signature-operation limit; one that does not fit (or is not final) is
//     skipped with its descendants, and smaller ones after it are still
//     considered. A parent is ranked by its own fee rate (no child pays for
//     its parent), which only matters when blocks are full;
//   - a coinbase whose script is the BIP34 height, an [ExtranonceSize]-byte
//     extranonce push and a tag ([Config.Tag], [DefaultTag] by default),
//     paying the subsidy plus the fees to one output script.
//
// Changing the extranonce changes the coinbase and so the merkle root: a
// template keeps the coinbase's merkle branch, so a new extranonce costs a
// coinbase hash and one hash per level of the tree.
//
// # Jobs and workers
//
// A job is a template with one extranonce and time, turned into a kernel job
// (the midstate of the header's first 64 bytes and a 32-bit filter). Workers
// ([Config.Threads], GOMAXPROCS by default) claim ranges of the kernel's
// chunk (about 4 ms of work) from the job's atomic nonce counter, scan them,
// confirm each candidate against the full 256-bit target, and between two
// ranges pick up whatever job is current; the scan loop allocates nothing.
// The worker whose nonce solves a template marks it solved (the others stop
// on it) and hands the nonce to the coordinating goroutine, which assembles
// the block and submits it.
//
// A new job starts, with the next extranonce, when
//
//   - the tip changes (a [chain.Event] of any kind): at once, so every worker
//     is on the new tip within one kernel call of the event;
//   - the pool accepts transactions and the template they make earns more:
//     at once after a quiet [Config.RefreshInterval], else once per interval;
//   - the 2^32 nonces of the job are used up (an extranonce roll);
//   - a second has passed on the clock (the header time follows it).
//
// Extranonces start at a random value, so two miners paying to the same
// script never search the same headers.
//
// # Running
//
// [New] chooses the kernel (by name, by $RENGA_KERNEL, else by a short
// calibration) and subscribes to the chain and the pool; it starts nothing.
// [Miner.Run] mines until its context ends; [Miner.Generate] mines until n
// blocks it found are connected, paying a script given per call (this is
// generatetoaddress); one of them runs at a time, and each returns after
// every goroutine it started has ended. [Miner.Stats] may be called at any
// time from any goroutine: the kernel, the threads, the height being mined,
// nonces scanned and the rate, blocks found, stale and refused, templates,
// jobs and rolls. [Config.OnBlock] hears of each block found.
// [Miner.Template] shows the block the miner would search next.
//
// Create the [mempool.Pool] before the Miner: the pool subscribes to the
// chain first, so it has dropped a block's transactions by the time the
// miner hears of the block. Should a template still hold a transaction the
// chain refuses, the block is refused ([Found.Err] wraps
// chain.ErrInvalidBlock), counted, and the miner mines coinbase-only blocks
// on that parent; a refused coinbase-only block stops Run with an error.
//
// # Measuring
//
// [Measure] times a kernel, or the [Baseline] loop of crypto/sha256, on any
// number of threads at once: `renga bench` prints a table of them. [Kernels]
// lists the kernels of the build.
//
// The pool costs next to nothing: on the development machine (2 cores, see
// miner/internal/kernel), median of 3 runs of
//
//	go test ./miner/ -run '^$' -bench Throughput -count 3
//
//	avx512 on 2 threads   kernel alone  workers' steps  running Miner
//	MH/s                      61.0          61.0            60.3
//
// A block connected from elsewhere has the new job published about 0.1 ms
// after ProcessBlock returns (TestRestartOnNewTip logs it; BenchmarkRestart,
// 0.6–0.8 ms, includes the chain processing the block), and each worker
// takes it when its kernel call ends, within about 4 ms.
//
// # Errors
//
// [ErrConfig] (from [Config.Validate] or a bad kernel name), [ErrBusy] (a
// second Run or Generate at once), [ErrNoScript], and [ErrStale] in a
// [Found] block that did not join the active chain. Run and Generate return
// the chain's error, wrapped, when it fails to store a block.
package miner
