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
// The readers are hot (a block has tens of thousands of fields), so they are
// kept small enough for the compiler to inline: a failure is recorded with plain
// stores (fault) rather than a call, and turned into an error by err.
//
// Byte slices returned by bytes and varBytes alias the payload: decoding copies
// nothing, and a decoded message keeps its payload alive.
type decoder struct {
	buf []byte
	off int

	// The first failure: the field being read, where, and why. why is nil while
	// all is well. Once set, off is past the end, so every later read fails
	// and leaves these alone.
	field string
	at    int
	why   error
}

func newDecoder(p []byte) decoder { return decoder{buf: p} }

func (d *decoder) left() int { return max(len(d.buf)-d.off, 0) }

func (d *decoder) ok() bool { return d.why == nil }

// fault records a failure at the current offset, unless one is recorded already.
func (d *decoder) fault(field string, why error) {
	if d.why == nil {
		d.field, d.at, d.why = field, d.off, why
	}
	d.off = len(d.buf) + 1 // nothing more is read after an error
}

// err returns the first failure as a *MalformedError, or nil.
func (d *decoder) err() error {
	if d.why == nil {
		return nil
	}
	return malformed(d.field, d.at, d.why)
}

// finish reports the first error, or ErrTrailing if bytes are left over.
func (d *decoder) finish(field string) error {
	if d.why == nil && d.off != len(d.buf) {
		d.fault(field, ErrTrailing)
	}
	return d.err()
}

// has reports whether n more bytes are present. (off may be past the end after
// a failure, hence the signed comparison.)
func (d *decoder) has(n int) bool { return n <= len(d.buf)-d.off }

func (d *decoder) u8(field string) uint8 {
	if !d.has(1) {
		d.fault(field, io.ErrUnexpectedEOF)
		return 0
	}
	v := d.buf[d.off]
	d.off++
	return v
}

func (d *decoder) u16be(field string) uint16 {
	if !d.has(2) {
		d.fault(field, io.ErrUnexpectedEOF)
		return 0
	}
	v := binary.BigEndian.Uint16(d.buf[d.off:])
	d.off += 2
	return v
}

func (d *decoder) u32(field string) uint32 {
	if !d.has(4) {
		d.fault(field, io.ErrUnexpectedEOF)
		return 0
	}
	v := binary.LittleEndian.Uint32(d.buf[d.off:])
	d.off += 4
	return v
}

func (d *decoder) u64(field string) uint64 {
	if !d.has(8) {
		d.fault(field, io.ErrUnexpectedEOF)
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
	if d.ok() {
		d.off--
		d.fault(field, ErrNonCanonical)
	}
	return false
}

func (d *decoder) hash(field string) (h sha256d.Hash) {
	if !d.has(sha256d.Size) {
		d.fault(field, io.ErrUnexpectedEOF)
		return h
	}
	h = sha256d.Hash(d.buf[d.off:])
	d.off += sha256d.Size
	return h
}

// hashTo reads a hash straight into h (cheaper than returning it by value in a
// loop over thousands of inputs).
func (d *decoder) hashTo(h *sha256d.Hash, field string) {
	if !d.has(sha256d.Size) {
		d.fault(field, io.ErrUnexpectedEOF)
		return
	}
	copy(h[:], d.buf[d.off:])
	d.off += sha256d.Size
}

// bytes returns the next n bytes (aliasing the payload).
func (d *decoder) bytes(field string, n int) []byte {
	if n < 0 || !d.has(n) {
		d.fault(field, io.ErrUnexpectedEOF)
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// varint reads a CompactSize integer and insists on its shortest form. The
// one-byte form (almost every varint in practice) is handled inline.
func (d *decoder) varint(field string) uint64 {
	if i := d.off; i < len(d.buf) && d.buf[i] < 0xfd {
		d.off = i + 1
		return uint64(d.buf[i])
	}
	return d.varintLong(field)
}

func (d *decoder) varintLong(field string) uint64 {
	start := d.off
	var v, min uint64
	switch d.u8(field) {
	case 0xfd:
		v, min = uint64(d.u16le(field)), 0xfd
	case 0xfe:
		v, min = uint64(d.u32(field)), 0x10000
	case 0xff:
		v, min = d.u64(field), 0x100000000
	default: // only reached after a failure (end of input)
		return 0
	}
	if d.ok() && v < min {
		d.off = start
		d.fault(field, ErrNonCanonical)
		return 0
	}
	return v
}

func (d *decoder) u16le(field string) uint16 {
	if !d.has(2) {
		d.fault(field, io.ErrUnexpectedEOF)
		return 0
	}
	v := binary.LittleEndian.Uint16(d.buf[d.off:])
	d.off += 2
	return v
}

// count reads a CompactSize element count and bounds it both by the protocol
// limit max and by the bytes present, given that every element takes at least
// minSize bytes, so that nothing is allocated for elements that are not there.
func (d *decoder) count(field string, max, minSize int) int {
	if i := d.off; i < len(d.buf) {
		// Fast path: a one-byte count that passes both bounds.
		if n := int(d.buf[i]); n < 0xfd && n <= max && n*minSize <= len(d.buf)-i-1 {
			d.off = i + 1
			return n
		}
	}
	return d.countLong(field, max, minSize)
}

func (d *decoder) countLong(field string, max, minSize int) int {
	start := d.off
	n := d.varint(field)
	if n <= uint64(max) && n*uint64(minSize) <= uint64(d.left()) {
		return int(n) // 0 after a failure
	}
	if d.ok() {
		if n > uint64(max) {
			d.off = start
			d.fault(field, ErrTooMany)
		} else {
			d.fault(field, io.ErrUnexpectedEOF)
		}
	}
	return 0
}

// varBytes reads a CompactSize length followed by that many bytes (aliased).
func (d *decoder) varBytes(field string, max int) []byte {
	if i := d.off; i < len(d.buf) {
		// Fast path: a one-byte length whose bytes are all present.
		if n := int(d.buf[i]); n < 0xfd && n <= max && n <= len(d.buf)-i-1 {
			d.off = i + 1 + n
			if n == 0 {
				return nil
			}
			return d.buf[i+1 : i+1+n : i+1+n]
		}
	}
	return d.varBytesLong(field, max)
}

func (d *decoder) varBytesLong(field string, max int) []byte {
	n := d.countLong(field, max, 1)
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
