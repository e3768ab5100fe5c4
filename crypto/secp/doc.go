// Package secp is Renga's only door to secp256k1: private and public keys,
// ECDSA signing and verification, and the two DER signature encodings Bitcoin's
// consensus knows. It wraps github.com/decred/dcrd/dcrec/secp256k1/v4 (no curve
// arithmetic is written here) so that the rest of Renga depends on this small
// API, not on the library.
//
// Verification follows Bitcoin Core's CPubKey::Verify exactly, because it is
// consensus: a public key is accepted in compressed (33 bytes, 02/03),
// uncompressed (65 bytes, 04) or hybrid (65 bytes, 06/07) form; the signature is
// parsed with Core's lax DER parser ([ParseDERLax], which tolerates the
// encoding violations found in blocks before BIP66); S is normalized to the low
// half before the check, so high-S signatures verify (low S is relay policy,
// [IsLowS]). Whether a signature must be strict DER is decided by the script
// rules with [IsStrictDER] (BIP66), before verification.
//
// Signing is deterministic (RFC 6979) and always produces strict, low-S DER.
//
// Everything here is safe for concurrent use. Keys are values; a PrivateKey
// should be zeroed with Zero when no longer needed.
package secp
