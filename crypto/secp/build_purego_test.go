//go:build !cgo || purego

package secp

// The pure-Go build has dcrd alone. dcrd v4.4.1's ParsePubKey and Verify
// allocate 13 times per call (as Verify did before the front end existed);
// Renga's front end adds nothing to that.
const (
	wantVerifiers   = "dcrd"
	maxVerifyAllocs = 13
)
