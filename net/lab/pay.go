package lab

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/wallet"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/api"
	"github.com/renga-p2p/renga/wire"
)

// feeRate is what the lab's payments pay per 1,000 bytes, as `renga
// wallet send` does.
const feeRate = 2000

// ErrNoCoins: no node has a spendable coin (yet: coinbases mature after
// chain.Params.CoinbaseMaturity blocks).
var ErrNoCoins = errors.New("lab: no node has a spendable coin yet")

// pay sends one payment from node from to node to (-1: a random node with
// coins; a random other node) and records it. Each node's coins are what
// the lab last read from its UTXO set plus the change of its own
// payments, so that payments can follow each other faster than blocks.
func (l *Lab) pay(ctx context.Context, from, to int) error {
	var payers []*labNode
	if from >= 0 {
		payers = []*labNode{l.nodes[from]}
	} else {
		for _, i := range rand.Perm(len(l.nodes)) {
			payers = append(payers, l.nodes[i])
		}
	}
	for _, p := range payers {
		if !p.isUp() || len(l.nodes) < 2 {
			continue
		}
		coins, err := p.spendable(ctx)
		if err != nil || len(coins) == 0 {
			continue
		}
		payee := to
		for payee < 0 || payee == p.i {
			payee = rand.IntN(len(l.nodes))
		}
		q := l.nodes[payee]
		q.mu.Lock()
		script := q.script
		q.mu.Unlock()
		amount := int64(1+rand.IntN(100)) * chain.Coin / 1000
		p.mu.Lock()
		w := p.wallet
		p.mu.Unlock()
		pm, err := w.Pay(coins, script, amount, feeRate)
		if err != nil {
			p.forgetCoins()
			continue
		}
		raw, err := pm.Tx.AppendBinary(nil)
		if err != nil {
			return err
		}
		var txid string
		if err := p.call(ctx, 10*time.Second, &txid, "sendrawtransaction", hex.EncodeToString(raw)); err != nil {
			p.forgetCoins()
			l.event(fmt.Sprintf("node %d could not pay node %d: %v", p.i+1, q.i+1, err))
			return err
		}
		p.spent(pm, txid)
		rec := Record{Node: p.i + 1, Detail: fmt.Sprintf("to node %d, %s", q.i+1, chain.Amount(amount))}
		rec.Time, rec.Kind, rec.Hash = time.Now(), LabPaid, txid
		l.rec.add(rec)
		l.web.publish(rec)
		l.event(fmt.Sprintf("node %d paid node %d %s coins: tx %s", p.i+1, q.i+1, chain.Amount(amount), short(txid)))
		return nil
	}
	return ErrNoCoins
}

// spendable returns the node's coins, reading its UTXO set when the lab
// knows of none.
func (n *labNode) spendable(ctx context.Context) ([]wallet.Coin, error) {
	n.mu.Lock()
	coins, w := n.coins, n.wallet
	n.mu.Unlock()
	if len(coins) > 0 || w == nil {
		return coins, nil
	}
	var descs []string
	for _, k := range w.Keys() {
		descs = append(descs, "addr("+k.Address.String()+")")
	}
	var scan api.ScanResult
	if err := n.call(ctx, 30*time.Second, &scan, "scantxoutset", "start", descs); err != nil {
		return nil, err
	}
	var outs []map[string]any
	var all []wallet.Coin
	for _, u := range scan.Unspents {
		if u.Coinbase && !n.lab.cfg.Params.Mature(u.Height, scan.Height+1) {
			continue
		}
		h, err := sha256d.ParseHash(u.TxID)
		if err != nil {
			return nil, fmt.Errorf("lab: node %d sent txid %q: %w", n.i+1, u.TxID, err)
		}
		script, err := hex.DecodeString(u.Script)
		if err != nil {
			return nil, fmt.Errorf("lab: node %d sent script %q: %w", n.i+1, u.Script, err)
		}
		all = append(all, wallet.Coin{OutPoint: wire.OutPoint{Hash: h, Index: u.Vout}, Value: int64(u.Amount), Script: script})
		outs = append(outs, map[string]any{"txid": u.TxID, "vout": u.Vout})
	}
	if len(all) == 0 {
		return nil, nil
	}
	// Leave out what the mempool already spends.
	var spending []struct {
		Spending string `json:"spendingtxid"`
	}
	if err := n.call(ctx, 10*time.Second, &spending, "gettxspendingprevout", outs); err != nil {
		return nil, err
	}
	if len(spending) != len(all) {
		return nil, fmt.Errorf("lab: node %d: gettxspendingprevout answered %d of %d", n.i+1, len(spending), len(all))
	}
	for i := range spending {
		if spending[i].Spending == "" {
			coins = append(coins, all[i])
		}
	}
	n.mu.Lock()
	n.coins = coins
	n.mu.Unlock()
	return coins, nil
}

// spent takes a payment's inputs out of the node's coins and adds its
// change.
func (n *labNode) spent(p *wallet.Payment, txid string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	used := map[wire.OutPoint]bool{}
	for _, c := range p.Spent {
		used[c.OutPoint] = true
	}
	var left []wallet.Coin
	for _, c := range n.coins {
		if !used[c.OutPoint] {
			left = append(left, c)
		}
	}
	if p.Change > 0 {
		if h, err := sha256d.ParseHash(txid); err == nil {
			left = append(left, wallet.Coin{OutPoint: wire.OutPoint{Hash: h, Index: 1}, Value: p.Change, Script: p.Tx.Outputs[1].ScriptPubKey})
		}
	}
	n.coins = left
}

func (n *labNode) forgetCoins() {
	n.mu.Lock()
	n.coins = nil
	n.mu.Unlock()
}

// payEvery pays between random nodes every d until ctx ends.
func (l *Lab) payEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = l.pay(ctx, -1, -1) // no coins yet: the next tick tries again
		}
	}
}
