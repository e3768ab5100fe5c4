package wire

import (
	"encoding/binary"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// Header is a block header. Its hash is the block's identity and its proof of work.
type Header struct {
	Version    int32
	PrevBlock  sha256d.Hash
	MerkleRoot sha256d.Hash
	Time       uint32 // seconds since the Unix epoch
	Bits       uint32 // compact difficulty target
	Nonce      uint32
}

// Put writes the 80-byte serialization of h into p.
func (h *Header) Put(p *[HeaderSize]byte) {
	binary.LittleEndian.PutUint32(p[0:], uint32(h.Version))
	copy(p[4:36], h.PrevBlock[:])
	copy(p[36:68], h.MerkleRoot[:])
	binary.LittleEndian.PutUint32(p[68:], h.Time)
	binary.LittleEndian.PutUint32(p[72:], h.Bits)
	binary.LittleEndian.PutUint32(p[76:], h.Nonce)
}

// Bytes returns the 80-byte serialization of h.
func (h *Header) Bytes() [HeaderSize]byte {
	var p [HeaderSize]byte
	h.Put(&p)
	return p
}

// AppendBinary appends the 80-byte serialization of h.
func (h *Header) AppendBinary(b []byte) ([]byte, error) {
	p := h.Bytes()
	return append(b, p[:]...), nil
}

// Hash returns the block hash: SHA-256d of the serialized header.
func (h *Header) Hash() sha256d.Hash {
	p := h.Bytes()
	return sha256d.Sum(p[:])
}

// Decode parses exactly 80 bytes.
func (h *Header) Decode(p []byte) error {
	d := newDecoder(p)
	h.decode(&d)
	return d.finish("header")
}

// SetBytes fills h from a serialized header; it cannot fail.
func (h *Header) SetBytes(p *[HeaderSize]byte) {
	h.Version = int32(binary.LittleEndian.Uint32(p[0:]))
	copy(h.PrevBlock[:], p[4:36])
	copy(h.MerkleRoot[:], p[36:68])
	h.Time = binary.LittleEndian.Uint32(p[68:])
	h.Bits = binary.LittleEndian.Uint32(p[72:])
	h.Nonce = binary.LittleEndian.Uint32(p[76:])
}

func (h *Header) decode(d *decoder) {
	p := d.bytes("header", HeaderSize)
	if p == nil {
		*h = Header{}
		return
	}
	h.SetBytes((*[HeaderSize]byte)(p))
}
