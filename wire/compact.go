package wire

import "fmt"

// BIP152 encodes transaction indexes differentially: each is sent as its
// distance from the previous index plus one. These helpers keep the absolute
// indexes in memory and check that they fit the 16 bits BIP152 allows, as
// Bitcoin Core does.

// diffIndex decodes the next differential index; shift is the running position.
func (d *decoder) diffIndex(field string, shift *uint32) uint16 {
	start := d.off
	delta := d.varint(field)
	if !d.ok() {
		return 0
	}
	if delta > MaxCompactIndex || uint64(*shift)+delta > MaxCompactIndex {
		d.off = start
		d.fault(field, fmt.Errorf("%w: index overflows 16 bits", ErrInvalid))
		return 0
	}
	idx := *shift + uint32(delta)
	*shift = idx + 1
	return uint16(idx)
}

// appendDiffIndex encodes idx after prev (-1 before the first); indexes must
// strictly increase.
func appendDiffIndex(b []byte, field string, idx uint16, prev *int) ([]byte, error) {
	if int(idx) <= *prev {
		return b, fmt.Errorf("%s: %w: index %d after %d; indexes must increase", field, ErrInvalid, idx, *prev)
	}
	b = AppendVarint(b, uint64(int(idx)-*prev-1))
	*prev = int(idx)
	return b, nil
}
