package chain

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// The two mainnet blocks allowed to break BIP30 (they repeat earlier coinbase
// txids, before BIP34 made coinbases unique).
var bip30Exceptions = map[sha256d.Hash]bool{
	sha256d.MustParseHash("00000000000a4d0a398161ffc163c503763b1f4360639393e0e4c8e300e0caec"): true, // 91842
	sha256d.MustParseHash("00000000000743f190a18c5577a3c2d2a1f610ae9601ac046a38084ccb7cd721"): true, // 91880
}

// scriptCheck is one input's script to verify.
type scriptCheck struct {
	tx     *wire.Tx
	txIdx  int
	input  int
	script []byte
}

// connectBlock validates b, the block of node, against the UTXO view and
// applies it, returning its undo record. Nothing is applied to the view unless
// every rule holds (the block's own spends are tracked locally until then).
// The header and context-free rules were checked when the block was accepted.
func (c *Chain) connectBlock(b *wire.Block, node *Node, view *utxoView) (*store.Undo, error) {
	p := c.params
	height := node.Height
	parent := node.Parent

	txids := b.TxIDs(nil)
	if height < p.BIP34Height && !bip30Exceptions[node.Hash] {
		// BIP30: no transaction may overwrite an unspent one of the same id.
		for i := range b.Txs {
			for o := range b.Txs[i].Outputs {
				coin, err := view.get(wire.OutPoint{Hash: txids[i], Index: uint32(o)})
				if err != nil {
					return nil, err
				}
				if coin != nil {
					return nil, blockErr(RuleBIP30, "transaction %d (%s) overwrites an unspent output", i, txids[i])
				}
			}
		}
	}

	var flags ScriptFlags
	if height >= p.BIP66Height {
		flags |= VerifyDERSig
	}
	created := make(map[wire.OutPoint]store.Coin)
	spent := make(map[wire.OutPoint]int) // outpoint -> spending transaction
	undo := &store.Undo{Txs: make([]store.TxUndo, len(b.Txs))}
	var checks []scriptCheck
	var fees int64
	for i := range b.Txs {
		tx := &b.Txs[i]
		u := &undo.Txs[i]
		u.TxID, u.Outputs = txids[i], uint32(len(tx.Outputs))
		if i > 0 {
			var in int64
			var coinHeights []int32
			if height >= p.CSVHeight && tx.Version >= 2 {
				coinHeights = make([]int32, len(tx.Inputs))
			}
			u.Spent = make([]store.SpentCoin, len(tx.Inputs))
			for j := range tx.Inputs {
				op := tx.Inputs[j].PrevOut
				if by, ok := spent[op]; ok {
					return nil, blockErr(RuleDoubleSpend, "transaction %d spends %s, already spent by transaction %d", i, op, by)
				}
				coin, ok := created[op]
				if !ok {
					cp, err := view.get(op)
					if err != nil {
						return nil, err
					}
					if cp == nil {
						return nil, blockErr(RuleMissing, "transaction %d input %d spends %s, which does not exist or is spent", i, j, op)
					}
					coin = *cp
				}
				if coin.Coinbase && !p.Mature(coin.Height, height) {
					return nil, blockErr(RulePremature, "transaction %d spends coinbase %s of height %d at height %d (maturity %d)",
						i, op, coin.Height, height, p.CoinbaseMaturity)
				}
				if coin.Value < 0 || coin.Value > MaxMoney {
					return nil, blockErr(RuleTooLargeValue, "transaction %d input %d value %d", i, j, coin.Value)
				}
				in += coin.Value
				if in > MaxMoney {
					return nil, blockErr(RuleTotalTooLarge, "transaction %d inputs total %d", i, in)
				}
				spent[op] = i
				u.Spent[j] = store.SpentCoin{OutPoint: op, Coin: coin}
				if coinHeights != nil {
					coinHeights[j] = coin.Height
				}
				checks = append(checks, scriptCheck{tx: tx, txIdx: i, input: j, script: coin.Script})
			}
			out := int64(0)
			for k := range tx.Outputs {
				out += tx.Outputs[k].Value
			}
			if in < out {
				return nil, blockErr(RuleInBelowOut, "transaction %d spends %d, creates %d", i, in, out)
			}
			fees += in - out
			if fees > MaxMoney {
				return nil, blockErr(RuleTotalTooLarge, "fees %d", fees)
			}
			if coinHeights != nil && !SequenceLocksOK(tx, coinHeights, parent) {
				return nil, blockErr(RuleNonFinal, "transaction %d: BIP68 sequence lock not reached", i)
			}
		}
		for k := range tx.Outputs {
			out := &tx.Outputs[k]
			if unspendable(out.ScriptPubKey) {
				continue // OP_RETURN outputs never enter the UTXO set
			}
			created[wire.OutPoint{Hash: txids[i], Index: uint32(k)}] = store.Coin{
				Value: out.Value, Script: out.ScriptPubKey, Height: height, Coinbase: i == 0,
			}
		}
	}

	var cbOut int64
	for k := range b.Txs[0].Outputs {
		cbOut += b.Txs[0].Outputs[k].Value
	}
	if limit := p.Subsidy(height) + fees; cbOut > limit {
		return nil, blockErr(RuleCBAmount, "coinbase pays %d, subsidy plus fees is %d", cbOut, limit)
	}

	if err := verifyScripts(checks, flags, c.sigCache); err != nil {
		return nil, err
	}

	// Every rule holds: apply. Outputs created and spent inside the block
	// never touch the view.
	for op := range spent {
		if _, ok := created[op]; ok {
			delete(created, op)
			continue
		}
		view.spend(op)
	}
	for op, coin := range created {
		// Scripts alias the block's payload: copy them so the view does not
		// keep the whole block alive.
		coin.Script = append([]byte(nil), coin.Script...)
		view.add(op, coin)
	}
	for i := range undo.Txs {
		for j := range undo.Txs[i].Spent {
			s := &undo.Txs[i].Spent[j].Coin
			s.Script = append([]byte(nil), s.Script...)
		}
	}
	return undo, nil
}

// unspendable is Core's CScript::IsUnspendable.
func unspendable(script []byte) bool {
	return (len(script) > 0 && script[0] == OpReturn) || len(script) > MaxScriptSize
}

// disconnectBlock undoes a block on the view, transaction by transaction from
// the last: its outputs are deleted, then the coins it spent restored.
func disconnectBlock(undo *store.Undo, view *utxoView) error {
	for i := len(undo.Txs) - 1; i >= 0; i-- {
		t := &undo.Txs[i]
		for o := range t.Outputs {
			if err := view.remove(wire.OutPoint{Hash: t.TxID, Index: o}); err != nil {
				return err
			}
		}
		for j := range t.Spent {
			view.add(t.Spent[j].OutPoint, t.Spent[j].Coin)
		}
	}
	return nil
}

// parallelScriptThreshold: below this many inputs, checking them inline is
// cheaper than starting workers (a few microseconds against some 80 for
// one signature). At 16, blocks of 11 inputs were checked on one core:
// BenchmarkNodeMemory's sync went from 390 to 464 blocks/s at 4.
const parallelScriptThreshold = 4

// verifyScripts checks every input's script, on all cores for large blocks,
// and returns the error of a failing input (the first in block order when run
// inline; in parallel the workers stop at the first failure they see).
func verifyScripts(checks []scriptCheck, flags ScriptFlags, cache *SigCache) error {
	sigs := sigChecker{cache: cache} // consulted, not added to (see sigChecker)
	if len(checks) < parallelScriptThreshold || runtime.GOMAXPROCS(0) == 1 {
		for _, ch := range checks {
			if err := verifyInput(ch.tx, ch.input, ch.script, flags, sigs); err != nil {
				return asBlockErr(err, ch.txIdx)
			}
		}
		return nil
	}
	errs := make([]error, len(checks))
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for !failed.Load() {
				k := int(next.Add(1)) - 1
				if k >= len(checks) {
					return
				}
				ch := checks[k]
				if err := verifyInput(ch.tx, ch.input, ch.script, flags, sigs); err != nil {
					errs[k] = asBlockErr(err, ch.txIdx)
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
