//go:build cgo && !purego

package secp

/*
#cgo pkg-config: libsecp256k1
#cgo noescape renga_secp_verify
#cgo nocallback renga_secp_verify
#include <secp256k1.h>

// renga_secp_verify is the whole verification in one cgo call: parse the key
// (Renga has checked its encoding; this is the on-curve test and
// decompression), load (r, s) from 64 compact bytes (Renga has checked both are
// in [1, n-1] and s <= n/2) and verify. secp256k1_context_static (0.2.0 and
// later) is a read-only constant that suffices for every call here, so there
// is no context to create, share or destroy.
static int renga_secp_verify(const unsigned char *key, size_t keylen,
                             const unsigned char *sig64, const unsigned char *hash32) {
	secp256k1_pubkey pub;
	secp256k1_ecdsa_signature sig;
	if (!secp256k1_ec_pubkey_parse(secp256k1_context_static, &pub, key, keylen)) {
		return 0;
	}
	if (!secp256k1_ecdsa_signature_parse_compact(secp256k1_context_static, &sig, sig64)) {
		return 0;
	}
	return secp256k1_ecdsa_verify(secp256k1_context_static, &sig, hash32, &pub);
}
*/
import "C"

import (
	"unsafe"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// native adds libsecp256k1 after dcrd: Verify uses it.
var native = []Verifier{{Name: "libsecp256k1", native: true}}

// curveNative is Bitcoin Core's libsecp256k1. The pointers passed are to Go
// memory holding no Go pointers and are not kept by C (noescape, nocallback),
// so the buffers stay on the stack and a call allocates nothing.
func curveNative(key []byte, r, s *secp256k1.ModNScalar, hash *[32]byte) bool {
	var rs [64]byte
	r.PutBytesUnchecked(rs[:32])
	s.PutBytesUnchecked(rs[32:])
	return C.renga_secp_verify((*C.uchar)(unsafe.Pointer(&key[0])), C.size_t(len(key)),
		(*C.uchar)(unsafe.Pointer(&rs[0])), (*C.uchar)(unsafe.Pointer(&hash[0]))) == 1
}
