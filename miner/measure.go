package miner

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/renga-p2p/renga/miner/internal/kernel"
)

// KernelInfo describes a scan kernel; the kernels themselves are internal to
// the miner, and this is what the rest of Renga (renga bench, the node's
// logs) sees of them.
type KernelInfo struct {
	Name      string
	Lanes     int    // nonces hashed side by side
	Available bool   // this CPU and build can run it
	Requires  string // the CPU features it needs ("" for none)
}

// Kernels lists every kernel of this build, available or not, slowest first.
func Kernels() []KernelInfo {
	var out []KernelInfo
	for _, k := range kernel.Kernels() {
		out = append(out, KernelInfo{Name: k.Name, Lanes: k.Lanes, Available: k.Available, Requires: k.Requires})
	}
	return out
}

// Baseline is the name [Measure] takes for the reference loop every kernel
// is compared with: sha256.Sum256(sha256.Sum256(header)) for each nonce, the
// top 32 bits of the hash compared as a kernel does. (crypto/sha256 uses the
// SHA extensions where the CPU has them.)
const Baseline = "stdlib"

// baselineChunk is how many nonces the baseline loop hashes between checks
// for the end of a measurement: about 4 ms at its rate, as a kernel's chunk.
const baselineChunk = 1 << 14

// Measurement is the result of [Measure].
type Measurement struct {
	Kernel  string
	Threads int
	Nonces  uint64        // nonces hashed by all threads together
	Elapsed time.Duration // from the common start to the last thread's stop
}

// Rate returns nonces per second.
func (m Measurement) Rate() float64 {
	if m.Elapsed <= 0 {
		return 0
	}
	return float64(m.Nonces) / m.Elapsed.Seconds()
}

// Measure hashes with the named kernel (or [Baseline]) on threads goroutines
// at once for about d, each on its own header with a filter that almost never
// hits, and returns the total. The goroutines warm up (code and tables paged
// in), start together and stop together; a kernel call in progress at the
// end is finished and counted. It is what `renga bench` runs; ctx ends it
// early. An unknown or unavailable kernel is an error.
func Measure(ctx context.Context, name string, threads int, d time.Duration) (Measurement, error) {
	if threads < 1 {
		return Measurement{}, fmt.Errorf("miner: measure with %d threads", threads)
	}
	var scan func(j *kernel.Job, header *[kernel.HeaderSize]byte, start uint32) uint32
	if name == Baseline {
		scan = scanBaseline
	} else {
		k, err := kernel.Lookup(name)
		if err != nil {
			return Measurement{}, fmt.Errorf("miner: measure: %w", err)
		}
		scan = func(j *kernel.Job, _ *[kernel.HeaderSize]byte, start uint32) uint32 {
			var hits [maxHits]uint32
			_, scanned := k.Scan(j, start, k.Chunk, hits[:])
			return scanned
		}
	}

	var stop atomic.Bool
	begin := make(chan struct{})
	counts := make([]uint64, threads)
	var ready, wg sync.WaitGroup
	ready.Add(threads)
	for i := range threads {
		wg.Go(func() {
			var header [kernel.HeaderSize]byte
			for b := range header {
				header[b] = byte(b*131 + 7 + i*17)
			}
			j := kernel.NewJob(&header, 0)
			nonce := scan(&j, &header, 0) // warm-up
			ready.Done()
			<-begin
			var n uint64
			for !stop.Load() {
				scanned := scan(&j, &header, nonce)
				n += uint64(scanned)
				nonce += scanned
			}
			counts[i] = n
		})
	}
	ready.Wait()
	start := time.Now()
	close(begin)
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	stop.Store(true)
	wg.Wait()
	m := Measurement{Kernel: name, Threads: threads, Elapsed: time.Since(start)}
	for _, c := range counts {
		m.Nonces += c
	}
	return m, ctx.Err()
}

// scanBaseline is the reference loop over baselineChunk nonces; it reports
// the count like a kernel and keeps the comparison so that nothing is
// optimized away.
func scanBaseline(j *kernel.Job, header *[kernel.HeaderSize]byte, start uint32) uint32 {
	hits := 0
	for nonce := start; nonce != start+baselineChunk; nonce++ {
		binary.LittleEndian.PutUint32(header[76:], nonce)
		first := sha256.Sum256(header[:])
		h := sha256.Sum256(first[:])
		if binary.LittleEndian.Uint32(h[28:]) <= j.Filter {
			hits++
		}
	}
	header[0] ^= byte(hits) // a hit (rare) changes the header: fine for a measurement
	return baselineChunk
}
