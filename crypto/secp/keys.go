package secp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Errors.
var (
	ErrPrivateKey = errors.New("secp: invalid private key")
	ErrPublicKey  = errors.New("secp: invalid public key")
)

// PrivateKeySize is the size of a serialized private key.
const PrivateKeySize = 32

// PrivateKey is a secp256k1 private key: a scalar in [1, n-1].
type PrivateKey struct {
	k secp256k1.PrivateKey
}

// GenerateKey returns a new private key from crypto/rand.
func GenerateKey() (*PrivateKey, error) { return GenerateKeyFrom(rand.Reader) }

// GenerateKeyFrom returns a new private key read from r (for deterministic tests).
func GenerateKeyFrom(r io.Reader) (*PrivateKey, error) {
	k, err := secp256k1.GeneratePrivateKeyFromRand(r)
	if err != nil {
		return nil, fmt.Errorf("secp: generate key: %w", err)
	}
	return &PrivateKey{k: *k}, nil
}

// ParsePrivateKey reads a 32-byte big-endian scalar, which must be in [1, n-1].
func ParsePrivateKey(b []byte) (*PrivateKey, error) {
	if len(b) != PrivateKeySize {
		return nil, fmt.Errorf("%w: %d bytes", ErrPrivateKey, len(b))
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(b); overflow || s.IsZero() {
		return nil, fmt.Errorf("%w: not in [1, n-1]", ErrPrivateKey)
	}
	return &PrivateKey{k: *secp256k1.NewPrivateKey(&s)}, nil
}

// Bytes returns the 32-byte big-endian scalar.
func (p *PrivateKey) Bytes() [PrivateKeySize]byte {
	return [PrivateKeySize]byte(p.k.Serialize())
}

// PublicKey returns the key's public point.
func (p *PrivateKey) PublicKey() PublicKey { return PublicKey{p: *p.k.PubKey()} }

// Zero overwrites the key in memory.
func (p *PrivateKey) Zero() { p.k.Zero() }

// Sign returns a strict DER, low-S ECDSA signature of hash (RFC 6979 nonce).
// The sighash type byte is the caller's to append.
func (p *PrivateKey) Sign(hash [32]byte) []byte {
	return ecdsa.Sign(&p.k, hash[:]).Serialize()
}

// PublicKey is a point on secp256k1.
type PublicKey struct {
	p secp256k1.PublicKey
}

// ParsePublicKey reads a public key in any form Bitcoin Core accepts:
// compressed, uncompressed or hybrid. It accepts exactly the keys [Verify]
// accepts.
func ParsePublicKey(b []byte) (PublicKey, error) {
	var buf [PubKeySizeUncompressed]byte
	key, ok := checkKey(b, &buf)
	if !ok {
		return PublicKey{}, fmt.Errorf("%w: bad encoding (%d bytes, prefix %#x)", ErrPublicKey, len(b), first(b))
	}
	k, err := secp256k1.ParsePubKey(key)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrPublicKey, err)
	}
	return PublicKey{p: *k}, nil
}

func first(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// Compressed returns the 33-byte compressed form.
func (k PublicKey) Compressed() []byte { return k.p.SerializeCompressed() }

// Uncompressed returns the 65-byte uncompressed form.
func (k PublicKey) Uncompressed() []byte { return k.p.SerializeUncompressed() }

// Equal reports whether two keys are the same point.
func (k PublicKey) Equal(o PublicKey) bool { return k.p.IsEqual(&o.p) }
