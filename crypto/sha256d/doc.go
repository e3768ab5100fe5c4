// Package sha256d is Bitcoin's hash: SHA-256 applied twice.
//
// [Hash] is the 32-byte result as a comparable value (usable as a map key). Bitcoin
// shows hashes byte-reversed, as if they were little-endian 256-bit numbers, so
// [Hash.String] and [ParseHash] use that order, while the array itself holds the
// bytes in the order the hash function produced them and the wire carries them.
//
// [Sum] hashes a byte slice through crypto/sha256 (which uses the CPU's SHA
// extensions where present). The midstate helpers ([Compress], [Midstate]) expose
// the SHA-256 compression function so that a miner can hash the first 64 bytes of an
// 80-byte block header once and only the last 16 bytes per nonce; they are written
// from FIPS 180-4 in plain Go, are the specification the miner's kernels are checked
// against, and are themselves pinned to crypto/sha256 by the tests.
//
// Everything here is safe for concurrent use; no function retains its arguments.
package sha256d
