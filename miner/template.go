package miner

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Version is the version of every block the miner makes: BIP9's top bits
// (001 in bits 29–31) with no deployment signalled. It is above 4, so it
// meets BIP34, BIP66 and BIP65 at every height.
const Version int32 = 0x20000000

// ExtranonceSize is the length of the extranonce pushed in the coinbase
// script, after the BIP34 height.
const ExtranonceSize = 8

// MaxTagSize bounds [Config.Tag]: with the height (at most 5 bytes) and the
// extranonce push (9 bytes) the coinbase script stays well under consensus's
// 100 bytes.
const MaxTagSize = 64

// DefaultTag is the coinbase tag when [Config.Tag] is empty.
const DefaultTag = "/renga/"

// countReserve is the bytes set aside for the block's transaction count
// varint: 3 bytes cover up to 65,535 transactions, and a 1,000,000-byte block
// holds at most 16,666 of the smallest (60-byte) transactions.
const countReserve = 3

// Template is a block to mine on one parent: the header without its merkle
// root, time and nonce, the coinbase and the transactions chosen from the
// mempool. The miner makes one per tip (and a better one when the mempool
// grows); each extranonce gives it a different coinbase and so a different
// merkle root. A Template's fields do not change once it is made; it is safe
// to read from many goroutines.
type Template struct {
	// Parent is the block the template builds on.
	Parent *chain.Node
	// Height is the new block's height (Parent.Height+1).
	Height int32
	// Header holds Version, PrevBlock and Bits; MerkleRoot depends on the
	// extranonce, Time is set when a job is made (at least MinTime), Nonce is
	// what the workers search.
	Header wire.Header
	// MinTime is the earliest valid time: the parent's median time past plus one.
	MinTime uint32
	// Target is the target of Header.Bits as the 32 little-endian bytes that
	// block hashes are compared as ([kernel.AtMost]).
	Target sha256d.Hash
	// Coinbase is the coinbase with a zero extranonce: BIP34 height, extranonce
	// and tag in its script, one output paying Reward to the payout script.
	Coinbase wire.Tx
	// Txs are the mempool transactions chosen, parents before children.
	Txs []*mempool.Entry
	// Fees is the sum of the chosen transactions' fees; Reward is the subsidy plus Fees.
	Fees, Reward int64
	// Weight is the block's weight (four times its size: Renga blocks carry no
	// witness) and SigOps its legacy signature operations, coinbase included.
	Weight, SigOps int
	// Made is when the template was made (by the miner's clock).
	Made time.Time

	cbRaw    []byte         // the coinbase serialized, extranonce zero
	enScript int            // offset of the extranonce in the coinbase script
	enOffset int            // offset of the extranonce in cbRaw
	branch   []sha256d.Hash // merkle branch of the coinbase (leaf 0), bottom up

	// solved is set by the worker that finds the template's block, so that
	// one block per template goes to the chain and the others stop.
	solved atomic.Bool
}

// templateOptions are what a template needs besides the chain and the pool.
type templateOptions struct {
	script    []byte
	tag       []byte
	maxWeight int
	now       time.Time
}

// newTemplate makes the template on parent with transactions chosen from
// entries (in the mempool's dependency order).
func newTemplate(p *chain.Params, parent *chain.Node, entries []*mempool.Entry, o templateOptions) (*Template, error) {
	height := parent.Height + 1
	mtp := parent.MedianTimePast()
	t := &Template{
		Parent:  parent,
		Height:  height,
		MinTime: uint32(mtp + 1),
		Header: wire.Header{
			Version:   Version,
			PrevBlock: parent.Hash,
			Bits:      p.NextBits(parent),
		},
		Made: o.now,
	}
	target, negative, overflow := chain.CompactToTarget(t.Header.Bits)
	if negative || overflow || target.IsZero() {
		return nil, fmt.Errorf("miner: next bits %08x of height %d are not a target", t.Header.Bits, height)
	}
	be := target.Bytes32()
	for i := range be {
		t.Target[i] = be[31-i]
	}

	// The coinbase's size does not depend on its value (8 bytes whatever the
	// fees), so the budget for the transactions is known before choosing them.
	var en [ExtranonceSize]byte
	script := chain.CoinbaseScript(height, append(chain.PushData(en[:]), chain.PushData(o.tag)...))
	t.Coinbase = wire.Tx{
		Version: 1,
		Inputs: []wire.TxIn{{
			PrevOut:   wire.OutPoint{Index: 0xffffffff},
			ScriptSig: script,
			Sequence:  chain.SequenceFinal,
		}},
		Outputs: []wire.TxOut{{ScriptPubKey: o.script}},
	}
	cbSize := t.Coinbase.BaseSize()
	cbSigOps := chain.LegacySigOps(script) + chain.LegacySigOps(o.script)
	sizeBudget := o.maxWeight/chain.WitnessScale - wire.HeaderSize - countReserve - cbSize
	sigOpBudget := chain.MaxBlockSigOpCost/chain.WitnessScale - cbSigOps
	if sizeBudget < 0 || sigOpBudget < 0 {
		return nil, fmt.Errorf("miner: the coinbase alone (%d bytes, %d sigops) exceeds the block limits", cbSize, cbSigOps)
	}

	var size, sigOps int
	t.Txs, t.Fees, size, sigOps = selectTxs(entries, height, mtp, sizeBudget, sigOpBudget)
	t.Reward = p.Subsidy(height) + t.Fees
	t.Coinbase.Outputs[0].Value = t.Reward
	t.Weight = (wire.HeaderSize + wire.VarintSize(uint64(1+len(t.Txs))) + cbSize + size) * chain.WitnessScale
	t.SigOps = cbSigOps + sigOps

	t.cbRaw = t.Coinbase.AppendLegacy(nil)
	// In the script: the height push, then the extranonce's push opcode. In
	// the transaction: version, input count, outpoint and script length first.
	t.enScript = len(chain.PushInt(int64(height))) + 1
	t.enOffset = 4 + 1 + 36 + wire.VarintSize(uint64(len(script))) + t.enScript
	leaves := make([]sha256d.Hash, 1+len(t.Txs))
	for i, e := range t.Txs {
		leaves[i+1] = e.TxID
	}
	t.branch = merkleBranch(leaves)
	return t, nil
}

// coinbaseID returns the coinbase's txid with extranonce en.
func (t *Template) coinbaseID(en uint64) sha256d.Hash {
	raw := make([]byte, len(t.cbRaw))
	copy(raw, t.cbRaw)
	binary.LittleEndian.PutUint64(raw[t.enOffset:], en)
	return sha256d.Sum(raw)
}

// MerkleRoot returns the merkle root of the block with extranonce en: the
// coinbase's txid folded up the branch, a few hashes however many
// transactions the block has.
func (t *Template) MerkleRoot(en uint64) sha256d.Hash {
	h := t.coinbaseID(en)
	for i := range t.branch {
		h = sha256d.SumPair(&h, &t.branch[i])
	}
	return h
}

// Block returns the block with extranonce en, the given time and nonce.
func (t *Template) Block(en uint64, time, nonce uint32) *wire.Block {
	b := &wire.Block{Header: t.Header, Txs: make([]wire.Tx, 0, 1+len(t.Txs))}
	b.Header.MerkleRoot = t.MerkleRoot(en)
	b.Header.Time = time
	b.Header.Nonce = nonce
	cb := t.Coinbase
	cb.Inputs = []wire.TxIn{cb.Inputs[0]}
	cb.Inputs[0].ScriptSig = append([]byte(nil), cb.Inputs[0].ScriptSig...)
	binary.LittleEndian.PutUint64(cb.Inputs[0].ScriptSig[t.enScript:], en)
	b.Txs = append(b.Txs, cb)
	for _, e := range t.Txs {
		b.Txs = append(b.Txs, *e.Tx)
	}
	return b
}

// Extranonce reads the extranonce from a coinbase the miner made at height.
func Extranonce(coinbase *wire.Tx, height int32) (uint64, bool) {
	if len(coinbase.Inputs) != 1 {
		return 0, false
	}
	s := coinbase.Inputs[0].ScriptSig
	off := len(chain.PushInt(int64(height)))
	if len(s) < off+1+ExtranonceSize || s[off] != ExtranonceSize {
		return 0, false
	}
	return binary.LittleEndian.Uint64(s[off+1:]), true
}

// merkleBranch returns the hashes that, folded with leaf 0 from the bottom
// up, give the merkle root of leaves (leaf 0 itself is not read). A level
// with an odd count pairs its last hash with itself, as Bitcoin does.
func merkleBranch(leaves []sha256d.Hash) []sha256d.Hash {
	var branch []sha256d.Hash
	level := leaves
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		branch = append(branch, level[1])
		next := make([]sha256d.Hash, len(level)/2)
		for i := range next {
			next[i] = sha256d.SumPair(&level[2*i], &level[2*i+1])
		}
		level = next
	}
	return branch
}

// selectTxs chooses transactions for a block from entries, which may spend
// each other: the highest fee rate first among those whose parents in
// entries are already chosen, until the size and sigop budgets are spent.
// A transaction that does not fit (or is not final at height) is skipped,
// with everything that spends it, and the rest are still considered. The
// result is in the order chosen, so parents come before children.
//
// A parent is chosen for its own fee rate: a child paying for a poor parent
// does not lift it (Bitcoin Core's ancestor-package scoring would). That only
// matters when the block is full.
func selectTxs(entries []*mempool.Entry, height int32, mtp int64, sizeBudget, sigOpBudget int) (chosen []*mempool.Entry, fees int64, size, sigOps int) {
	index := make(map[sha256d.Hash]int, len(entries))
	for i, e := range entries {
		index[e.TxID] = i
	}
	waiting := make([]int, len(entries)) // parents in entries not chosen yet
	kids := make([][]int, len(entries))
	for i, e := range entries {
		var seen []int
		for _, in := range e.Tx.Inputs {
			p, ok := index[in.PrevOut.Hash]
			if !ok || p == i || containsInt(seen, p) {
				continue
			}
			seen = append(seen, p)
			waiting[i]++
			kids[p] = append(kids[p], i)
		}
	}
	ready := &readyHeap{entries: entries}
	for i := range entries {
		if waiting[i] == 0 {
			ready.idx = append(ready.idx, i)
		}
	}
	heap.Init(ready)
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		e := entries[i]
		txSize := e.Tx.BaseSize()
		txSigOps := txLegacySigOps(e.Tx)
		if size+txSize > sizeBudget || sigOps+txSigOps > sigOpBudget || !chain.IsFinal(e.Tx, height, mtp) {
			continue // its descendants never become ready
		}
		chosen = append(chosen, e)
		fees += e.Fee
		size += txSize
		sigOps += txSigOps
		for _, k := range kids[i] {
			if waiting[k]--; waiting[k] == 0 {
				heap.Push(ready, k)
			}
		}
	}
	return chosen, fees, size, sigOps
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// txLegacySigOps counts a transaction's signature operations as the block
// limit does (chain.CheckBlock).
func txLegacySigOps(tx *wire.Tx) int {
	n := 0
	for i := range tx.Inputs {
		n += chain.LegacySigOps(tx.Inputs[i].ScriptSig)
	}
	for i := range tx.Outputs {
		n += chain.LegacySigOps(tx.Outputs[i].ScriptPubKey)
	}
	return n
}

// readyHeap orders entry indices by fee rate, highest first, then by their
// order in entries (arrival), so equal rates keep first-come order.
type readyHeap struct {
	entries []*mempool.Entry
	idx     []int
}

func (h *readyHeap) Len() int      { return len(h.idx) }
func (h *readyHeap) Swap(i, j int) { h.idx[i], h.idx[j] = h.idx[j], h.idx[i] }
func (h *readyHeap) Push(x any)    { h.idx = append(h.idx, x.(int)) }
func (h *readyHeap) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}

func (h *readyHeap) Less(i, j int) bool {
	a, b := h.entries[h.idx[i]], h.entries[h.idx[j]]
	if c := compareRates(a.Fee, a.Size, b.Fee, b.Size); c != 0 {
		return c > 0
	}
	return h.idx[i] < h.idx[j]
}

// compareRates compares feeA/sizeA with feeB/sizeB exactly (fees and sizes
// are never negative; the products need 128 bits).
func compareRates(feeA int64, sizeA int, feeB int64, sizeB int) int {
	ah, al := bits.Mul64(uint64(max(feeA, 0)), uint64(max(sizeB, 1)))
	bh, bl := bits.Mul64(uint64(max(feeB, 0)), uint64(max(sizeA, 1)))
	switch {
	case ah != bh:
		if ah > bh {
			return 1
		}
		return -1
	case al != bl:
		if al > bl {
			return 1
		}
		return -1
	}
	return 0
}
