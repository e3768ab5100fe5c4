package kernel

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// EnvKernel is the environment variable that overrides calibration in [Select].
const EnvKernel = "RENGA_KERNEL"

// CalibrationTime is how long [Select] times each available kernel.
const CalibrationTime = 20 * time.Millisecond

// Errors returned by [Lookup] and [Select].
var (
	ErrUnknownKernel     = errors.New("kernel: unknown kernel")
	ErrKernelUnavailable = errors.New("kernel: kernel not available on this CPU or build")
)

// Kernel is one implementation of the scan: an entry of the table returned by
// [Kernels]. Kernel values are immutable and safe to use from many goroutines.
type Kernel struct {
	// Name is how [Lookup] and $RENGA_KERNEL refer to the kernel.
	Name string
	// Lanes is how many nonces the kernel hashes side by side; ranges are
	// processed in steps of Lanes, the last step masked.
	Lanes int
	// Available reports whether this build and CPU can run the kernel. Scan on
	// an unavailable kernel panics.
	Available bool
	// Requires names the CPU features the kernel needs ("" for none).
	Requires string
	// Chunk is the suggested count for one [Kernel.Scan] call: about 4 ms of work
	// at the rate measured on the development machine (see the package
	// comment), so that a worker checks for cancellation every few milliseconds.
	Chunk uint32

	scan func(j *Job, start, count uint32, hits []uint32) (int, uint32)
}

// Scan hashes the headers of j with nonces start, start+1, …, start+count−1 in
// that order and writes to hits every nonce whose [Top32] is at most j.Filter.
//
// The range never wraps: a count that would go past nonce 0xffffffff is cut there.
// Scan stops early when hits is full, right after the nonce that filled it. It
// returns the number of hits written and the number of nonces scanned, so the
// caller resumes at start+scanned; scanned < count only when n == len(hits).
// With an empty hits or a zero count nothing is scanned. Scan does not allocate.
func (k Kernel) Scan(j *Job, start, count uint32, hits []uint32) (n int, scanned uint32) {
	if !k.Available {
		panic("kernel: Scan on unavailable kernel " + k.Name)
	}
	if left := 1<<32 - uint64(start); uint64(count) > left {
		count = uint32(left)
	}
	if count == 0 || len(hits) == 0 {
		return 0, 0
	}
	return k.scan(j, start, count, hits)
}

// kernels is the table, slowest first. The generic kernel is always built;
// per-architecture files append to it at init.
var kernels = []Kernel{{
	Name:      "generic",
	Lanes:     1,
	Available: true,
	Chunk:     1 << 13,
	scan:      scanGeneric,
}}

// Kernels returns every kernel this build knows, available or not, slowest first.
func Kernels() []Kernel { return slices.Clone(kernels) }

// Available returns the kernels this build and CPU can run, slowest first.
func Available() []Kernel {
	var ks []Kernel
	for _, k := range kernels {
		if k.Available {
			ks = append(ks, k)
		}
	}
	return ks
}

// Lookup returns the kernel with the given name. The error wraps
// [ErrUnknownKernel] for a name not in the table and [ErrKernelUnavailable] for a
// kernel this CPU or build cannot run.
func Lookup(name string) (Kernel, error) {
	for _, k := range kernels {
		if k.Name != name {
			continue
		}
		if !k.Available {
			return Kernel{}, fmt.Errorf("%w: %s (needs %s)", ErrKernelUnavailable, name, k.Requires)
		}
		return k, nil
	}
	names := make([]string, len(kernels))
	for i, k := range kernels {
		names[i] = k.Name
	}
	return Kernel{}, fmt.Errorf("%w: %q (known: %v)", ErrUnknownKernel, name, names)
}

// Measurement is one kernel's measured scan rate.
type Measurement struct {
	Kernel Kernel
	Nonces uint64        // nonces scanned
	Time   time.Duration // time spent scanning them
}

// Rate returns nonces per second.
func (m Measurement) Rate() float64 {
	if m.Time <= 0 {
		return 0
	}
	return float64(m.Nonces) / m.Time.Seconds()
}

// Measure times k scanning a fixed job for about d (at least one chunk, after a
// warm-up chunk) on the calling goroutine. Its filter is 0, so hits are rare and
// the measurement is of hashing alone.
func Measure(k Kernel, d time.Duration) Measurement {
	var header [HeaderSize]byte
	for i := range header {
		header[i] = byte(i*131 + 7)
	}
	job := NewJob(&header, 0)
	var hits [16]uint32
	k.Scan(&job, 0, k.Chunk/4+1, hits[:]) // warm-up: page in code and tables
	var m Measurement
	m.Kernel = k
	begin := time.Now()
	start := uint32(1 << 20)
	for {
		_, scanned := k.Scan(&job, start, k.Chunk, hits[:])
		m.Nonces += uint64(scanned)
		start += scanned
		if m.Time = time.Since(begin); m.Time >= d {
			return m
		}
	}
}

// Calibrate measures every available kernel for about d each and returns the
// fastest with all the measurements, in table order.
func Calibrate(d time.Duration) (Kernel, []Measurement) {
	var ms []Measurement
	best := -1
	for _, k := range Available() {
		ms = append(ms, Measure(k, d))
		if best < 0 || ms[len(ms)-1].Rate() > ms[best].Rate() {
			best = len(ms) - 1
		}
	}
	return ms[best].Kernel, ms
}

// Select returns the kernel to mine with: the one named by $RENGA_KERNEL when
// that is set (an unknown or unavailable name is an error, never ignored), else
// the fastest found by Calibrate(CalibrationTime).
func Select() (Kernel, error) {
	if name := os.Getenv(EnvKernel); name != "" {
		k, err := Lookup(name)
		if err != nil {
			return Kernel{}, fmt.Errorf("%s: %w", EnvKernel, err)
		}
		return k, nil
	}
	k, _ := Calibrate(CalibrationTime)
	return k, nil
}
