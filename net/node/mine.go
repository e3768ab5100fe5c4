package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/miner"
	"github.com/renga-p2p/renga/net/p2p"
)

// mineWhenSynced starts the miner once the node has caught up with its peers
// (or has found none within SyncGrace), so that a node joining a network does
// not mine on an old tip, and mines until ctx ends.
func mineWhenSynced(ctx context.Context, srv *p2p.Server, c *chain.Chain, m *miner.Miner, log *slog.Logger) error {
	select {
	case <-srv.Started():
	case <-ctx.Done():
		return nil
	}
	begin := time.Now()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for !Synced(c.Tip(), c.BestHeader(), srv.Peers(), time.Since(begin)) {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	log.Info("mining", "kernel", m.Kernel(), "threads", m.Threads(), "height", c.Tip().Height)
	if err := m.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// SyncGrace is how long a miner waits for peers before mining alone, and
// SyncPatience how long it waits for peers that never let it catch up (one
// on a branch with more height but less work, say).
const (
	SyncGrace    = 3 * time.Second
	SyncPatience = 2 * time.Minute
)

// Synced is the node's rule for "synced enough to mine", after waiting
// this long: every header it knows is connected (tip is the best header),
// and every peer has shown no more than the node has; with no peer, once
// SyncGrace has passed; and in any case after SyncPatience.
func Synced(tip, bestHeader *chain.Node, peers []p2p.PeerInfo, waited time.Duration) bool {
	if waited >= SyncPatience {
		return true
	}
	if bestHeader != tip {
		return false
	}
	if len(peers) == 0 {
		return waited >= SyncGrace
	}
	for _, p := range peers {
		if max(p.StartHeight, p.SyncedTo) > tip.Height {
			return false
		}
	}
	return true
}

// minerAPI adapts the miner to what the RPC server needs.
type minerAPI struct{ m *miner.Miner }

func (a minerAPI) Generate(ctx context.Context, n int, script []byte) ([]sha256d.Hash, error) {
	hashes, err := a.m.Generate(ctx, n, script)
	if errors.Is(err, miner.ErrBusy) {
		return hashes, fmt.Errorf("the node is mining (--mine): generatetoaddress needs its miner idle")
	}
	return hashes, err
}

func (a minerAPI) Hashrate() float64 { return a.m.Stats().Rate }
