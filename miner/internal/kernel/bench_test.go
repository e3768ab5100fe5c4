package kernel

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// benchNonces is the range one benchmark iteration scans.
const benchNonces = 1 << 16

// BenchmarkKernels reports each kernel's rate in MH/s (millions of nonces per
// second) on one core, with a filter that almost never hits.
func BenchmarkKernels(b *testing.B) {
	var header [HeaderSize]byte
	for i := range header {
		header[i] = byte(i * 29)
	}
	job := NewJob(&header, 0)
	var hits [16]uint32
	for _, k := range Kernels() {
		b.Run(k.Name, func(b *testing.B) {
			if !k.Available {
				b.Skipf("kernel %s not available here (needs %s)", k.Name, k.Requires)
			}
			b.ReportAllocs()
			b.SetBytes(benchNonces * HeaderSize)
			start := uint32(0)
			for b.Loop() {
				_, scanned := k.Scan(&job, start, benchNonces, hits[:])
				start += scanned
			}
			b.ReportMetric(float64(b.N)*benchNonces/b.Elapsed().Seconds()/1e6, "MH/s")
		})
	}
}

// BenchmarkStdlib is the baseline: sha256.Sum256(sha256.Sum256(header)) for
// every nonce, the top 32 bits compared like a kernel does.
func BenchmarkStdlib(b *testing.B) {
	var header [HeaderSize]byte
	for i := range header {
		header[i] = byte(i * 29)
	}
	b.ReportAllocs()
	b.SetBytes(benchNonces * HeaderSize)
	found := 0
	nonce := uint32(0)
	for b.Loop() {
		for range benchNonces {
			binary.LittleEndian.PutUint32(header[76:], nonce)
			first := sha256.Sum256(header[:])
			h := sha256.Sum256(first[:])
			if binary.LittleEndian.Uint32(h[28:]) == 0 {
				found++
			}
			nonce++
		}
	}
	b.ReportMetric(float64(b.N)*benchNonces/b.Elapsed().Seconds()/1e6, "MH/s")
	_ = found
}
