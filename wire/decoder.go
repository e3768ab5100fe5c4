package wire

import (
	"encoding/binary"
	"io"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// decoder reads a payload front to back and remembers the first error, so that a
// message's Decode reads straight down like the specification and checks once at
// the end. After an error every read returns zero values and every count returns
// 0, so loops driven by counts end at once.
//
// Byte slices returned by bytes and varBytes alias the payload: decoding copies
// nothing, and a decoded message keeps its payload alive.
type decoder struct {
	buf []byte
	off int
	err error
}

func newDecoder(p []byte) decoder { return decoder{buf: p} }

func (d *decoder) left() int { return len(d.buf) - d.off }

// fail records the first error; it is kept out of line so that the fast paths
// that call it stay small enough to inline.
//
//go:noinline
func (d *decoder) fail(field string, reason error) {
	if d.err == nil {
		d.err = malformed(field, d.off, reason)
	}
	d.off = len(d.buf) // nothing more is read after an error
}

// finish reports the first error, or ErrTrailing if bytes are left over.
func (d *decoder) finish(field string) error {
	if d.err == nil && d.off != len(d.buf) {
		d.fail(field, ErrTrailing)
	}
	return d.err
}

func (d *decoder) u8(field string) uint8 {
	if d.off >= len(d.buf) {
		d.fail(field, io.ErrUnexpectedEOF)
		return 0
	}
	v := d.buf[d.off]
	d.off++
	return v
}

func (d *decoder) u16be(field string) uint16 {
	if len(d.buf)-d.off < 2 {
		d.fail(field, io.ErrUnexpectedEOF)
		return 0
	}
	v := binary.BigEndian.Uint16(d.buf[d.off:])
	d.off += 2
	return v
}

func (d *decoder) u32(field string) uint32 {
	if len(d.buf)-d.off < 4 {
		d.fail(field, io.ErrUnexpectedEOF)
		return 0
	}
	v := binary.LittleEndian.Uint32(d.buf[d.off:])
	d.off += 4
	return v
}

func (d *decoder) u64(field string) uint64 {
	if len(d.buf)-d.off < 8 {
		d.fail(field, io.ErrUnexpectedEOF)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.buf[d.off:])
	d.off += 8
	return v
}

func (d *decoder) boolean(field string) bool {
	switch d.u8(field) {
	case 0:
		return false
	case 1:
		return true
	}
	d.off--
	d.fail(field, ErrNonCanonical)
	return false
}

func (d *decoder) hash(field string) (h sha256d.Hash) {
	if len(d.buf)-d.off < sha256d.Size {
		d.fail(field, io.ErrUnexpectedEOF)
		return h
	}
	h = sha256d.Hash(d.buf[d.off:])
	d.off += sha256d.Size
	return h
}

// bytes returns the next n bytes (aliasing the payload).
func (d *decoder) bytes(field string, n int) []byte {
	if n < 0 || len(d.buf)-d.off < n {
		d.fail(field, io.ErrUnexpectedEOF)
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// varint reads a CompactSize integer and insists on its shortest form.
func (d *decoder) varint(field string) uint64 {
	if d.off < len(d.buf) && d.buf[d.off] < 0xfd {
		v := d.buf[d.off]
		d.off++
		return uint64(v)
	}
	return d.varintLong(field)
}

func (d *decoder) varintLong(field string) uint64 {
	start := d.off
	var v, min uint64
	switch d.u8(field) {
	case 0xfd:
		if len(d.buf)-d.off < 2 {
			d.fail(field, io.ErrUnexpectedEOF)
			return 0
		}
		v, min = uint64(binary.LittleEndian.Uint16(d.buf[d.off:])), 0xfd
		d.off += 2
	case 0xfe:
		v, min = uint64(d.u32(field)), 0x10000
	case 0xff:
		v, min = d.u64(field), 0x100000000
	default: // only reached after an error (end of input)
		return 0
	}
	if d.err == nil && v < min {
		d.off = start
		d.fail(field, ErrNonCanonical)
		return 0
	}
	return v
}

// count reads a CompactSize element count and bounds it both by the protocol
// limit max and by the bytes present, given that every element takes at least
// minSize bytes, so that nothing is allocated for elements that are not there.
func (d *decoder) count(field string, max, minSize int) int {
	start := d.off
	n := d.varint(field)
	if d.err != nil {
		return 0
	}
	if n > uint64(max) {
		d.off = start
		d.fail(field, ErrTooMany)
		return 0
	}
	if n*uint64(minSize) > uint64(d.left()) {
		d.fail(field, io.ErrUnexpectedEOF)
		return 0
	}
	return int(n)
}

// varBytes reads a CompactSize length followed by that many bytes (aliased).
func (d *decoder) varBytes(field string, max int) []byte {
	n := d.count(field, max, 1)
	if n == 0 {
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// varString reads a CompactSize-prefixed string of at most max bytes.
func (d *decoder) varString(field string, max int) string {
	return string(d.varBytes(field, max))
}
