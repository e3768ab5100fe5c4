package chain

import (
	"errors"
	"fmt"

	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/wire"
)

// utxoView is the UTXO set as blocks connected since the last commit left it:
// changes are kept in memory and read through to the store, and written out
// in the commit's batch. Coins created and spent between two commits never
// reach the disk, which is most of them while importing.
type utxoView struct {
	db    *store.DB
	coins map[wire.OutPoint]*viewCoin
}

type viewCoin struct {
	coin   store.Coin
	spent  bool
	fresh  bool // not on disk: spending it needs no delete
	dirty  bool // differs from the disk
	cached bool // read from disk and unchanged (kept as a read cache)
}

func newUTXOView(db *store.DB) *utxoView {
	return &utxoView{db: db, coins: make(map[wire.OutPoint]*viewCoin)}
}

// get returns the unspent coin at op, or nil.
func (v *utxoView) get(op wire.OutPoint) (*store.Coin, error) {
	if c, ok := v.coins[op]; ok {
		if c.spent {
			return nil, nil
		}
		return &c.coin, nil
	}
	coin, err := v.db.Coin(op)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("chain: read coin %s: %w", op, err)
	}
	c := &viewCoin{coin: coin, cached: true}
	v.coins[op] = c
	return &c.coin, nil
}

// spend marks op spent; the coin must exist.
func (v *utxoView) spend(op wire.OutPoint) {
	c := v.coins[op]
	c.spent, c.cached = true, false
	c.dirty = !c.fresh
}

// add creates a coin.
func (v *utxoView) add(op wire.OutPoint, coin store.Coin) {
	if c, ok := v.coins[op]; ok && c.spent && !c.fresh {
		// Re-creating a coin deleted in this batch (a reorganization): the
		// disk still has the old record, so this is a plain overwrite.
		*c = viewCoin{coin: coin, dirty: true}
		return
	}
	v.coins[op] = &viewCoin{coin: coin, fresh: true, dirty: true}
}

// remove deletes a coin that may or may not exist (disconnecting a block).
func (v *utxoView) remove(op wire.OutPoint) error {
	if c, ok := v.coins[op]; ok {
		if !c.spent {
			c.spent, c.cached = true, false
			c.dirty = !c.fresh
		}
		return nil
	}
	v.coins[op] = &viewCoin{spent: true, dirty: true} // delete on disk, harmless if absent
	return nil
}

// maxCachedCoins bounds the coins kept in memory between commits as a read
// cache (about 100 bytes each).
const maxCachedCoins = 1 << 20

// flush writes the changes to b. Unspent coins stay in memory as a read cache
// (now matching the disk), unless there are too many.
func (v *utxoView) flush(b *store.Batch) {
	for op, c := range v.coins {
		switch {
		case c.spent && c.dirty:
			b.DeleteCoin(op)
		case !c.spent && c.dirty:
			b.PutCoin(op, &c.coin)
		}
		if c.spent {
			delete(v.coins, op)
			continue
		}
		*c = viewCoin{coin: c.coin, cached: true}
	}
	if len(v.coins) > maxCachedCoins {
		clear(v.coins)
	}
}

// discard forgets every change since the last flush.
func (v *utxoView) discard() { clear(v.coins) }
