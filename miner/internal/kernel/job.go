package kernel

import (
	"encoding/binary"
	"math/bits"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// HeaderSize is the length of a Bitcoin block header in bytes.
const HeaderSize = 80

// Job is one header template to scan: everything about the header except its
// nonce, and the filter that decides which nonces are reported.
//
// Job is a small comparable value. Kernels never modify or retain it; one Job may
// be scanned by many goroutines at once.
type Job struct {
	// Midstate is the SHA-256 state after header bytes 0..63 (version, previous
	// block hash and the first 28 bytes of the merkle root).
	Midstate [8]uint32
	// Tail holds header bytes 64..75 read as big-endian words, as SHA-256 reads
	// them: the last 4 bytes of the merkle root, the time and the bits.
	Tail [3]uint32
	// Filter selects candidates: a nonce is reported when the top 32 bits of its
	// header hash (see [Top32]) are at most Filter. [TargetFilter] gives the
	// filter that never misses a hash at or below a target.
	Filter uint32
}

// NewJob returns the job for an 80-byte header; the header's nonce field (bytes
// 76..79) is ignored.
func NewJob(header *[HeaderSize]byte, filter uint32) Job {
	return Job{
		Midstate: sha256d.Midstate(header[:64]),
		Tail: [3]uint32{
			binary.BigEndian.Uint32(header[64:]),
			binary.BigEndian.Uint32(header[68:]),
			binary.BigEndian.Uint32(header[72:]),
		},
		Filter: filter,
	}
}

// Hash returns SHA-256d of the job's header with the given nonce, in the byte
// order of [sha256d.Sum].
func (j *Job) Hash(nonce uint32) sha256d.Hash {
	state := j.digest(nonce)
	var h sha256d.Hash
	for i, w := range state {
		binary.BigEndian.PutUint32(h[4*i:], w)
	}
	return h
}

// Confirm hashes the job's header with nonce and reports whether the hash meets
// target: read both as little-endian 256-bit numbers (Bitcoin's order), hash ≤
// target. It is how a caller checks a kernel's candidate against the full target.
func (j *Job) Confirm(nonce uint32, target *sha256d.Hash) (sha256d.Hash, bool) {
	h := j.Hash(nonce)
	return h, AtMost(&h, target)
}

// AtMost reports whether h ≤ target, both read as little-endian 256-bit numbers.
func AtMost(h, target *sha256d.Hash) bool {
	for i := sha256d.Size - 1; i >= 0; i-- {
		if h[i] != target[i] {
			return h[i] < target[i]
		}
	}
	return true
}

// Top32 returns the most significant 32 bits of a hash read as a little-endian
// 256-bit number: bytes 28..31, little-endian. A kernel compares this value of
// each nonce's hash with [Job.Filter].
func Top32(h *sha256d.Hash) uint32 { return binary.LittleEndian.Uint32(h[28:]) }

// TargetFilter returns the filter for a target: [Top32] of the target. Every hash
// at or below the target passes it, so candidates are a superset of solutions
// and each must be confirmed with [Job.Confirm].
func TargetFilter(target *sha256d.Hash) uint32 { return Top32(target) }

// secondBlock returns the second SHA-256 block of the header: the tail, the
// nonce (little-endian in the header), the 0x80 padding byte and the message
// length of 640 bits.
func (j *Job) secondBlock(nonce uint32) [64]byte {
	var b [64]byte
	binary.BigEndian.PutUint32(b[0:], j.Tail[0])
	binary.BigEndian.PutUint32(b[4:], j.Tail[1])
	binary.BigEndian.PutUint32(b[8:], j.Tail[2])
	binary.LittleEndian.PutUint32(b[12:], nonce)
	b[16] = 0x80
	binary.BigEndian.PutUint64(b[56:], HeaderSize*8)
	return b
}

// digest returns the final SHA-256 state of SHA-256(SHA-256(header)), computed
// from the midstate with [sha256d.Compress]: this is the specification every
// kernel is checked against.
func (j *Job) digest(nonce uint32) [8]uint32 {
	inner := j.Midstate
	block := j.secondBlock(nonce)
	sha256d.Compress(&inner, &block)

	var outer [64]byte
	for i, w := range inner {
		binary.BigEndian.PutUint32(outer[4*i:], w)
	}
	outer[32] = 0x80
	binary.BigEndian.PutUint64(outer[56:], sha256d.Size*8)
	state := sha256d.IV
	sha256d.Compress(&state, &outer)
	return state
}

// top32 is [Top32] of the nonce's hash: the last state word, byte-swapped.
func (j *Job) top32(nonce uint32) uint32 { return bits.ReverseBytes32(j.digest(nonce)[7]) }
