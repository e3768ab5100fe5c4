package chain

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// UTXOStats summarizes the committed UTXO set, as bitcoind's gettxoutsetinfo
// does: equal digests mean equal sets.
type UTXOStats struct {
	Height int32
	Tip    sha256d.Hash
	Coins  int
	Total  int64 // satoshis
	// Digest is SHA-256d over every coin in (txid, index) order, each as
	// txid | index uint32 LE | the store's coin record.
	Digest sha256d.Hash
}

// UTXOStats reads the whole UTXO set.
func (c *Chain) UTXOStats() (UTXOStats, error) {
	c.procMu.Lock() // no commit in between: the tip and the set agree
	defer c.procMu.Unlock()
	tip := c.Tip()
	st := UTXOStats{Height: tip.Height, Tip: tip.Hash}
	h := sha256.New()
	var buf []byte
	err := c.db.ForEachCoin(func(op wire.OutPoint, coin store.Coin) error {
		buf = append(buf[:0], op.Hash[:]...)
		buf = binary.LittleEndian.AppendUint32(buf, op.Index)
		buf, _ = coin.AppendBinary(buf)
		h.Write(buf)
		st.Coins++
		st.Total += coin.Value
		return nil
	})
	if err != nil {
		return st, err
	}
	st.Digest = sha256d.Hash(sha256.Sum256(h.Sum(nil)))
	return st, nil
}

// ReindexChainstate throws away the UTXO set, undo data and height index and
// rebuilds them by connecting the stored blocks of the best chain from genesis
// (bitcoind's -reindex-chainstate). Block bodies and the index are kept.
func (c *Chain) ReindexChainstate(ctx context.Context) error {
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.broken != nil {
		return c.broken
	}
	genesis := c.NodeAt(0)
	if err := c.db.ResetChainState(store.Tip{Hash: genesis.Hash, Height: 0}); err != nil {
		return fmt.Errorf("chain: reindex: %w", err)
	}
	c.mu.Lock()
	c.view.discard()
	c.setActive(genesis)
	clear(c.candidates)
	clear(c.waiting)
	clear(c.linked)
	c.linked[genesis] = true
	nodes := make([]*Node, 0, len(c.index))
	for _, n := range c.index {
		n.Status &^= StatusValid // validated again as they are connected
		nodes = append(nodes, n)
	}
	genesis.Status |= StatusValid
	sortByHeight(nodes)
	for _, n := range nodes {
		c.link(n)
	}
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.activate(commitEvery); err != nil {
		return err
	}
	return c.commit()
}
