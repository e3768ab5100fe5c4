package mempool

import (
	"fmt"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/wire"
)

// DustLimit returns the smallest value worth creating in an output with this
// script: below it, spending the output costs more (at 3 satoshis per byte,
// Core's dust relay fee) than it is worth.
func DustLimit(script []byte) int64 {
	if class, _ := chain.Classify(script); class == chain.NullData {
		return 0
	}
	// Output size plus the size of the input that will spend it (148 bytes
	// for P2PKH with an uncompressed key, as Core assumes).
	size := 8 + wire.VarintSize(uint64(len(script))) + len(script) + 148
	return int64(size) * 3
}

// standard applies the relay policy's shape rules (not fees, not scripts'
// signatures).
func standard(tx *wire.Tx, size int) error {
	if tx.Version < 1 || tx.Version > 2 {
		return fmt.Errorf("%w: version %d", ErrNonStandard, tx.Version)
	}
	if size > MaxStandardTxSize {
		return fmt.Errorf("%w: %d bytes", ErrNonStandard, size)
	}
	for i := range tx.Inputs {
		if n := len(tx.Inputs[i].ScriptSig); n > MaxStandardScriptSigSize {
			return fmt.Errorf("%w: input %d scriptSig of %d bytes", ErrNonStandard, i, n)
		}
	}
	dataOutputs := 0
	for i := range tx.Outputs {
		out := &tx.Outputs[i]
		class, _ := chain.Classify(out.ScriptPubKey)
		switch class {
		case chain.PayToPubKey, chain.PayToPubKeyHash:
		case chain.NullData:
			dataOutputs++
			if len(out.ScriptPubKey) > MaxDataCarrierBytes+3 {
				return fmt.Errorf("%w: OP_RETURN output %d of %d bytes", ErrNonStandard, i, len(out.ScriptPubKey))
			}
		default:
			return fmt.Errorf("%w: output %d has a non-standard script", ErrNonStandard, i)
		}
		if out.Value < DustLimit(out.ScriptPubKey) {
			return fmt.Errorf("%w: output %d of %d satoshis is dust (limit %d)", ErrNonStandard, i, out.Value, DustLimit(out.ScriptPubKey))
		}
	}
	if dataOutputs > 1 {
		return fmt.Errorf("%w: %d OP_RETURN outputs", ErrNonStandard, dataOutputs)
	}
	return nil
}
