// Package secp is Renga's only door to secp256k1: private and public keys,
// ECDSA signing and verification, and the two DER signature encodings Bitcoin's
// consensus knows. No curve arithmetic is written here: it comes from
// github.com/decred/dcrd/dcrec/secp256k1/v4 (pure Go) and, in the cgo build,
// from Bitcoin Core's libsecp256k1, so that the rest of Renga depends on this
// small API, not on either library.
//
// # Verification
//
// Verification follows Bitcoin Core's CPubKey::Verify exactly, because it is
// consensus, and every rule of it is applied here, in Go, before a library is
// called, so that the two libraries' parsers never decide anything:
//
//   - the public key: the prefix decides the length (02/03: 33 bytes,
//     04/06/07: 65), coordinates must be below the field prime, and a hybrid
//     key (06/07, valid for consensus as in Core) must carry the parity of y
//     its prefix claims; it is then handed over as 04. Only the on-curve test
//     (and decompression) is left to the library, being arithmetic.
//   - the signature: Core's lax DER parser ([ParseDERLax], which tolerates the
//     encoding violations found in blocks before BIP66); R or S zero, of more
//     than 32 significant bytes or not below the group order never verifies;
//     S above n/2 is replaced by n-S (Core's secp256k1_ecdsa_signature_normalize),
//     so high-S signatures verify — low S is relay policy, [IsLowS] — and
//     libsecp256k1, which rejects high S, is given (r, s) only in that form,
//     as 64 compact bytes.
//
// Whether a signature must be strict DER is decided by the script rules with
// [IsStrictDER] (BIP66), before verification.
//
// # Two builds
//
// The build decides which library verifies ([DefaultVerifier], which [Verify]
// uses; `renga version` prints its name):
//
//	cgo enabled, no purego tag   libsecp256k1 (through pkg-config libsecp256k1, 0.2.0 or later;
//	                             Debian/Ubuntu: apt-get install libsecp256k1-dev pkg-config)
//	CGO_ENABLED=0 or -tags purego   dcrd, pure Go, needs nothing installed
//
// With cgo on and the library missing, the build fails at pkg-config: install
// the library or build with CGO_ENABLED=0. The Go tool turns cgo off by itself
// where there is no C compiler. The cgo build still contains dcrd, the
// reference: [Verifiers] lists both, and the tests, benchmarks and
// fuzz/secpdiff's differential target run each of them on the same inputs.
// CI runs crypto/secp's and chain's tests in both builds (the pure-Go one with
// CGO_ENABLED=0). A verification in the cgo build is one cgo call that
// allocates nothing, using libsecp256k1's read-only secp256k1_context_static:
// there is no context to create or share.
//
// # Signing
//
// Signing always uses dcrd (it is not on any hot path), is deterministic
// (RFC 6979) and always produces strict, low-S DER.
//
// Everything here is safe for concurrent use. Keys are values; a PrivateKey
// should be zeroed with Zero when no longer needed.
package secp
