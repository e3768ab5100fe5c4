package p2p

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// Stats counts what the server has done.
type Stats struct {
	BlocksReceived, BlocksRequested, BlocksServed uint64
	// BlocksIgnored are unrequested blocks with less work than the tip,
	// dropped unstored.
	BlocksIgnored          uint64
	TxsReceived, TxsServed uint64
	Stalls                 uint64
	Misbehaved             uint64 // connections ended for misbehaving (discouraged unless local or manual)
	Dials                  uint64 // outbound connection attempts
	// Disconnects counts ended connections by reason (see DisconnectReason).
	Disconnects map[string]uint64
	// Compact counts compact blocks (BIP152) and how they were rebuilt.
	Compact CompactStats
}

// counters are the server's statistics, updated without its lock.
type counters struct {
	blocksReceived, blocksRequested, blocksServed atomic.Uint64
	blocksIgnored                                 atomic.Uint64
	txsReceived, txsServed                        atomic.Uint64
	misbehaved, dials                             atomic.Uint64
	compact                                       compactCounters

	mu          sync.Mutex
	disconnects map[string]uint64
}

func (c *counters) disconnected(reason string) {
	c.mu.Lock()
	if c.disconnects == nil {
		c.disconnects = map[string]uint64{}
	}
	c.disconnects[reason]++
	c.mu.Unlock()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	c := &s.counters
	st := Stats{
		BlocksReceived: c.blocksReceived.Load(), BlocksRequested: c.blocksRequested.Load(),
		BlocksServed: c.blocksServed.Load(), BlocksIgnored: c.blocksIgnored.Load(), TxsReceived: c.txsReceived.Load(), TxsServed: c.txsServed.Load(),
		Stalls: s.sched.stallCount(), Misbehaved: c.misbehaved.Load(), Dials: c.dials.Load(),
		Disconnects: map[string]uint64{}, Compact: c.compact.snapshot(),
	}
	c.mu.Lock()
	for k, v := range c.disconnects {
		st.Disconnects[k] = v
	}
	c.mu.Unlock()
	return st
}

// Why connections end, as the label of renga_disconnects_total and in the
// disconnect log line. DisconnectReason maps a cause to one of these.
const (
	ReasonShutdown    = "shutdown"          // the node is stopping
	ReasonRequested   = "requested"         // disconnectnode, or a feeler's job done
	ReasonClosed      = "closed-by-peer"    // EOF or reset
	ReasonMisbehaved  = "misbehaved"        // malformed bytes, protocol violations, invalid data
	ReasonSelf        = "self"              // we connected to ourselves
	ReasonObsolete    = "obsolete"          // protocol too old
	ReasonHandshake   = "handshake-timeout" // no handshake in time
	ReasonPingTimeout = "ping-timeout"      // nothing read, or no pong, for 20 minutes
	ReasonSlow        = "slow"              // wrote nothing for the write timeout, or a queue past its hard limit
	ReasonDuplicate   = "duplicate"         // a second connection to the same node
	ReasonEvicted     = "evicted"           // its inbound slot went to a newcomer
	ReasonPolicy      = "policy"            // asked for what it may not (mempool without the permission)
	ReasonFeeler      = "feeler"            // a feeler connection's test done
	ReasonError       = "error"             // our own failure (disk), or a socket error
)

// errDisconnectRequested ends a connection closed on request.
var errDisconnectRequested = errors.New("p2p: disconnected by request")

// DisconnectReason classifies why a connection ended.
func DisconnectReason(err error) string {
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return ReasonShutdown
	case errors.Is(err, errDisconnectRequested), errors.Is(err, errBanned):
		return ReasonRequested
	case errors.Is(err, ErrDuplicateConnection):
		return ReasonDuplicate
	case errors.Is(err, errEvicted):
		return ReasonEvicted
	case errors.Is(err, errMempoolNotAllowed):
		return ReasonPolicy
	case errors.Is(err, errFeelerDone):
		return ReasonFeeler
	case peer.Misbehaved(err):
		return ReasonMisbehaved
	case errors.Is(err, peer.ErrSelf):
		return ReasonSelf
	case errors.Is(err, peer.ErrObsolete):
		return ReasonObsolete
	case errors.Is(err, peer.ErrHandshakeTimeout):
		return ReasonHandshake
	case errors.Is(err, peer.ErrPingTimeout):
		return ReasonPingTimeout
	case errors.Is(err, peer.ErrSlowPeer), errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonSlow
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, wire.ErrMalformed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return ReasonClosed
	case errors.As(err, &ne) && ne.Timeout():
		return ReasonSlow
	case errors.Is(err, peer.ErrClosed):
		return ReasonShutdown
	}
	return ReasonError
}
