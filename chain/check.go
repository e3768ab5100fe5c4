package chain

import (
	"bytes"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// CheckBlock applies the rules a block must meet whatever its place in the
// chain (Core's CheckBlock): proof of work, the merkle root (and the
// CVE-2012-2459 mutation), size, one coinbase first and only first, every
// transaction's own rules, and the signature operation limit.
//
// A merkle mismatch or mutation means these transactions are not the block's,
// not that the header is bad: the caller must not mark the header invalid.
func CheckBlock(b *wire.Block, p *Params) error {
	hash := b.Hash()
	if err := CheckProofOfWork(&hash, b.Header.Bits, &p.PowLimit); err != nil {
		return err
	}
	if len(b.Txs) == 0 || len(b.Txs)*WitnessScale > MaxBlockWeight {
		return blockErr(RuleBadLength, "%d transactions", len(b.Txs))
	}
	root, mutated := b.MerkleRoot()
	if root != b.Header.MerkleRoot {
		return blockErr(RuleBadMerkle, "computed %s, header has %s", root, b.Header.MerkleRoot)
	}
	if mutated {
		return blockErr(RuleMutated, "duplicate transactions make the merkle tree ambiguous")
	}
	// Renga blocks carry no witness, so the weight is four times the size.
	size := wire.HeaderSize + wire.VarintSize(uint64(len(b.Txs)))
	for i := range b.Txs {
		size += b.Txs[i].BaseSize()
	}
	if size*WitnessScale > MaxBlockWeight {
		return blockErr(RuleBadLength, "%d bytes, weight %d over %d", size, size*WitnessScale, MaxBlockWeight)
	}
	if !b.Txs[0].IsCoinbase() {
		return blockErr(RuleBadCoinbase, "first transaction is not a coinbase")
	}
	sigOps := 0
	for i := range b.Txs {
		tx := &b.Txs[i]
		if i > 0 && tx.IsCoinbase() {
			return blockErr(RuleMultiCB, "transaction %d is a second coinbase", i)
		}
		if err := CheckTransaction(tx); err != nil {
			return asBlockErr(err, i)
		}
		for j := range tx.Inputs {
			sigOps += LegacySigOps(tx.Inputs[j].ScriptSig)
		}
		for j := range tx.Outputs {
			sigOps += LegacySigOps(tx.Outputs[j].ScriptPubKey)
		}
	}
	if sigOps*WitnessScale > MaxBlockSigOpCost {
		return blockErr(RuleSigops, "%d signature operations (cost %d, limit %d)", sigOps, sigOps*WitnessScale, MaxBlockSigOpCost)
	}
	return nil
}

// checkHeader applies the header rules that depend on the parent: the bits
// the difficulty rule requires, a time after the median of the last eleven
// blocks and not more than two hours ahead of now, and the block version each
// active soft fork demands.
func (p *Params) checkHeader(h *wire.Header, parent *Node, now time.Time) error {
	if want := p.NextBits(parent); h.Bits != want {
		return blockErr(RuleBadBits, "bits %08x, want %08x", h.Bits, want)
	}
	if mtp := parent.MedianTimePast(); int64(h.Time) <= mtp {
		return blockErr(RuleTimeTooOld, "time %d not after median time past %d", h.Time, mtp)
	}
	if limit := now.Add(MaxFutureBlockTime).Unix(); int64(h.Time) > limit {
		return blockErr(RuleTimeTooNew, "time %d more than 2 hours ahead of %d", h.Time, now.Unix())
	}
	height := parent.Height + 1
	if (h.Version < 2 && height >= p.BIP34Height) || (h.Version < 3 && height >= p.BIP66Height) ||
		(h.Version < 4 && height >= p.BIP65Height) {
		return blockErr(RuleBadVersion, "version %d at height %d", h.Version, height)
	}
	return nil
}

// lockTimeCutoff is the clock lock times are compared with: the block's own
// time before CSV (BIP113), the parent's median time past after.
func (p *Params) lockTimeCutoff(h *wire.Header, parent *Node) int64 {
	if parent.Height+1 >= p.CSVHeight {
		return parent.MedianTimePast()
	}
	return int64(h.Time)
}

// checkBlockContext applies the block rules that depend on the parent but not
// on the UTXO set: every transaction final, and from BIP34 the height at the
// start of the coinbase script.
func (p *Params) checkBlockContext(b *wire.Block, parent *Node) error {
	height := parent.Height + 1
	cutoff := p.lockTimeCutoff(&b.Header, parent)
	for i := range b.Txs {
		if !IsFinal(&b.Txs[i], height, cutoff) {
			return blockErr(RuleNonFinal, "transaction %d: lock time %d", i, b.Txs[i].LockTime)
		}
	}
	if height >= p.BIP34Height {
		want := PushInt(int64(height))
		if !bytes.HasPrefix(b.Txs[0].Inputs[0].ScriptSig, want) {
			return blockErr(RuleCBHeight, "coinbase script does not start with height %d (%x)", height, want)
		}
	}
	return nil
}
