package node

import (
	"log/slog"
	"sync"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
)

// burst decides which of a stream of events get a log line of their own:
// up to burstLimit a second do; beyond that they are counted and summed up
// every summaryEvery, so that a node catching up on thousands of blocks (or
// transactions) writes a line every few seconds rather than thousands.
type burst struct {
	windowStart time.Time // the current one-second window
	inWindow    int       // events in it
	quiet       int       // events without a line since the last line
	lastLine    time.Time
}

const (
	burstLimit   = 20
	summaryEvery = 2 * time.Second
)

// next records an event at now. own says whether it gets a line of its own;
// summed, when not zero, is how many events before it (or, when own is false,
// up to it) had none and are due to be summed up now.
func (b *burst) next(now time.Time) (own bool, summed int) {
	if now.Sub(b.windowStart) >= time.Second {
		b.windowStart, b.inWindow = now, 0
	}
	b.inWindow++
	if b.inWindow <= burstLimit {
		summed, b.quiet, b.lastLine = b.quiet, 0, now
		return true, summed
	}
	b.quiet++
	if now.Sub(b.lastLine) >= summaryEvery {
		summed, b.quiet, b.lastLine = b.quiet, 0, now
		return false, summed
	}
	return false, 0
}

// eventLogger logs what changes the node's state: each block connected or
// disconnected (like bitcoind's UpdateTip lines) and each transaction the
// mempool accepts, in bursts summed up.
type eventLogger struct {
	chainLog, poolLog *slog.Logger

	mu          sync.Mutex
	blocks, txs burst
}

func newEventLogger(log *slog.Logger) *eventLogger {
	return &eventLogger{chainLog: log.With("part", "chain"), poolLog: log.With("part", "mempool")}
}

func (l *eventLogger) block(ev chain.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := ev.Node
	if ev.Kind == chain.BlockDisconnected {
		l.chainLog.Info("block disconnected", "height", n.Height, "hash", n.Hash)
		return
	}
	own, summed := l.blocks.next(time.Now())
	switch {
	case own && summed > 0:
		l.chainLog.Info("caught up", "blocks", summed, "height", n.Height-1)
	case !own && summed > 0:
		l.chainLog.Info("catching up", "blocks", summed, "height", n.Height, "hash", n.Hash)
	}
	if own {
		l.chainLog.Info("new tip", "height", n.Height, "hash", n.Hash, "txs", len(ev.Block.Txs),
			"block_time", time.Unix(int64(n.Header.Time), 0).UTC().Format(time.RFC3339))
	}
}

func (l *eventLogger) tx(e *mempool.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	own, summed := l.txs.next(time.Now())
	if summed > 0 {
		l.poolLog.Info("transactions accepted", "count", summed)
	}
	if own {
		l.poolLog.Info("transaction accepted", "txid", e.TxID, "size", e.Size, "fee", e.Fee)
	}
}
