// Package p2p is the node's server: it keeps connections to other nodes and
// makes them useful. It owns the connection policy (listening, dialling the
// configured, discovered and known addresses, limits, discouraging
// misbehaving addresses), gossip (announcing blocks and transactions without
// echoing them back, serving what peers ask for) and headers-first sync with
// parallel block download. One connection is a net/peer.Peer; validation is
// package chain's and the mempool's.
//
// # Gossip
//
// A new tip is announced with a headers message to peers that sent
// sendheaders (BIP130) and with an inv to the others; new transactions are
// queued per peer and announced in batches on a randomized timer (so that
// the order of announcements does not reveal who sent first). Each peer has a
// bounded set of the hashes it is known to have (it sent them, or was told
// them), so nothing is sent back to where it came from. getdata is answered
// from the chain and the mempool, with notfound for the rest.
//
// # Sync
//
// Headers first: a new peer is asked for headers from our best header's
// locator, 2,000 at a time, and so is any peer that announces a block we do
// not know. Blocks are then downloaded in parallel from every peer whose
// headers show it has them: a window of DownloadWindow (1,024) blocks past the
// tip, at most MaxInFlight (16) requests per peer. If the first block of the
// window is still missing StallTimeout (2 s) after it was asked for, the peer
// holding it is stalling: its requests go to other peers, it is given no more
// while others can serve them (until it delivers a block again), and the
// timeout doubles (back down as blocks arrive). A peer that disconnects loses
// its requests the same way. Blocks may arrive in any order; the chain connects
// them in order.
//
// # Identity and duplicates
//
// A node's version nonce is its LAN discovery instance id, so the server
// knows when a discovered node is already connected (in either direction),
// and when two nodes dial each other at the same moment both keep the
// connection dialled by the node with the smaller nonce.
//
// # Misbehaviour
//
// Malformed bytes, protocol violations, headers or blocks that break a
// consensus rule (other than being too far in the future, or carrying
// transactions that do not match the header) disconnect the peer and
// discourage its address for a day (design.md §6). Nothing a peer sends
// makes memory grow without bound: per-peer queues and sets are bounded,
// addresses are rate-limited, and requests are capped.
//
// # Transports and testing
//
// The server listens and dials through Config.Transport: real TCP sockets
// ([TCP], through net/sock) by default, or an in-memory network
// (net/sock/memnet) in the tests, which then run inside testing/synctest
// bubbles on a fake clock: stall timeouts, pings and retries take no wall
// time. Only LAN discovery opens a socket of its own.
//
// # Concurrency
//
// Run blocks until its context ends and joins every goroutine it started:
// the listener, dialers, one per connection (plus the peer's writer),
// discovery, and a maintenance loop, which alone starts dials (so no
// context outlives Run: AddNode from the RPC only records the address).
// Peer handlers run on each peer's reading goroutine. The server's mutex
// guards the set of connections and the connection policy; each peer's
// gossip state (what it knows, its queued announcements, its address
// tokens) has its own lock and methods; the download scheduler has its own
// lock; counters are atomics. No lock is held while calling the chain or
// the mempool, except that the scheduler reads block status from the chain
// under its own lock (lock order: scheduler, then chain).
package p2p
