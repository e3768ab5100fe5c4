//go:build !cgo || purego

package secp

import "github.com/decred/dcrd/dcrec/secp256k1/v4"

// native is empty in the pure-Go build: dcrd is the only verifier.
var native []Verifier

// curveNative exists so that Verifier.verify compiles in both builds; no
// Verifier of this build has native set.
func curveNative(_ []byte, _, _ *secp256k1.ModNScalar, _ *[32]byte) bool {
	panic("secp: the pure-Go build has no native verifier")
}
