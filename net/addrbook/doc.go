// Package addrbook is the node's address manager: it remembers the
// addresses of other nodes, chooses which to dial, and answers getaddr, in
// a way that one attacker cannot fill with its own addresses (an eclipse:
// Heilman et al., "Eclipse Attacks on Bitcoin's Peer-to-Peer Network", 2015).
// It follows Bitcoin Core's addrman in its tables, constants and rules;
// discouragement and user bans are not its business (package p2p keeps
// them).
//
// # Tables
//
// An address (IP and port: nodes sharing an IP are distinct entries) is in
// one of two tables of buckets of 64 positions:
//
//   - the new table, 1,024 buckets, for addresses heard of. The bucket of
//     an address heard from a source is a hash of the secret key, the
//     source's group and the address's group, such that one source group
//     reaches at most 64 buckets: an attacker with few groups can fill
//     only a sixteenth of the table, whatever it sends. An address heard
//     from several source groups can be in up to 8 buckets, each further
//     one twice as hard to get. Its position in a bucket is a hash of the
//     key, the bucket and the address. A newcomer whose position is taken
//     replaces the occupant only if the occupant is terrible (below) or is
//     in other buckets too; otherwise it is not added.
//   - the tried table, 256 buckets, for addresses we connected to (Good:
//     an outbound handshake completed). Its bucket is a hash of the key,
//     the address and its group, one of 8 per group. When an address's
//     tried position is taken, the move waits (test before evict): the
//     collision is recorded (at most 10), a feeler tests the old entry
//     (SelectTriedCollision), and ResolveCollisions keeps the old entry if
//     it succeeded in the last 4 hours, replaces it if it was tried at
//     least a minute ago within the last 4 hours without success, and
//     replaces it anyway once the collision is 40 minutes old untested.
//     A replaced tried entry goes back to the new table.
//
// The key is 32 random bytes (Config.Key, or random), kept in the file, so
// placements survive restarts and nobody without the file can aim at a
// bucket or position.
//
// # Groups
//
// [GroupOf]: /16 for public IPv4 (and for IPv6 that embeds IPv4: 6to4,
// Teredo, NAT64), /32 for public IPv6 (/36 in he.net's 2001:470::/32).
// A local address ([IsLocal]: loopback, RFC 1918, CGNAT, link-local, ULA)
// is its own group, so a home network is as many groups as machines; for
// bucketing, a local address's port counts too, so the nodes of a devnet on
// 127.0.0.1 are as many groups as ports. A local address whose hashed
// position is taken takes the next free position of the same bucket, so a
// LAN of up to 64 machines never loses one to chance; public addresses keep
// their hashed positions. Local addresses are accepted only from local
// sources (loopback ones only from loopback) or from ourselves (an invalid
// source: LAN discovery, the command line): a public peer has no business
// naming LAN addresses, and another machine's loopback is not ours.
// Everything neither public ([IsRoutable]) nor local is refused.
//
// # Time and quality
//
// Add takes the time each address was claimed to be seen (LastSeen): one
// more than 10 minutes in the future, before 1973 or zero is taken as 5
// days ago; a relayed address is aged by the caller's penalty (Bitcoin Core
// gives 2 hours) unless the source announces itself. An existing entry's
// time moves forward at most hourly (daily for one not seen in a day). An
// entry is terrible, and the first to make room, when it was not tried in
// the last minute and either claims a time over 10 minutes ahead, was not
// seen in 30 days, failed 3 times without ever succeeding, or failed 10
// times with no success in a week. Attempt counts a failure at most once
// per Good anywhere, so our own outage does not ruin the book.
//
// # Choosing
//
// Select takes the tried or the new table with even odds (newOnly: new
// only, for feelers), a random occupied bucket, a random position and the
// next entry from there, and accepts it with its chance (1; ×0.01 if tried
// in the last 10 minutes; ×0.66 per failure, at most 8 times) times a
// factor growing 1.2× per refusal. A skip function lets the caller rule out
// what it will not dial (connected, same group, backing off); Select fails
// only if nothing passes it. GetAddr returns a random selection of at most
// a percentage (Bitcoin Core: 23%) and a count (1,000) of the entries,
// skipping terrible ones; the caller caches it and answers one getaddr per
// inbound connection.
//
// # Files
//
// Save writes the book (key, entries, the new buckets of each) and
// SaveAnchors the block-relay anchors (at most 2), each as a small binary
// file with a magic, a version and a trailing SHA-256, atomically: a
// temporary file synced, renamed over the old one, the directory synced.
// Load and LoadAnchors accept only a file that passes all checks (length,
// checksum, magic, version, every count bounded by its table and the bytes
// present, nothing left over); any other is renamed to
// <path>.corrupt-<UTC time>, a warning names it and the reason (an error
// wrapping [ErrCorrupt], or [ErrVersion]), and the node starts without it:
// an empty book, no anchors. Only an I/O failure (unreadable file) is
// returned, and the book is usable then too. LoadAnchors deletes the file
// it read. Collisions waiting for a test and the time of the last counted
// failure are not saved.
//
// # Concurrency
//
// A Book is safe for concurrent use: one mutex guards it, and no method
// blocks on anything but it (Save and Load hold it while encoding or
// decoding, not while writing). The skip function of Select runs under the
// mutex and must not call the book. Time comes from Config.Now and
// randomness from a generator seeded by Config.Seed (or crypto/rand), so a
// test or simulation with a fixed seed and a fake clock is reproducible.
package addrbook
