package sha256d

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Size is the length of a [Hash] in bytes.
const Size = 32

// ErrHashSyntax is returned by [ParseHash] for text that is not 64 hex digits.
var ErrHashSyntax = errors.New("sha256d: hash must be 64 hexadecimal digits")

// Hash is a double SHA-256 digest in the byte order the hash function produced
// (which is also the order on the wire). The zero Hash is all zero bytes.
type Hash [Size]byte

// Sum returns SHA-256(SHA-256(b)).
func Sum(b []byte) Hash {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}

// SumPair returns SHA-256d(a || b), the merkle tree's node function, without
// building the 64-byte concatenation on the heap.
func SumPair(a, b *Hash) Hash {
	var buf [2 * Size]byte
	copy(buf[:Size], a[:])
	copy(buf[Size:], b[:])
	return Sum(buf[:])
}

// String returns the hash as Bitcoin displays it: 64 hex digits, byte-reversed.
func (h Hash) String() string {
	var rev [Size]byte
	for i := range h {
		rev[i] = h[Size-1-i]
	}
	return hex.EncodeToString(rev[:])
}

// IsZero reports whether every byte of h is zero.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText implements encoding.TextMarshaler with the display order of [Hash.String].
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what [ParseHash] accepts.
func (h *Hash) UnmarshalText(text []byte) error {
	v, err := ParseHash(string(text))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash parses the display form of a hash (64 hex digits, byte-reversed).
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*Size {
		return h, fmt.Errorf("%w: got %d characters", ErrHashSyntax, len(s))
	}
	var raw [Size]byte
	if _, err := hex.Decode(raw[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: %v", ErrHashSyntax, err)
	}
	for i := range raw {
		h[i] = raw[Size-1-i]
	}
	return h, nil
}

// MustParseHash is [ParseHash] for constants known to be valid; it panics otherwise.
func MustParseHash(s string) Hash {
	h, err := ParseHash(s)
	if err != nil {
		panic(err)
	}
	return h
}
