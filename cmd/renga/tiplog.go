package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/renga-p2p/renga/chain"
)

// tipLogger logs the changes of the active chain: each block connected or
// disconnected, like bitcoind's UpdateTip lines, except while the node
// catches up, when a line every few seconds says how far it got.
type tipLogger struct {
	log *slog.Logger

	mu          sync.Mutex
	windowStart time.Time // the current one-second window
	inWindow    int       // blocks connected in it
	quiet       int       // blocks connected since the last line
	lastLine    time.Time
}

// Above burstBlocks a second, blocks are summed up every summaryEvery.
const (
	burstBlocks  = 20
	summaryEvery = 2 * time.Second
)

func newTipLogger(log *slog.Logger) *tipLogger { return &tipLogger{log: log.With("part", "chain")} }

func (l *tipLogger) event(ev chain.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := ev.Node
	if ev.Kind == chain.BlockDisconnected {
		l.log.Info("block disconnected", "height", n.Height, "hash", n.Hash)
		return
	}
	now := time.Now()
	if now.Sub(l.windowStart) >= time.Second {
		l.windowStart, l.inWindow = now, 0
	}
	l.inWindow++
	if l.inWindow <= burstBlocks {
		if l.quiet > 0 {
			l.log.Info("caught up", "blocks", l.quiet, "height", n.Height-1)
			l.quiet = 0
		}
		l.log.Info("new tip", "height", n.Height, "hash", n.Hash, "txs", len(ev.Block.Txs),
			"time", time.Unix(int64(n.Header.Time), 0).UTC().Format(time.RFC3339))
		l.lastLine = now
		return
	}
	l.quiet++
	if now.Sub(l.lastLine) >= summaryEvery {
		l.log.Info("catching up", "blocks", l.quiet, "height", n.Height, "hash", n.Hash)
		l.quiet, l.lastLine = 0, now
	}
}
