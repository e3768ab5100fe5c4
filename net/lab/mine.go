package lab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Mining is driven by the lab through each node's own miner, over RPC
// (generatetoaddress, one block a call, paying the node's wallet), so that
// a scenario can start and stop it on any node and the lab knows which
// node mined each block.

// startMining makes node n a miner: with Config.BlockInterval the
// scheduled miner may pick it; otherwise it mines back to back until
// stopped.
func (l *Lab) startMining(ctx context.Context, n *labNode) {
	n.mu.Lock()
	if n.mining != nil {
		n.mu.Unlock()
		return
	}
	mctx, cancel := context.WithCancel(ctx)
	n.mining = cancel
	n.mu.Unlock()
	if l.cfg.BlockInterval > 0 {
		return
	}
	l.wg.Go(func() {
		for mctx.Err() == nil {
			if !n.isUp() || !n.ready(mctx) {
				select {
				case <-mctx.Done():
				case <-time.After(time.Second):
				}
				continue
			}
			l.mineOne(mctx, n, 30*time.Minute)
		}
	})
}

// ready reports whether the node has a peer and has connected every
// header it knows: a restarted node catches up before it mines again, as
// `renga node --mine` waits (net/node's Synced).
func (n *labNode) ready(ctx context.Context) bool {
	var info struct {
		Blocks  int32 `json:"blocks"`
		Headers int32 `json:"headers"`
	}
	var peers int
	if n.call(ctx, 2*time.Second, &info, "getblockchaininfo") != nil || n.call(ctx, 2*time.Second, &peers, "getconnectioncount") != nil {
		return false
	}
	return info.Blocks >= info.Headers && (peers > 0 || len(n.lab.nodes) == 1)
}

// mineOne has node n mine one block and records it.
func (l *Lab) mineOne(ctx context.Context, n *labNode, within time.Duration) {
	var hashes []string
	if err := n.call(ctx, within, &hashes, "generatetoaddress", 1, n.payee); err != nil {
		if ctx.Err() == nil {
			l.log.Debug("mining", "node", n.i+1, "err", err)
		}
		return
	}
	now := time.Now()
	for _, h := range hashes {
		var hdr struct {
			Height int32 `json:"height"`
		}
		_ = n.call(ctx, 2*time.Second, &hdr, "getblockheader", h) // the height is for people only
		rec := Record{Node: n.i + 1, Detail: fmt.Sprintf("height %d", hdr.Height)}
		rec.Time, rec.Kind, rec.Hash, rec.Height = now, LabMined, h, hdr.Height
		l.rec.add(rec)
		l.web.publish(rec)
		l.event(fmt.Sprintf("height %d: block %s mined by node %d", hdr.Height, short(h), n.i+1))
	}
}

// scheduledMiner mines one block every BlockInterval on average
// (exponentially distributed gaps, as proof of work gives), on a mining
// node drawn by threads.
func (l *Lab) scheduledMiner(ctx context.Context) {
	for {
		wait := time.Duration(rand.ExpFloat64() * float64(l.cfg.BlockInterval))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		var miners []*labNode
		total := 0
		for _, n := range l.nodes {
			n.mu.Lock()
			if n.mining != nil && n.up {
				miners = append(miners, n)
				total += n.threads
			}
			n.mu.Unlock()
		}
		if total == 0 {
			continue
		}
		pick := rand.IntN(total)
		for _, n := range miners {
			if pick -= n.threads; pick < 0 {
				l.mineOne(ctx, n, 30*time.Second)
				break
			}
		}
	}
}

// stopMining stops node n's miner (a block being mined is abandoned).
func (l *Lab) stopMining(n *labNode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mining != nil {
		n.mining()
		n.mining = nil
	}
}

func (l *Lab) stopAllMining() {
	for _, n := range l.nodes {
		l.stopMining(n)
	}
}

// short abbreviates a hash for the view.
func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
