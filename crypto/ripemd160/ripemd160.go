// Package ripemd160 implements the RIPEMD-160 hash function (Dobbertin,
// Bosselaers and Preneel, 1996), which Bitcoin uses after SHA-256 to make the
// 20-byte public key hashes in P2PKH scripts and addresses.
//
// It is written here, from the specification, because the standard library has
// no RIPEMD-160 and the design keeps dependencies few; the tests check it
// against the specification's test vectors, and the fuzz/ module compares it
// with golang.org/x/crypto/ripemd160 on arbitrary input.
package ripemd160

import (
	"encoding/binary"
	"hash"
	"math/bits"
)

// Size is the digest size in bytes; BlockSize the block size.
const (
	Size      = 20
	BlockSize = 64
)

// digest is an incremental RIPEMD-160 state.
type digest struct {
	h   [5]uint32
	buf [BlockSize]byte
	n   int    // bytes in buf
	len uint64 // total bytes written
}

// New returns a new hash.Hash computing RIPEMD-160.
func New() hash.Hash {
	d := new(digest)
	d.Reset()
	return d
}

// Sum returns the RIPEMD-160 digest of b.
func Sum(b []byte) [Size]byte {
	var d digest
	d.Reset()
	d.write(b)
	return d.sum()
}

func (d *digest) Reset() {
	d.h = [5]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}
	d.n, d.len = 0, 0
}

func (d *digest) Size() int      { return Size }
func (d *digest) BlockSize() int { return BlockSize }

// Write implements io.Writer; it never fails.
func (d *digest) Write(p []byte) (int, error) {
	d.write(p)
	return len(p), nil
}

func (d *digest) write(p []byte) {
	d.len += uint64(len(p))
	if d.n > 0 {
		c := copy(d.buf[d.n:], p)
		d.n += c
		p = p[c:]
		if d.n < BlockSize {
			return
		}
		block(&d.h, &d.buf)
		d.n = 0
	}
	for len(p) >= BlockSize {
		block(&d.h, (*[BlockSize]byte)(p))
		p = p[BlockSize:]
	}
	d.n = copy(d.buf[:], p)
}

func (d *digest) Sum(in []byte) []byte {
	c := *d // Sum does not change the running state
	s := c.sum()
	return append(in, s[:]...)
}

// sum pads the message (0x80, zeros, the length in bits as 64-bit
// little-endian) and returns the digest.
func (d *digest) sum() [Size]byte {
	bitLen := d.len << 3
	pad := [BlockSize + 8]byte{0x80}
	padLen := BlockSize - d.n
	if padLen < 9 {
		padLen += BlockSize
	}
	binary.LittleEndian.PutUint64(pad[padLen-8:], bitLen)
	d.write(pad[:padLen])
	var out [Size]byte
	for i, v := range d.h {
		binary.LittleEndian.PutUint32(out[4*i:], v)
	}
	return out
}

// The specification's tables: which message word each step reads and how far
// it rotates, for the left and the right line, and each round's constant.
var (
	wordL = [80]uint8{
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
		3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
		1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
		4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13,
	}
	wordR = [80]uint8{
		5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
		6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
		15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
		8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
		12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11,
	}
	rotL = [80]uint8{
		11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
		7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
		11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
		11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
		9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6,
	}
	rotR = [80]uint8{
		8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
		9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
		9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
		15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
		8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11,
	}
	constL = [5]uint32{0x00000000, 0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xa953fd4e}
	constR = [5]uint32{0x50a28be6, 0x5c4dd124, 0x6d703ef3, 0x7a6d76e9, 0x00000000}
)

// f is the round function of round j/16 (0..4); the right line uses them in
// the opposite order.
func f(round int, x, y, z uint32) uint32 {
	switch round {
	case 0:
		return x ^ y ^ z
	case 1:
		return x&y | ^x&z
	case 2:
		return (x | ^y) ^ z
	case 3:
		return x&z | y&^z
	default:
		return x ^ (y | ^z)
	}
}

// block runs the compression function on one 64-byte block.
func block(h *[5]uint32, p *[BlockSize]byte) {
	var x [16]uint32
	for i := range x {
		x[i] = binary.LittleEndian.Uint32(p[4*i:])
	}
	al, bl, cl, dl, el := h[0], h[1], h[2], h[3], h[4]
	ar, br, cr, dr, er := al, bl, cl, dl, el
	for j := range 80 {
		round := j / 16
		t := bits.RotateLeft32(al+f(round, bl, cl, dl)+x[wordL[j]]+constL[round], int(rotL[j])) + el
		al, el, dl, cl, bl = el, dl, bits.RotateLeft32(cl, 10), bl, t
		t = bits.RotateLeft32(ar+f(4-round, br, cr, dr)+x[wordR[j]]+constR[round], int(rotR[j])) + er
		ar, er, dr, cr, br = er, dr, bits.RotateLeft32(cr, 10), br, t
	}
	t := h[1] + cl + dr
	h[1] = h[2] + dl + er
	h[2] = h[3] + el + ar
	h[3] = h[4] + al + br
	h[4] = h[0] + bl + cr
	h[0] = t
}
