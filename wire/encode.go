package wire

import (
	"encoding/binary"
	"math"
)

// AppendVarint appends v as a CompactSize integer in its shortest form.
func AppendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(b, byte(v))
	case v <= math.MaxUint16:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= math.MaxUint32:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(v))
	default:
		return binary.LittleEndian.AppendUint64(append(b, 0xff), v)
	}
}

// VarintSize returns the length of v's CompactSize encoding.
func VarintSize(v uint64) int {
	switch {
	case v < 0xfd:
		return 1
	case v <= math.MaxUint16:
		return 3
	case v <= math.MaxUint32:
		return 5
	default:
		return 9
	}
}

// ReadVarint decodes a CompactSize integer from the front of b and returns it with
// the number of bytes used. Non-shortest forms and truncation are errors wrapping
// [ErrMalformed].
func ReadVarint(b []byte) (uint64, int, error) {
	d := newDecoder(b)
	v := d.varint("varint")
	return v, d.off, d.err()
}

// AppendVarBytes appends a CompactSize length and then p.
func AppendVarBytes(b, p []byte) []byte {
	return append(AppendVarint(b, uint64(len(p))), p...)
}

func appendVarString(b []byte, s string) []byte {
	return append(AppendVarint(b, uint64(len(s))), s...)
}

func varBytesSize(p []byte) int { return VarintSize(uint64(len(p))) + len(p) }

func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}
