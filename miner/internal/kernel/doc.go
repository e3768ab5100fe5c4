// Package kernel holds the miner's SHA-256d nonce-scan kernels and chooses
// among them.
//
// (Draft: the full specification, with measured rates, is being written.)
package kernel

//go:generate go run -C _asm . -kernel cpuid -out ../cpuid_amd64.s -stubs ../cpuid_stub_amd64.go -pkg kernel
//go:generate go run -C _asm . -kernel avx2 -out ../avx2_amd64.s -stubs ../avx2_stub_amd64.go -pkg kernel
//go:generate go run -C _asm . -kernel shani -out ../shani_amd64.s -stubs ../shani_stub_amd64.go -pkg kernel
//go:generate go run -C _asm . -kernel avx512 -out ../avx512_amd64.s -stubs ../avx512_stub_amd64.go -pkg kernel
