package sha256d

import (
	"encoding/binary"
	"math/bits"
)

// BlockSize is the SHA-256 block size in bytes.
const BlockSize = 64

// IV is the SHA-256 initial hash value (FIPS 180-4 §5.3.3).
var IV = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

// K holds the SHA-256 round constants (FIPS 180-4 §4.2.2): the first 32 bits of
// the fractional parts of the cube roots of the first 64 primes.
var K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// Compress applies the SHA-256 compression function to state with one 64-byte
// block, as FIPS 180-4 §6.2.2 writes it. It is the reference the miner's kernels
// are checked against, so it favours plainness over speed.
func Compress(state *[8]uint32, block *[BlockSize]byte) {
	var w [64]uint32
	for i := range 16 {
		w[i] = binary.BigEndian.Uint32(block[4*i:])
	}
	for i := 16; i < 64; i++ {
		w[i] = SmallSigma1(w[i-2]) + w[i-7] + SmallSigma0(w[i-15]) + w[i-16]
	}
	a, b, c, d, e, f, g, h := state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7]
	for i := range 64 {
		t1 := h + BigSigma1(e) + Ch(e, f, g) + K[i] + w[i]
		t2 := BigSigma0(a) + Maj(a, b, c)
		h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
	}
	state[0] += a
	state[1] += b
	state[2] += c
	state[3] += d
	state[4] += e
	state[5] += f
	state[6] += g
	state[7] += h
}

// Midstate returns the SHA-256 state after the first 64 bytes of p (for a block
// header: version, previous hash and the first 28 bytes of the merkle root). It
// panics if p is shorter than 64 bytes.
func Midstate(p []byte) [8]uint32 {
	state := IV
	Compress(&state, (*[BlockSize]byte)(p[:BlockSize]))
	return state
}

// The SHA-256 logical functions (FIPS 180-4 §4.1.2), exported so that kernels and
// their generators can be written and tested against the same definitions.

// Ch is "choose": bits of f where e is set, bits of g where it is clear.
func Ch(e, f, g uint32) uint32 { return (e & f) ^ (^e & g) }

// Maj is the bitwise majority of a, b and c.
func Maj(a, b, c uint32) uint32 { return (a & b) ^ (a & c) ^ (b & c) }

// BigSigma0 is Σ0.
func BigSigma0(x uint32) uint32 {
	return bits.RotateLeft32(x, -2) ^ bits.RotateLeft32(x, -13) ^ bits.RotateLeft32(x, -22)
}

// BigSigma1 is Σ1.
func BigSigma1(x uint32) uint32 {
	return bits.RotateLeft32(x, -6) ^ bits.RotateLeft32(x, -11) ^ bits.RotateLeft32(x, -25)
}

// SmallSigma0 is σ0, used in the message schedule.
func SmallSigma0(x uint32) uint32 { return bits.RotateLeft32(x, -7) ^ bits.RotateLeft32(x, -18) ^ x>>3 }

// SmallSigma1 is σ1, used in the message schedule.
func SmallSigma1(x uint32) uint32 {
	return bits.RotateLeft32(x, -17) ^ bits.RotateLeft32(x, -19) ^ x>>10
}
