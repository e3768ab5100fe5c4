package mempool

import (
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// orphans holds transactions whose inputs are unknown, bounded in number
// (oldest dropped first) and in size per transaction.
type orphans struct {
	max   int
	txs   map[sha256d.Hash]*wire.Tx
	order []sha256d.Hash
}

// maxOrphanTxSize: larger orphans are not kept (a cheap way to fill memory).
const maxOrphanTxSize = 100_000

func newOrphans(max int) *orphans {
	return &orphans{max: max, txs: map[sha256d.Hash]*wire.Tx{}}
}

func (o *orphans) add(tx *wire.Tx) {
	id := tx.TxID()
	if _, ok := o.txs[id]; ok || tx.SerializeSize() > maxOrphanTxSize {
		return
	}
	for len(o.order) >= o.max {
		o.remove(o.order[0])
	}
	o.txs[id] = tx
	o.order = append(o.order, id)
}

func (o *orphans) remove(id sha256d.Hash) {
	if _, ok := o.txs[id]; !ok {
		return
	}
	delete(o.txs, id)
	for i, x := range o.order {
		if x == id {
			o.order = append(o.order[:i], o.order[i+1:]...)
			break
		}
	}
}

// spending returns the orphans with an input spending an output of txid.
func (o *orphans) spending(txid sha256d.Hash) []*wire.Tx {
	var out []*wire.Tx
	for _, id := range o.order {
		tx := o.txs[id]
		for i := range tx.Inputs {
			if tx.Inputs[i].PrevOut.Hash == txid {
				out = append(out, tx)
				break
			}
		}
	}
	return out
}

func (o *orphans) len() int { return len(o.txs) }
