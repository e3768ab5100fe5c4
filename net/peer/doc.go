// Package peer is one connection to another node: the handshake, the read and
// write loops, pings, deadlines and link compression. What the messages mean
// (gossip, sync, serving data) is the Handler's business: package p2p.
//
// # Lifetime
//
// [New] wraps a connected net.Conn. [Peer.Run] performs the handshake and
// then reads until the connection ends, calling the Handler with each message
// on the reading goroutine (so a slow handler slows that peer, and only it).
// Run starts exactly one more goroutine, the writer, and returns only after
// it has stopped, with the cause of the end. [Peer.Close] ends the connection
// from anywhere, is idempotent and keeps the first cause.
//
// # Sending, and what a peer can make us hold
//
// [Peer.Send] encodes a message and queues it for the writer without
// blocking. The queue is counted in bytes against Config.SendBuffer
// ([DefaultSendBuffer], 4 MiB), as Bitcoin Core's send buffer is: while it is
// over, the reading goroutine reads nothing more from the peer, and a handler
// answering a request that names many things waits in [Peer.WaitSendRoom]
// before each reply. So a peer that asks for more than it reads (a getdata
// of thousands of blocks) is served at the pace it reads and never dropped
// for asking; one that stops reading holds at most the buffer plus one
// reply, and is dropped when a write makes no progress for
// Config.WriteTimeout (writes go in 64 KiB pieces, each with its own
// deadline, so a slow but steady reader is never timed out). What other
// goroutines push meanwhile (announcements) is bounded too: a queue past
// twice the buffer plus a largest message closes the peer ([ErrSlowPeer]);
// the server holds announcements back from a peer whose buffer is full
// ([Peer.SendBufferFull]). Per peer the receive side costs a 64 KiB read
// buffer and one frame of at most 4 MB with its decoded message.
//
// # Handshake
//
// As btcd and Bitcoin Core expect: the side that dialled sends version; on a
// version each side answers with its own version (if it has not sent one),
// then wtxidrelay and sendaddrv2 (to peers of protocol 70016), then verack.
// Only version, verack, wtxidrelay and sendaddrv2 are accepted before verack;
// anything else, a second version, a connection to ourselves or a peer older
// than protocol 70001 ends the connection ([ErrProtocol], [ErrSelf],
// [ErrObsolete]). The version nonce is random per connection and only tells
// a connection to ourselves (a nonce we sent, on this or, through
// Config.IsOwnNonce, another connection); it identifies no node. After verack a peer of protocol 70012 or later is
// sent sendheaders, and when both sides set wire.SFNodeCompress each sends
// sendcmpr (design.md §3). The whole handshake must finish within
// Config.HandshakeTimeout (60 s).
//
// # Keeping alive
//
// The writer sends a ping every Config.PingInterval (2 minutes) and the peer
// is dropped after Config.PingTimeout (20 minutes) without the matching pong;
// every read must complete within the same time, and every write within
// Config.WriteTimeout.
//
// # Link compression
//
// When both sides negotiated it, a message whose payload is at least the
// peer's minimum size is sent as cmpr with the first codec the peer accepts
// that shrinks it. A received cmpr is decompressed with its declared length as
// a hard limit (decompression stops there, so no bomb gets further) and
// decoded as its inner message; one whose inner command is unknown is
// dropped before it is decompressed. Never sent to a peer that did not ask.
// The codecs serve every peer, as many at once as there are CPUs.
//
// # Errors
//
// Run returns why the connection ended. [Peer.Stats] counts bytes per command
// each way (getpeerinfo's bytessent_per_msg and bytesrecv_per_msg). [Misbehaved] tells the bad peer
// (malformed bytes, protocol violations; the server discourages its address)
// from the broken connection (EOF, resets, timeouts). A bad checksum or an
// unknown command only drops that message, as in Bitcoin Core.
package peer
