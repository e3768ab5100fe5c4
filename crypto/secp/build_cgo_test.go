//go:build cgo && !purego

package secp

// The cgo build has both verifiers, libsecp256k1 as the default, and its
// one cgo call per verification allocates nothing.
const (
	wantVerifiers   = "dcrd libsecp256k1"
	maxVerifyAllocs = 0
)
