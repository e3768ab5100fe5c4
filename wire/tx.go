package wire

import (
	"encoding/binary"
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

// TxIn spends one output. (Sequence sits beside the 36-byte outpoint, not in
// wire order, to fill what would be padding: a block holds thousands of these.)
type TxIn struct {
	PrevOut   OutPoint
	Sequence  uint32
	ScriptSig []byte
	Witness   Witness // BIP141 stack; empty when there is none
}

// TxOut creates one output.
type TxOut struct {
	Value        int64 // satoshis; the wire allows any int64, consensus does not
	ScriptPubKey []byte
}

// Tx is a transaction, and also the "tx" message. It serializes in the BIP144
// witness form when any input has a witness, and in the legacy form otherwise;
// decoding accepts exactly those two forms.
//
// (Version and LockTime sit together so that the struct has no padding.)
type Tx struct {
	Version  uint32
	LockTime uint32
	Inputs   []TxIn
	Outputs  []TxOut
}

// Command implements [Message].
func (*Tx) Command() string { return CmdTx }

// HasWitness reports whether any input carries witness data.
func (tx *Tx) HasWitness() bool {
	for i := range tx.Inputs {
		if !tx.Inputs[i].Witness.IsEmpty() {
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
			b = tx.Inputs[i].Witness.appendTo(b)
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
			n += tx.Inputs[i].Witness.serializedSize()
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
	a := newTxArena(&d, 1)
	decodeTx(&d, tx, &a)
	return d.finish("tx")
}

// txArena hands out the input and output slices of one decode from two slabs
// sized by a quick measuring pass, so that a block of thousands of
// transactions costs a handful of allocations rather than several per
// transaction. (Witnesses need none: they are views of the payload.)
// When a slab runs short (only on input that fails to decode) it falls back to
// ordinary allocation, so correctness never depends on the measurement.
type txArena struct {
	txs  int // complete transactions the measuring pass found
	ins  []TxIn
	outs []TxOut
}

// newTxArena measures up to n transactions starting where d is (without moving
// it) and allocates slabs for what is actually there.
func newTxArena(d *decoder, n int) txArena {
	var a txArena
	var nIn, nOut int
	off := d.off
	for ; a.txs < n; a.txs++ {
		i, o, next, ok := measureTx(d.buf, off)
		nIn, nOut, off = nIn+i, nOut+o, next
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

// Count limits for one transaction. Core has none beyond the message size, so
// these are what 4,000,000 bytes can hold; the real bound is the bytes present.
const (
	maxTxIns         = MaxMessageSize / minTxInSize
	maxTxOuts        = MaxMessageSize / minTxOutSize
	maxWitnessItems  = MaxMessageSize
	maxScriptSize    = MaxMessageSize
	maxWitnessItemSz = MaxMessageSize
)

// measureTx skips over the transaction at p[i:], counting its inputs and
// outputs, and returns the offset after it. It checks only what it
// needs to stay within p; decodeTx checks everything. ok is false if the
// transaction runs past the end (the counts are then those seen so far). It
// works on local variables rather than a decoder because it runs over every
// field of every block received, ahead of the real decoding.
func measureTx(p []byte, i int) (nIn, nOut, next int, ok bool) {
	i += 4 // version
	n, i := skipVarint(p, i)
	witness := false
	if n == 0 && i >= 0 && i < len(p) && p[i] == 1 {
		witness = true
		n, i = skipVarint(p, i+1)
	}
	if i < 0 || n > uint64(len(p)-i)/minTxInSize {
		return 0, 0, i, false
	}
	nIn = int(n)
	for range nIn {
		if i = skipVarBytes(p, i+36); i < 0 {
			return nIn, 0, i, false
		}
		i += 4 // sequence
	}
	if n, i = skipVarint(p, i); i < 0 || n > uint64(len(p)-i)/minTxOutSize {
		return nIn, 0, i, false
	}
	nOut = int(n)
	for range nOut {
		if i = skipVarBytes(p, i+8); i < 0 {
			return nIn, nOut, i, false
		}
	}
	if witness {
		for range nIn {
			if n, i = skipVarint(p, i); i < 0 || n > uint64(len(p)-i) {
				return nIn, nOut, i, false
			}
			for range n {
				if i = skipVarBytes(p, i); i < 0 {
					return nIn, nOut, i, false
				}
			}
		}
	}
	i += 4 // lock time
	return nIn, nOut, i, i <= len(p)
}

// skipVarint reads the CompactSize at p[i:] without checking its form; the
// returned offset is negative if it does not fit.
func skipVarint(p []byte, i int) (uint64, int) {
	if i < 0 || i >= len(p) {
		return 0, -1
	}
	switch c := p[i]; {
	case c < 0xfd:
		return uint64(c), i + 1
	case c == 0xfd && i+3 <= len(p):
		return uint64(binary.LittleEndian.Uint16(p[i+1:])), i + 3
	case c == 0xfe && i+5 <= len(p):
		return uint64(binary.LittleEndian.Uint32(p[i+1:])), i + 5
	case c == 0xff && i+9 <= len(p):
		return binary.LittleEndian.Uint64(p[i+1:]), i + 9
	}
	return 0, -1
}

// skipVarBytes moves past the CompactSize-prefixed field at p[i:]; the returned
// offset is negative if it does not fit.
func skipVarBytes(p []byte, i int) int {
	if i >= 0 && i < len(p) && p[i] < 0xfd { // the usual one-byte length
		if i += 1 + int(p[i]); i <= len(p) {
			return i
		}
		return -1
	}
	n, i := skipVarint(p, i)
	if i < 0 || n > uint64(len(p)-i) {
		return -1
	}
	return i + int(n)
}

// decodeTx reads one transaction in either serialization.
func decodeTx(d *decoder, tx *Tx, a *txArena) {
	tx.Version = d.u32("tx.version")
	nIn := d.count("tx.inputs", maxTxIns, minTxInSize)
	witness := false
	if nIn == 0 && d.ok() {
		// BIP144: a zero input count is the marker of the witness form, and the
		// flag that follows must be 1. (Legacy transactions without inputs cannot
		// be expressed, as in Bitcoin Core.)
		if flag := d.u8("tx.flag"); flag != 1 && d.ok() {
			d.off--
			d.fault("tx.flag", ErrInvalid)
		}
		witness = true
		nIn = d.count("tx.inputs", maxTxIns, minTxInSize)
	}
	tx.Inputs = a.inputs(nIn)
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		// Fast path: a script shorter than 0xfd bytes (nearly all of them),
		// with the whole input present, read with one bounds check.
		if p := d.buf[min(d.off, len(d.buf)):]; len(p) > 36 {
			if n := int(p[36]); n < 0xfd && 41+n <= len(p) {
				copy(in.PrevOut.Hash[:], p[:32])
				in.PrevOut.Index = binary.LittleEndian.Uint32(p[32:])
				if n > 0 {
					in.ScriptSig = p[37 : 37+n : 37+n]
				}
				in.Sequence = binary.LittleEndian.Uint32(p[37+n:])
				d.off += 41 + n
				continue
			}
		}
		d.hashTo(&in.PrevOut.Hash, "tx.input.prevout")
		in.PrevOut.Index = d.u32("tx.input.prevout")
		in.ScriptSig = d.varBytes("tx.input.script", maxScriptSize)
		in.Sequence = d.u32("tx.input.sequence")
	}
	nOut := d.count("tx.outputs", maxTxOuts, minTxOutSize)
	tx.Outputs = a.outputs(nOut)
	for i := range tx.Outputs {
		out := &tx.Outputs[i]
		// Fast path, as for inputs.
		if p := d.buf[min(d.off, len(d.buf)):]; len(p) > 8 {
			if n := int(p[8]); n < 0xfd && 9+n <= len(p) {
				out.Value = int64(binary.LittleEndian.Uint64(p))
				if n > 0 {
					out.ScriptPubKey = p[9 : 9+n : 9+n]
				}
				d.off += 9 + n
				continue
			}
		}
		out.Value = int64(d.u64("tx.output.value"))
		out.ScriptPubKey = d.varBytes("tx.output.script", maxScriptSize)
	}
	if witness {
		any := false
		for i := range tx.Inputs {
			w, empty := decodeWitness(d)
			any = any || !empty
			tx.Inputs[i].Witness = w
		}
		if !any && d.ok() {
			// Bitcoin Core: "Superfluous witness record". It would not re-encode.
			d.fault("tx.witness", ErrNonCanonical)
		}
	}
	tx.LockTime = d.u32("tx.locktime")
}
