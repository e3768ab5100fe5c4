// Package interop runs Renga beside btcd, the independent implementation, and
// checks that the two interoperate as peers on regtest.
//
// The package holds only a test. TestBtcdInterop builds btcd (at the version
// this module requires) and the renga binary, starts one btcd and one
// `renga node` as processes on 127.0.0.1 with ports the test picks and data in
// temporary directories, and drives them the way a user would: btcd through its
// JSON-RPC, Renga through `renga cli` and `renga wallet`. It shows that
//
//   - Renga syncs a chain that btcd mined (handshake, headers, block download);
//   - btcd syncs blocks that Renga mined (Renga's announcements, getdata and
//     getblocks serving, and Renga's blocks valid under btcd's rules);
//   - a P2PKH payment made by `renga wallet send` reaches btcd's mempool
//     through Renga's inv/getdata relay, with btcd never disconnecting Renga.
//
// Network safety: everything listens on and dials 127.0.0.1 only. Renga runs
// with --connect to btcd and --discover=false (no multicast at all); btcd runs
// with --nodnsseed and no peers of its own, so it accepts Renga's connection
// and dials nothing; the test checks that every peer either side reports is on
// loopback. Every process is stopped when the test ends.
//
// The test is skipped under -short, and skipped with the build error when btcd
// cannot be built (for example with no module proxy and an empty module cache).
package interop
