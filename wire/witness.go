package wire

import "iter"

// Witness is one input's BIP141 witness: a stack of byte strings. It is kept
// in its serialized form (the item count, then each item with its length, as
// BIP144 writes it), which a decoded transaction aliases from its payload, so
// that a witness costs one slice header however many items it has. (As a
// [][]byte, the ~4 million empty items a 4 MB block can carry would cost
// 24 bytes of slice header each: ~96 MB for 4 MB of payload.)
//
// The zero value is the empty witness (no items). A Witness is made only by
// [NewWitness] or by decoding, both of which leave it well formed, so reading
// it never fails.
type Witness struct {
	// enc is nil for no items; otherwise a canonical count (at least 1)
	// followed by exactly that many canonical length-prefixed items.
	enc []byte
}

// NewWitness returns the witness with these items (copied).
func NewWitness(items ...[]byte) Witness {
	if len(items) == 0 {
		return Witness{}
	}
	n := VarintSize(uint64(len(items)))
	for _, it := range items {
		n += varBytesSize(it)
	}
	enc := make([]byte, 0, n)
	enc = AppendVarint(enc, uint64(len(items)))
	for _, it := range items {
		enc = AppendVarBytes(enc, it)
	}
	return Witness{enc: enc}
}

// IsEmpty reports whether the witness has no items.
func (w Witness) IsEmpty() bool { return len(w.enc) == 0 }

// Len returns the number of items.
func (w Witness) Len() int {
	if len(w.enc) == 0 {
		return 0
	}
	n, _, _ := ReadVarint(w.enc) // well formed by construction
	return int(n)
}

// All iterates over the items in order, with their indexes. The items alias
// the witness's bytes (and so a decoded transaction's payload): treat them
// as read-only.
func (w Witness) All() iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		if len(w.enc) == 0 {
			return
		}
		n, off, _ := ReadVarint(w.enc)
		for i := range int(n) {
			size, k, _ := ReadVarint(w.enc[off:])
			off += k
			if !yield(i, w.enc[off:off+int(size):off+int(size)]) {
				return
			}
			off += int(size)
		}
	}
}

// Item returns item i (aliased, as by All), or nil if there is no such item.
// It walks the items before i; use All to visit them all.
func (w Witness) Item(i int) []byte {
	for j, it := range w.All() {
		if j == i {
			return it
		}
	}
	return nil
}

// Items returns the items as a slice (of views into the witness): for
// callers that want random access to a witness they trust to be small.
func (w Witness) Items() [][]byte {
	var out [][]byte
	for _, it := range w.All() {
		out = append(out, it)
	}
	return out
}

// serializedSize is what appendTo writes for this input's witness: the
// encoding, or a single zero count for an empty witness.
func (w Witness) serializedSize() int { return max(len(w.enc), 1) }

func (w Witness) appendTo(b []byte) []byte {
	if len(w.enc) == 0 {
		return append(b, 0)
	}
	return append(b, w.enc...)
}

// decodeWitness reads one input's witness stack and returns it as a view of
// the payload, checking every item as the rest of the decoder does (canonical
// lengths, present bytes). Nothing is allocated, whatever the item count.
func decodeWitness(d *decoder) (w Witness, empty bool) {
	start := d.off
	n := d.count("tx.witness", maxWitnessItems, 1)
	if n == 0 {
		return Witness{}, true
	}
	for range n {
		d.varBytes("tx.witness.item", maxWitnessItemSz)
	}
	if !d.ok() {
		return Witness{}, false
	}
	return Witness{enc: d.buf[start:d.off:d.off]}, false
}
