package secp

import (
	"bytes"
	"slices"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// A Verifier is one implementation of the curve arithmetic behind [Verify].
// Every Verifier runs the same Renga front end (the key encoding rules of
// [ParsePublicKey], [ParseDERLax], the zero and low-S rules of
// [Signature.Verify]) and differs only in the library that does the
// arithmetic, so all of them accept and reject the same inputs; the tests and
// fuzz/secpdiff hold them to that.
type Verifier struct {
	// Name is the library: "dcrd" or "libsecp256k1".
	Name string
	// native selects curveNative (the cgo build's libsecp256k1) over
	// curveDcrd. A flag, not a func field, so that both calls are direct and
	// the buffers passed stay on the stack.
	native bool
}

// Verify is [Verify] with this verifier's arithmetic.
func (v Verifier) Verify(pubKey, der []byte, hash [32]byte) bool {
	var buf [PubKeySizeUncompressed]byte
	key, ok := checkKey(pubKey, &buf)
	if !ok {
		return false
	}
	sig, ok := ParseDERLax(der)
	if !ok {
		return false
	}
	return v.verify(key, sig, &hash)
}

// verify applies Core's rules on the parsed values before any library sees
// them: R or S zero (which is also what an overflowing value parses to) never
// verifies, and S above n/2 is replaced by n-S, as
// secp256k1_ecdsa_signature_normalize does in CPubKey::Verify. libsecp256k1's
// verify rejects high S and dcrd's accepts it; after this both see only low S.
// The curve functions may assume all of it, and that key passed [checkKey].
func (v Verifier) verify(key []byte, sig Signature, hash *[32]byte) bool {
	if sig.r.IsZero() || sig.s.IsZero() {
		return false
	}
	if sig.s.IsOverHalfOrder() {
		sig.s.Negate()
	}
	if v.native {
		return curveNative(key, &sig.r, &sig.s, hash)
	}
	return curveDcrd(key, &sig.r, &sig.s, hash)
}

// The verifiers compiled into this binary: dcrd, the pure-Go reference, first;
// native holds libsecp256k1 in the cgo build (libsecp256k1.go) and nothing in
// the pure-Go one (purego.go). The table never changes after initialization.
var verifiers = append([]Verifier{{Name: "dcrd"}}, native...)

// Verifiers returns every verifier in this binary, the pure-Go reference
// (dcrd) first and the one [Verify] uses last.
func Verifiers() []Verifier { return slices.Clone(verifiers) }

// DefaultVerifier returns the verifier [Verify] uses: libsecp256k1 in the cgo
// build, dcrd in the pure-Go one.
func DefaultVerifier() Verifier { return verifiers[len(verifiers)-1] }

// Verify reports whether der (a DER signature without its sighash byte, parsed
// laxly) is a valid signature of hash by the public key pubKey (in any form
// ParsePublicKey accepts). It is Bitcoin Core's CPubKey::Verify: any failure
// (bad key, unparsable signature, wrong signature) is simply false. It uses
// [DefaultVerifier].
func Verify(pubKey, der []byte, hash [32]byte) bool {
	return DefaultVerifier().Verify(pubKey, der, hash)
}

// Verify checks the signature against a key and hash with [DefaultVerifier],
// with S normalized to the lower half first (as Core does), so both S and n-S
// verify.
func (sig Signature) Verify(key PublicKey, hash [32]byte) bool {
	return DefaultVerifier().verify(key.Uncompressed(), sig, &hash)
}

// Sizes of the serialized public key forms.
const (
	PubKeySizeCompressed   = 33
	PubKeySizeUncompressed = 65
)

// fieldPrime is p = 2^256 - 2^32 - 977, big-endian: a coordinate must be below it.
var fieldPrime = [32]byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xfc, 0x2f,
}

// checkKey applies every rule about a serialized public key that needs no
// curve arithmetic, the union of Core's CPubKey::IsValid and what
// secp256k1_ec_pubkey_parse checks before its on-curve test (dcrd's
// ParsePubKey checks the same):
//
//   - the prefix decides the length: 02/03 → 33 bytes, 04/06/07 → 65;
//   - x (and y) below the field prime;
//   - a hybrid key (06/07, accepted by consensus: Core's lax path parses it)
//     has the parity of y its prefix claims.
//
// It returns the key in the only two forms the libraries are then given:
// compressed as it came, or uncompressed with prefix 04 (a hybrid key is
// rewritten into buf, so neither library's hybrid handling is relied on).
func checkKey(b []byte, buf *[PubKeySizeUncompressed]byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	switch b[0] {
	case 2, 3:
		if len(b) != PubKeySizeCompressed || !belowPrime(b[1:33]) {
			return nil, false
		}
		return b, true
	case 4, 6, 7:
		if len(b) != PubKeySizeUncompressed || !belowPrime(b[1:33]) || !belowPrime(b[33:65]) {
			return nil, false
		}
		if b[0] == 4 {
			return b, true
		}
		if b[0]&1 != b[64]&1 { // 06: y even, 07: y odd
			return nil, false
		}
		copy(buf[:], b)
		buf[0] = 4
		return buf[:], true
	}
	return nil, false
}

func belowPrime(coord []byte) bool { return bytes.Compare(coord, fieldPrime[:]) < 0 }

// curveDcrd is the pure-Go arithmetic.
func curveDcrd(key []byte, r, s *secp256k1.ModNScalar, hash *[32]byte) bool {
	pub, err := secp256k1.ParsePubKey(key)
	if err != nil {
		return false // not on the curve: checkKey has ruled out everything else
	}
	return ecdsa.NewSignature(r, s).Verify(hash[:], pub)
}
