package chain

import (
	"github.com/renga-p2p/renga/wire"
)

// Lock-time and sequence constants (BIP65, BIP68).
const (
	// LockTimeThreshold: lock times below are heights, above are Unix times.
	LockTimeThreshold = 500_000_000
	// SequenceFinal disables lock time for an input.
	SequenceFinal = 0xffffffff
	// BIP68: bit 31 disables the relative lock, bit 22 makes it a time, the
	// low 16 bits are the value (times in units of 512 seconds).
	sequenceDisable     = 1 << 31
	sequenceTypeTime    = 1 << 22
	sequenceMask        = 0x0000ffff
	sequenceGranularity = 9
)

// CheckTransaction applies the rules a transaction must meet whatever the
// chain (Core's CheckTransaction): inputs and outputs present, a size that can
// fit a block, output values in range, no input spent twice, a coinbase script
// of 2 to 100 bytes and no null outpoint in a spend. Renga also refuses
// witness data (see RuleWitness).
func CheckTransaction(tx *wire.Tx) error {
	if len(tx.Inputs) == 0 {
		return txErr(RuleNoInputs, "")
	}
	if len(tx.Outputs) == 0 {
		return txErr(RuleNoOutputs, "")
	}
	if tx.BaseSize()*WitnessScale > MaxBlockWeight {
		return txErr(RuleOversize, "%d bytes", tx.BaseSize())
	}
	if tx.HasWitness() {
		// Only P2PK and P2PKH can be spent, and their spends carry no witness
		// (Bitcoin Core's "unexpected-witness" for non-witness programs).
		return txErr(RuleWitness, "")
	}
	var total int64
	for i := range tx.Outputs {
		v := tx.Outputs[i].Value
		if v < 0 {
			return txErr(RuleNegativeValue, "output %d: %d", i, v)
		}
		if v > MaxMoney {
			return txErr(RuleTooLargeValue, "output %d: %d", i, v)
		}
		total += v
		if total > MaxMoney {
			return txErr(RuleTotalTooLarge, "%d", total)
		}
	}
	if len(tx.Inputs) > 1 {
		seen := make(map[wire.OutPoint]struct{}, len(tx.Inputs))
		for i := range tx.Inputs {
			op := tx.Inputs[i].PrevOut
			if _, dup := seen[op]; dup {
				return txErr(RuleDuplicateInput, "%s", op)
			}
			seen[op] = struct{}{}
		}
	}
	if tx.IsCoinbase() {
		if n := len(tx.Inputs[0].ScriptSig); n < 2 || n > 100 {
			return txErr(RuleCBLength, "coinbase script of %d bytes", n)
		}
	} else {
		for i := range tx.Inputs {
			if tx.Inputs[i].PrevOut == (wire.OutPoint{Index: 0xffffffff}) {
				return txErr(RuleNullPrevout, "input %d", i)
			}
		}
	}
	return nil
}

// IsFinal reports whether tx's lock time allows it in a block at height whose
// lock-time clock reads lockTimeCutoff (the block time, or from CSV the
// previous block's median time past).
func IsFinal(tx *wire.Tx, height int32, lockTimeCutoff int64) bool {
	if tx.LockTime == 0 {
		return true
	}
	limit := int64(height)
	if tx.LockTime >= LockTimeThreshold {
		limit = lockTimeCutoff
	}
	if int64(tx.LockTime) < limit {
		return true
	}
	for i := range tx.Inputs {
		if tx.Inputs[i].Sequence != SequenceFinal {
			return false
		}
	}
	return true
}

// SequenceLocksOK evaluates BIP68 relative lock times for a transaction in the
// block after parent, given the height of the coin each input spends (Core's
// CalculateSequenceLocks and EvaluateSequenceLocks).
func SequenceLocksOK(tx *wire.Tx, coinHeights []int32, parent *Node) bool {
	if tx.Version < 2 {
		return true
	}
	height := parent.Height + 1
	minHeight, minTime := int32(-1), int64(-1)
	for i := range tx.Inputs {
		seq := tx.Inputs[i].Sequence
		if seq&sequenceDisable != 0 {
			continue
		}
		coinHeight := coinHeights[i]
		if seq&sequenceTypeTime != 0 {
			// Measured from the median time past of the block before the coin's.
			ref := parent.Ancestor(max(coinHeight-1, 0))
			if ref == nil { // the coin is in this very block
				ref = parent
			}
			minTime = max(minTime, ref.MedianTimePast()+int64(seq&sequenceMask)<<sequenceGranularity-1)
		} else {
			minHeight = max(minHeight, coinHeight+int32(seq&sequenceMask)-1)
		}
	}
	return minHeight < height && minTime < parent.MedianTimePast()
}

// Subsidy is the new money a block at height may create.
func (p *Params) Subsidy(height int32) int64 {
	halvings := height / p.SubsidyHalvingInterval
	if halvings >= 64 {
		return 0
	}
	return 50 * Coin >> halvings
}
