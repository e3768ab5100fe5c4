package peer

import (
	"errors"

	"github.com/renga-p2p/renga/wire"
)

// Why a connection ended.
var (
	// ErrProtocol: the peer broke the protocol (a message out of order, a
	// second version, a cmpr it was not offered).
	ErrProtocol = errors.New("peer: protocol violation")
	// ErrSelf: we connected to ourselves.
	ErrSelf = errors.New("peer: connected to self")
	// ErrObsolete: the peer's protocol version is too old.
	ErrObsolete = errors.New("peer: obsolete protocol version")
	// ErrHandshakeTimeout: the handshake did not finish in time.
	ErrHandshakeTimeout = errors.New("peer: handshake timed out")
	// ErrPingTimeout: no pong in time.
	ErrPingTimeout = errors.New("peer: ping timed out")
	// ErrSlowPeer: the send queue filled up; the peer cannot keep up.
	ErrSlowPeer = errors.New("peer: send queue full")
	// ErrClosed: closed locally with no other cause.
	ErrClosed = errors.New("peer: closed")
)

// Misbehaved reports whether a connection ended through the peer's fault
// (malformed bytes or a protocol violation), as opposed to the connection
// breaking or a local decision. The server discourages such addresses. A
// connection to ourselves is not misbehaviour (as in Bitcoin Core): our own
// address came back to us, and discouraging it would also discourage every
// other node sharing the IP, as all nodes of a devnet on loopback do.
func Misbehaved(err error) bool {
	return errors.Is(err, wire.ErrMalformed) || errors.Is(err, ErrProtocol)
}
