// Package interop runs Renga beside btcd, the independent implementation, and
// checks that the two interoperate as peers on regtest.
//
// The package holds only tests and a benchmark. They build btcd (at the
// version this module requires) and the renga binary from the current tree,
// once per run of the test binary, start btcd and `renga node` as processes
// on 127.0.0.1 with ports the test picks and data in temporary directories,
// and drive them the way a user would: btcd through its JSON-RPC, Renga
// through its JSON-RPC (with the cookie, as `renga cli` does), `renga cli`
// and `renga wallet`.
//
// TestBtcdInterop shows that
//
//   - Renga syncs a chain that btcd mined (handshake, headers, block download);
//   - btcd syncs blocks that Renga mined (Renga's announcements, getdata and
//     getblocks serving, and Renga's blocks valid under btcd's rules);
//   - a P2PKH payment made by `renga wallet send` reaches btcd's mempool
//     through Renga's inv/getdata relay, with btcd never disconnecting Renga.
//
// TestBtcdSyncFromRenga shows that whole chains cross in both directions with
// no connection ever dropped. A btcd mines 5,000 blocks with `generate`, 12
// of them carrying about 860 KB of transactions (about 11 MB in all, more
// than twice Renga's send buffer in one of btcd's getdata); a `renga node`
// syncs them from it; a fresh btcd syncs them from Renga; and another fresh
// btcd syncs them from Renga through a relay in the test process that reads
// from Renga slowly (1.5 MB/s through a 4 KiB receive buffer), which must
// make Renga wait for room in its send buffer (getpeerinfo's send_pauses).
// No drop is checked in both programs' logs: btcd's (at debug level for the
// subsystems that report one, see btcdDropMarks) must show one handshake and
// no dropped peer, and Renga's no "peer disconnected" but for the nodes the
// test stopped itself.
//
// BenchmarkBtcdSync times a fresh btcd and a fresh Renga syncing the same
// 5,000-block chain from a btcd source and from a Renga source, side by
// side in one run, and reports the seconds, their ratios and the
// disconnects it saw (through a relay in front of each source, and in the
// syncing node's log).
//
// A btcd cannot be restarted on a regtest chain (it deletes its regtest
// database at start), so each test and each benchmark run mines its own
// chain and keeps that btcd running as the chain's source.
//
// Network safety: everything listens on and dials 127.0.0.1 only. Renga runs
// with --connect and --discover=false (no multicast at all); btcd runs with
// --nodnsseed, and either --connect to one peer and --nolisten, or no peers
// of its own, listening on 127.0.0.1; the relays listen on and dial
// 127.0.0.1. The tests check that every peer either side reports is on
// loopback. Every process is stopped when its test ends, and on Linux the
// kernel kills them if the test binary dies first.
//
// The tests and the benchmark are skipped under -short, and skipped with the
// build error when btcd cannot be built (for example with no module proxy
// and an empty module cache).
package interop
