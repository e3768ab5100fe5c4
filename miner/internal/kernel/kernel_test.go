package kernel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// forEachKernel runs f as a subtest for every kernel in the table; a kernel this
// CPU or build cannot run is skipped by name, never passed silently.
func forEachKernel(t *testing.T, f func(t *testing.T, k Kernel)) {
	t.Helper()
	for _, k := range Kernels() {
		t.Run(k.Name, func(t *testing.T) {
			if !k.Available {
				t.Skipf("kernel %s not available here (needs %s)", k.Name, k.Requires)
			}
			f(t, k)
		})
	}
}

func generic(t testing.TB) Kernel {
	k, err := Lookup("generic")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// result is everything a Scan call reports.
type result struct {
	hits    []uint32
	scanned uint32
}

func scan(k Kernel, j *Job, start, count uint32, size int) result {
	hits := make([]uint32, size)
	n, scanned := k.Scan(j, start, count, hits)
	return result{hits[:n], scanned}
}

func randomHeader(rng *rand.Rand) [HeaderSize]byte {
	var h [HeaderSize]byte
	for i := 0; i < HeaderSize; i += 8 {
		binary.LittleEndian.PutUint64(h[i:], rng.Uint64())
	}
	return h
}

// stdlibHash is the double SHA-256 of the whole header through crypto/sha256.
func stdlibHash(header [HeaderSize]byte, nonce uint32) sha256d.Hash {
	binary.LittleEndian.PutUint32(header[76:], nonce)
	first := sha256.Sum256(header[:])
	return sha256.Sum256(first[:])
}

// The generic kernel is the specification: pin it to crypto/sha256 hashing the
// full 80-byte header, for the hash, its top 32 bits and the candidate list.
func TestGenericMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for range 50 {
		header := randomHeader(rng)
		filter := rng.Uint32()
		job := NewJob(&header, filter)
		start := rng.Uint32()
		var want []uint32
		for i := range uint32(64) {
			h := stdlibHash(header, start+i)
			if got := job.Hash(start + i); got != h {
				t.Fatalf("Hash(%d) = %x, crypto/sha256 gives %x", start+i, got, h)
			}
			if Top32(&h) <= filter {
				want = append(want, start+i)
			}
		}
		got := scan(generic(t), &job, start, 64, 64)
		if !slices.Equal(got.hits, want) || got.scanned != 64 {
			t.Fatalf("generic scan = %v (scanned %d), crypto/sha256 gives %v", got.hits, got.scanned, want)
		}
	}
}

// Every kernel gives the generic kernel's exact answer on random jobs, filters
// and ranges, including ranges that end at nonce 0xffffffff.
func TestKernelsMatchGeneric(t *testing.T) {
	forEachKernel(t, func(t *testing.T, k Kernel) {
		rng := rand.New(rand.NewPCG(2, 2))
		for i := range 200 {
			header := randomHeader(rng)
			// Filters from "almost every nonce" to "one in 2¹²".
			filter := rng.Uint32() >> rng.IntN(13)
			job := NewJob(&header, filter)
			count := uint32(rng.IntN(300))
			start := rng.Uint32()
			if i%5 == 0 {
				start = -count // ends exactly at 0xffffffff
			}
			size := 1 + rng.IntN(int(count)+2)
			want := scan(generic(t), &job, start, count, size)
			if got := scan(k, &job, start, count, size); !equal(got, want) {
				t.Fatalf("job %d (filter %#x, start %#x, count %d, buffer %d): got %v, generic %v",
					i, filter, start, count, size, got, want)
			}
		}
	})
}

func equal(a, b result) bool { return a.scanned == b.scanned && slices.Equal(a.hits, b.hits) }

// Lane edges: counts around the lane width, ranges at the end of the nonce
// space, and the first hit (and early stop) in every lane position.
func TestLaneEdges(t *testing.T) {
	header := randomHeader(rand.New(rand.NewPCG(3, 3)))
	all := NewJob(&header, 0xffffffff) // every nonce is a candidate
	half := NewJob(&header, 0x7fffffff)
	forEachKernel(t, func(t *testing.T, k Kernel) {
		L := uint32(k.Lanes)
		for _, count := range []uint32{0, 1, L - 1, L, L + 1, 2*L - 1, 2 * L, 2*L + 1, 3*L + 5} {
			for _, start := range []uint32{0, 1000, -count, -count - 1, 0xffffffff - L/2} {
				for _, job := range []*Job{&all, &half} {
					want := scan(generic(t), job, start, count, int(count)+1)
					if got := scan(k, job, start, count, int(count)+1); !equal(got, want) {
						t.Errorf("start %#x count %d filter %#x: got %v, generic %v", start, count, job.Filter, got, want)
					}
				}
			}
		}
		// Past the end of the nonce space the range is cut, never wrapped.
		got := scan(k, &all, 0xfffffffe, 100, 100)
		if !equal(got, result{[]uint32{0xfffffffe, 0xffffffff}, 2}) {
			t.Errorf("range past 0xffffffff: got %v", got)
		}
		// A one-element buffer stops in every lane position, right after the hit.
		for p := range 2 * L {
			got := scan(k, &all, 4096+p, 4*L, 1)
			if !equal(got, result{[]uint32{4096 + p}, 1}) {
				t.Errorf("lane %d: got %v, want the first nonce and scanned 1", p, got)
			}
		}
	})
}

// With a regtest-like filter about half the nonces are candidates: a small
// buffer fills in the middle of a step. Scan must stop right after the nonce
// that filled it, and resuming there must give the whole list.
func TestEarlyStop(t *testing.T) {
	header := randomHeader(rand.New(rand.NewPCG(4, 4)))
	job := NewJob(&header, 0x7fffffff)
	const start, count = 1 << 30, 500
	want := scan(generic(t), &job, start, count, count)
	forEachKernel(t, func(t *testing.T, k Kernel) {
		for size := 1; size <= 2*k.Lanes+1; size++ {
			var all []uint32
			hits := make([]uint32, size)
			for next, left := uint32(start), uint32(count); left > 0; {
				n, scanned := k.Scan(&job, next, left, hits)
				if n < size && scanned != left {
					t.Fatalf("buffer %d: scanned %d of %d with room left", size, scanned, left)
				}
				if n == size && hits[n-1] != next+scanned-1 {
					t.Fatalf("buffer %d: full at nonce %#x but scanned to %#x", size, hits[n-1], next+scanned-1)
				}
				all = append(all, hits[:n]...)
				next += scanned
				left -= scanned
			}
			if !slices.Equal(all, want.hits) {
				t.Fatalf("buffer %d: resumed scan found %v, want %v", size, all, want.hits)
			}
		}
	})
}

// A buffer with no room scans nothing.
func TestEmptyBuffer(t *testing.T) {
	var job Job
	forEachKernel(t, func(t *testing.T, k Kernel) {
		if n, scanned := k.Scan(&job, 0, 100, nil); n != 0 || scanned != 0 {
			t.Fatalf("Scan with no buffer = %d, %d", n, scanned)
		}
	})
}

// genesis returns a genesis header with the given time, bits and nonce.
func genesis(t *testing.T, time, bits, nonce uint32) [HeaderSize]byte {
	raw, err := hex.DecodeString("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c")
	if err != nil {
		t.Fatal(err)
	}
	var h [HeaderSize]byte
	copy(h[:], raw)
	binary.LittleEndian.PutUint32(h[68:], time)
	binary.LittleEndian.PutUint32(h[72:], bits)
	binary.LittleEndian.PutUint32(h[76:], nonce)
	return h
}

// target expands compact bits into a target in hash byte order.
func target(bits uint32) sha256d.Hash {
	var t sha256d.Hash
	exp, mant := int(bits>>24), bits&0x007fffff
	for i := range 3 {
		if pos := exp - 3 + i; pos >= 0 && pos < sha256d.Size {
			t[pos] = byte(mant >> (8 * i))
		}
	}
	return t
}

// Every kernel finds the real nonces of Bitcoin's mainnet and regtest genesis
// headers, and they meet the full target.
func TestGenesis(t *testing.T) {
	tests := []struct {
		name             string
		time, bits, want uint32
		start, count     uint32
		solutions        int
		hash             string
	}{
		{"mainnet", 1231006505, 0x1d00ffff, 2083236893, 2083236893 - 1<<16 + 3, 1 << 17, 1,
			"000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"},
		{"regtest", 1296688602, 0x207fffff, 2, 0, 3, 3,
			"0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"},
	}
	for _, tt := range tests {
		header := genesis(t, tt.time, tt.bits, tt.want)
		if got := sha256d.Sum(header[:]).String(); got != tt.hash {
			t.Fatalf("%s genesis header hashes to %s, want %s", tt.name, got, tt.hash)
		}
		tgt := target(tt.bits)
		job := NewJob(&header, TargetFilter(&tgt))
		forEachKernel(t, func(t *testing.T, k Kernel) {
			if k.Name == "generic" && tt.count > 1<<12 && testing.Short() {
				t.Skip("generic over the mainnet range is slow in -short mode")
			}
			got := scan(k, &job, tt.start, tt.count, 16)
			var found []uint32
			for _, nonce := range got.hits {
				h, ok := job.Confirm(nonce, &tgt)
				if nonce == tt.want && h.String() != tt.hash {
					t.Errorf("%s: nonce %d hashes to %s, want %s", tt.name, nonce, h, tt.hash)
				}
				if ok {
					found = append(found, nonce)
				}
			}
			// Regtest's target is so easy that nonces 0 and 1 meet it too; the
			// genesis block happens to use 2.
			if !slices.Contains(found, tt.want) || len(found) > tt.solutions {
				t.Errorf("%s: candidates %v confirm %v, want %d among at most %d", tt.name, got.hits, found, tt.want, tt.solutions)
			}
		})
	}
}

// Over a few million nonces with a filter of one in 2²⁰, no kernel misses a
// candidate or reports a false one.
func TestLargeRange(t *testing.T) {
	count := uint32(1 << 22)
	if testing.Short() {
		count = 1 << 18
	}
	header := randomHeader(rand.New(rand.NewPCG(5, 5)))
	job := NewJob(&header, 0x00000fff)
	const start = 0x12345678
	want := scan(generic(t), &job, start, count, 1024)
	if len(want.hits) == 0 && count == 1<<22 {
		t.Fatal("the test job has no candidates in its range; pick another")
	}
	forEachKernel(t, func(t *testing.T, k Kernel) {
		if got := scan(k, &job, start, count, 1024); !equal(got, want) {
			t.Fatalf("got %v, generic %v", got, want)
		}
	})
}

// FuzzKernels compares every available kernel with the generic one on fuzzed
// jobs, ranges and buffer sizes.
func FuzzKernels(f *testing.F) {
	f.Add(make([]byte, HeaderSize), uint32(0x7fffffff), uint32(0), uint16(100), uint8(7))
	f.Add(make([]byte, HeaderSize), uint32(0xffffffff), uint32(0xffffff00), uint16(300), uint8(255))
	g := generic(f)
	f.Fuzz(func(t *testing.T, raw []byte, filter, start uint32, count uint16, size uint8) {
		var header [HeaderSize]byte
		copy(header[:], raw)
		job := NewJob(&header, filter)
		want := scan(g, &job, start, uint32(count), int(size))
		for _, k := range Available() {
			if got := scan(k, &job, start, uint32(count), int(size)); !equal(got, want) {
				t.Fatalf("%s: got %v, generic %v", k.Name, got, want)
			}
		}
	})
}

func TestTable(t *testing.T) {
	ks := Kernels()
	if len(ks) == 0 || ks[0].Name != "generic" || !ks[0].Available {
		t.Fatalf("the table must start with the always-available generic kernel: %v", ks)
	}
	seen := map[string]bool{}
	for _, k := range ks {
		if seen[k.Name] || k.Lanes < 1 || k.Chunk == 0 || k.scan == nil {
			t.Errorf("bad table entry %+v", k)
		}
		seen[k.Name] = true
	}
}

func TestLookup(t *testing.T) {
	for _, k := range Kernels() {
		got, err := Lookup(k.Name)
		switch {
		case k.Available && (err != nil || got.Name != k.Name):
			t.Errorf("Lookup(%q) = %v, %v", k.Name, got.Name, err)
		case !k.Available && !errors.Is(err, ErrKernelUnavailable):
			t.Errorf("Lookup(%q) of an unavailable kernel: err = %v", k.Name, err)
		}
	}
	if _, err := Lookup("no-such-kernel"); !errors.Is(err, ErrUnknownKernel) {
		t.Errorf("Lookup of an unknown name: err = %v", err)
	}
}

func TestSelectOverride(t *testing.T) {
	for _, k := range Kernels() {
		t.Run(k.Name, func(t *testing.T) {
			t.Setenv(EnvKernel, k.Name)
			got, err := Select()
			if !k.Available {
				if !errors.Is(err, ErrKernelUnavailable) {
					t.Fatalf("Select with %s=%s (unavailable): err = %v", EnvKernel, k.Name, err)
				}
				return
			}
			if err != nil || got.Name != k.Name {
				t.Fatalf("Select with %s=%s = %q, %v", EnvKernel, k.Name, got.Name, err)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		t.Setenv(EnvKernel, "sse9")
		if _, err := Select(); !errors.Is(err, ErrUnknownKernel) {
			t.Fatalf("Select with an unknown name: err = %v", err)
		}
	})
}

// Without the override, Select calibrates and picks the kernel Calibrate
// measured fastest; every available kernel is measured.
func TestCalibrate(t *testing.T) {
	t.Setenv(EnvKernel, "")
	best, ms := Calibrate(0)
	if len(ms) != len(Available()) {
		t.Fatalf("Calibrate measured %d kernels, %d available", len(ms), len(Available()))
	}
	for _, m := range ms {
		if m.Nonces == 0 || m.Rate() <= 0 {
			t.Errorf("%s: measured %d nonces in %v", m.Kernel.Name, m.Nonces, m.Time)
		}
		if m.Rate() > 0 && m.Rate() > rateOf(ms, best.Name) {
			t.Errorf("Calibrate picked %s but %s measured faster", best.Name, m.Kernel.Name)
		}
	}
	k, err := Select()
	if err != nil || !k.Available {
		t.Fatalf("Select() = %v, %v", k.Name, err)
	}
}

func rateOf(ms []Measurement, name string) float64 {
	for _, m := range ms {
		if m.Kernel.Name == name {
			return m.Rate()
		}
	}
	return 0
}

func TestScanDoesNotAllocate(t *testing.T) {
	header := randomHeader(rand.New(rand.NewPCG(6, 6)))
	job := NewJob(&header, 0x7fffffff)
	hits := make([]uint32, 64)
	forEachKernel(t, func(t *testing.T, k Kernel) {
		if a := testing.AllocsPerRun(10, func() { k.Scan(&job, 0, 256, hits) }); a != 0 {
			t.Fatalf("Scan allocates %v times per call", a)
		}
	})
}
