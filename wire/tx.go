package wire

import (
	"fmt"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// OutPoint names a transaction output: the transaction's id and the output's index.
type OutPoint struct {
	Hash  sha256d.Hash
	Index uint32
}

// String formats the outpoint as "txid:index".
func (o OutPoint) String() string { return fmt.Sprintf("%s:%d", o.Hash, o.Index) }

// TxIn spends one output.
type TxIn struct {
	PrevOut   OutPoint
	ScriptSig []byte
	Sequence  uint32
	Witness   [][]byte // BIP141 stack; nil or empty when there is none
}

// TxOut creates one output.
type TxOut struct {
	Value        int64 // satoshis; the wire allows any int64, consensus does not
	ScriptPubKey []byte
}

// Tx is a transaction, and also the "tx" message. It serializes in the BIP144
// witness form when any input has a witness, and in the legacy form otherwise;
// decoding accepts exactly those two forms.
type Tx struct {
	Version  uint32
	Inputs   []TxIn
	Outputs  []TxOut
	LockTime uint32
}

// Command implements [Message].
func (*Tx) Command() string { return CmdTx }

// HasWitness reports whether any input carries witness data.
func (tx *Tx) HasWitness() bool {
	for i := range tx.Inputs {
		if len(tx.Inputs[i].Witness) != 0 {
			return true
		}
	}
	return false
}

// IsCoinbase reports whether tx has the shape of a coinbase: a single input
// spending the null outpoint.
func (tx *Tx) IsCoinbase() bool {
	return len(tx.Inputs) == 1 && tx.Inputs[0].PrevOut == OutPoint{Index: 0xffffffff}
}

// AppendBinary appends the transaction's serialization (witness form if it has a
// witness). It implements encoding.BinaryAppender and never fails.
func (tx *Tx) AppendBinary(b []byte) ([]byte, error) {
	return tx.appendTo(b, tx.HasWitness()), nil
}

// AppendLegacy appends the serialization without witness data: the bytes whose
// hash is the txid.
func (tx *Tx) AppendLegacy(b []byte) []byte { return tx.appendTo(b, false) }

func (tx *Tx) appendTo(b []byte, witness bool) []byte {
	b = appendU32(b, tx.Version)
	if witness {
		b = append(b, 0, 1) // BIP144 marker and flag
	}
	b = AppendVarint(b, uint64(len(tx.Inputs)))
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		b = append(b, in.PrevOut.Hash[:]...)
		b = appendU32(b, in.PrevOut.Index)
		b = AppendVarBytes(b, in.ScriptSig)
		b = appendU32(b, in.Sequence)
	}
	b = AppendVarint(b, uint64(len(tx.Outputs)))
	for i := range tx.Outputs {
		out := &tx.Outputs[i]
		b = appendU64(b, uint64(out.Value))
		b = AppendVarBytes(b, out.ScriptPubKey)
	}
	if witness {
		for i := range tx.Inputs {
			w := tx.Inputs[i].Witness
			b = AppendVarint(b, uint64(len(w)))
			for _, item := range w {
				b = AppendVarBytes(b, item)
			}
		}
	}
	return appendU32(b, tx.LockTime)
}

// BaseSize is the size of the legacy serialization (no witness).
func (tx *Tx) BaseSize() int {
	n := 4 + VarintSize(uint64(len(tx.Inputs))) + VarintSize(uint64(len(tx.Outputs))) + 4
	for i := range tx.Inputs {
		n += 32 + 4 + varBytesSize(tx.Inputs[i].ScriptSig) + 4
	}
	for i := range tx.Outputs {
		n += 8 + varBytesSize(tx.Outputs[i].ScriptPubKey)
	}
	return n
}

// SerializeSize is the size of what [Tx.AppendBinary] writes.
func (tx *Tx) SerializeSize() int {
	n := tx.BaseSize()
	if tx.HasWitness() {
		n += 2
		for i := range tx.Inputs {
			w := tx.Inputs[i].Witness
			n += VarintSize(uint64(len(w)))
			for _, item := range w {
				n += varBytesSize(item)
			}
		}
	}
	return n
}

// Weight is BIP141's weight: three times the base size plus the total size.
func (tx *Tx) Weight() int { return 3*tx.BaseSize() + tx.SerializeSize() }

// txScratch is sized so that typical transactions hash without a heap allocation.
const txScratch = 1024

// TxID returns the transaction id: SHA-256d of the legacy serialization.
func (tx *Tx) TxID() sha256d.Hash {
	var buf [txScratch]byte
	return sha256d.Sum(tx.appendTo(buf[:0], false))
}

// WTxID returns the BIP141 witness id: SHA-256d of the full serialization. It
// equals the txid for a transaction without witness.
func (tx *Tx) WTxID() sha256d.Hash {
	var buf [txScratch]byte
	return sha256d.Sum(tx.appendTo(buf[:0], tx.HasWitness()))
}

// Decode parses a serialized transaction. The scripts and witness items alias p.
func (tx *Tx) Decode(p []byte) error {
	d := newDecoder(p)
	a := newTxArena(d, 1)
	decodeTx(&d, tx, &a)
	return d.finish("tx")
}

// txArena hands out the input, output and witness slices of one decode from a few
// slabs sized by a quick measuring pass, so that a block of thousands of
// transactions costs a handful of allocations rather than several per transaction.
// When a slab runs short (only on input that fails to decode) it falls back to
// ordinary allocation, so correctness never depends on the measurement.
type txArena struct {
	txs  int // complete transactions the measuring pass found
	ins  []TxIn
	outs []TxOut
	wits [][]byte
}

// newTxArena measures up to n transactions starting at d (which is copied, not
// advanced) and allocates slabs for what is actually there.
func newTxArena(d decoder, n int) txArena {
	var a txArena
	var nIn, nOut, nWit int
	for ; a.txs < n; a.txs++ {
		i, o, w, ok := measureTx(&d)
		nIn, nOut, nWit = nIn+i, nOut+o, nWit+w
		if !ok {
			break
		}
	}
	if nIn > 0 {
		a.ins = make([]TxIn, nIn)
	}
	if nOut > 0 {
		a.outs = make([]TxOut, nOut)
	}
	if nWit > 0 {
		a.wits = make([][]byte, nWit)
	}
	return a
}

func (a *txArena) inputs(n int) []TxIn {
	if n > len(a.ins) {
		return make([]TxIn, n)
	}
	s := a.ins[:n:n]
	a.ins = a.ins[n:]
	return s
}

func (a *txArena) outputs(n int) []TxOut {
	if n > len(a.outs) {
		return make([]TxOut, n)
	}
	s := a.outs[:n:n]
	a.outs = a.outs[n:]
	return s
}

func (a *txArena) witness(n int) [][]byte {
	if n > len(a.wits) {
		return make([][]byte, n)
	}
	s := a.wits[:n:n]
	a.wits = a.wits[n:]
	return s
}

// Count limits for one transaction. Core has none beyond the message size, so
// these are what 4,000,000 bytes can hold; the real bound is the bytes present.
const (
	maxTxIns         = MaxMessageSize / minTxInSize
	maxTxOuts        = MaxMessageSize / minTxOutSize
	maxWitnessItems  = MaxMessageSize
	maxScriptSize    = MaxMessageSize
	maxWitnessItemSz = MaxMessageSize
)

// measureTx skips over one transaction, counting its inputs, outputs and witness
// items. It checks only what it needs to stay within the bytes; decodeTx checks
// everything. ok is false if the transaction runs past the end.
func measureTx(d *decoder) (nIn, nOut, nWit int, ok bool) {
	d.off += 4
	n := d.varint("")
	witness := false
	if n == 0 && d.off < len(d.buf) && d.buf[d.off] == 1 {
		d.off++
		witness = true
		n = d.varint("")
	}
	if d.err != nil || n > uint64(d.left()/minTxInSize) {
		return 0, 0, 0, false
	}
	nIn = int(n)
	for range nIn {
		d.off += 36
		if !d.skipVarBytes() {
			return nIn, 0, 0, false
		}
		d.off += 4
	}
	n = d.varint("")
	if d.err != nil || d.left() < 0 || n > uint64(d.left()/minTxOutSize) {
		return nIn, 0, 0, false
	}
	nOut = int(n)
	for range nOut {
		d.off += 8
		if !d.skipVarBytes() {
			return nIn, nOut, 0, false
		}
	}
	if witness {
		for range nIn {
			items := d.varint("")
			if d.err != nil || d.left() < 0 || items > uint64(d.left()) {
				return nIn, nOut, nWit, false
			}
			nWit += int(items)
			for range items {
				if !d.skipVarBytes() {
					return nIn, nOut, nWit, false
				}
			}
		}
	}
	d.off += 4
	return nIn, nOut, nWit, d.err == nil && d.off <= len(d.buf)
}

// skipVarBytes moves past a length-prefixed field; false if it does not fit.
func (d *decoder) skipVarBytes() bool {
	if d.off > len(d.buf) {
		return false
	}
	l := d.varint("")
	if d.err != nil || l > uint64(d.left()) {
		return false
	}
	d.off += int(l)
	return true
}

// decodeTx reads one transaction in either serialization.
func decodeTx(d *decoder, tx *Tx, a *txArena) {
	tx.Version = d.u32("tx.version")
	nIn := d.count("tx.inputs", maxTxIns, minTxInSize)
	witness := false
	if nIn == 0 && d.err == nil {
		// BIP144: a zero input count is the marker of the witness form, and the
		// flag that follows must be 1. (Legacy transactions without inputs cannot
		// be expressed, as in Bitcoin Core.)
		if flag := d.u8("tx.flag"); flag != 1 && d.err == nil {
			d.off--
			d.fail("tx.flag", ErrInvalid)
		}
		witness = true
		nIn = d.count("tx.inputs", maxTxIns, minTxInSize)
	}
	tx.Inputs = a.inputs(nIn)
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		in.PrevOut.Hash = d.hash("tx.input.prevout")
		in.PrevOut.Index = d.u32("tx.input.prevout")
		in.ScriptSig = d.varBytes("tx.input.script", maxScriptSize)
		in.Sequence = d.u32("tx.input.sequence")
		in.Witness = nil
	}
	nOut := d.count("tx.outputs", maxTxOuts, minTxOutSize)
	tx.Outputs = a.outputs(nOut)
	for i := range tx.Outputs {
		out := &tx.Outputs[i]
		out.Value = int64(d.u64("tx.output.value"))
		out.ScriptPubKey = d.varBytes("tx.output.script", maxScriptSize)
	}
	if witness {
		any := false
		for i := range tx.Inputs {
			n := d.count("tx.witness", maxWitnessItems, 1)
			if n == 0 {
				continue
			}
			any = true
			w := a.witness(n)
			for j := range w {
				w[j] = d.varBytes("tx.witness.item", maxWitnessItemSz)
			}
			tx.Inputs[i].Witness = w
		}
		if !any && d.err == nil {
			// Bitcoin Core: "Superfluous witness record". It would not re-encode.
			d.fail("tx.witness", ErrNonCanonical)
		}
	}
	tx.LockTime = d.u32("tx.locktime")
}
