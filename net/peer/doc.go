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
// from anywhere, is idempotent and keeps the first cause. [Peer.Send] queues
// a message without blocking; a peer whose queue is full is too slow to keep
// up and is closed ([ErrSlowPeer]) rather than allowed to grow memory.
//
// # Handshake
//
// As btcd and Bitcoin Core expect: the side that dialled sends version; on a
// version each side answers with its own version (if it has not sent one),
// then wtxidrelay and sendaddrv2 (to peers of protocol 70016), then verack.
// Only version, verack, wtxidrelay and sendaddrv2 are accepted before verack;
// anything else, a second version, a connection to ourselves (our own nonce)
// or a peer older than protocol 70001 ends the connection ([ErrProtocol],
// [ErrSelf], [ErrObsolete]). After verack a peer of protocol 70012 or later is
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
// decoded as its inner message. Never sent to a peer that did not ask.
//
// # Errors
//
// Run returns why the connection ended. [Misbehaved] tells the bad peer
// (malformed bytes, protocol violations; the server discourages its address)
// from the broken connection (EOF, resets, timeouts). A bad checksum or an
// unknown command only drops that message, as in Bitcoin Core.
package peer
