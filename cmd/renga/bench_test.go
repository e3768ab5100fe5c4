package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/miner"
)

func availableKernels() []string {
	var names []string
	for _, k := range miner.Kernels() {
		if k.Available {
			names = append(names, k.Name)
		}
	}
	return names
}

func TestBenchJSON(t *testing.T) {
	out, _, err := runCmd(t, "bench", "--threads", "2", "--seconds", "0.04", "--runs", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if rep.CPU == "" || rep.Runs != 2 || rep.LogicalCPUs < 1 {
		t.Fatalf("report header %+v", rep)
	}
	// Where the thread's CPU time can be read (Linux), the clock and every
	// cell's cycles per nonce are reported, and agree with each other.
	measurable := coreClock() > 0
	if measurable != (rep.ClockGHz > 0) {
		t.Fatalf("clock %v GHz in the report, measurable here: %v", rep.ClockGHz, measurable)
	}
	// The baseline and every available kernel, on 1 and 2 threads, in that order.
	want := append([]string{miner.Baseline}, availableKernels()...)
	if len(rep.Results) != 2*len(want) {
		t.Fatalf("%d results, want %d", len(rep.Results), 2*len(want))
	}
	for i, r := range rep.Results {
		if r.Kernel != want[i/2] || r.Threads != 1+i%2 {
			t.Fatalf("result %d is %s on %d threads", i, r.Kernel, r.Threads)
		}
		if r.Rate <= 0 || len(r.Runs) != 2 || r.Rate != median(r.Runs) || r.PerThread != r.Rate/float64(r.Threads) {
			t.Fatalf("result %+v", r)
		}
		if (r.Threads == 1 && r.VsOne != 1) || (r.Kernel == miner.Baseline && r.VsBaseline != 1) || r.VsBaseline <= 0 {
			t.Fatalf("ratios of %+v", r)
		}
		if measurable {
			if r.PerCPUSecond <= 0 || math.Abs(r.CyclesPerNonce*r.PerCPUSecond-rep.ClockGHz*1e9) > 1e-6*rep.ClockGHz*1e9 {
				t.Fatalf("cycles per nonce of %+v with a %v GHz clock", r, rep.ClockGHz)
			}
		}
	}
}

// The rate per CPU-second counts only the measured part of each run's CPU
// time, and cycles per nonce are the clock over it.
func TestSummarizeCycles(t *testing.T) {
	cells := []*benchCell{
		{Kernel: miner.Baseline, Threads: 1, Runs: []float64{1e6}, cpu: 2 * time.Second, wall: 4 * time.Second, elapsed: 3 * time.Second, nonces: 3e6},
		{Kernel: "generic", Threads: 2, Runs: []float64{4e6}, cpu: 4 * time.Second, wall: 2 * time.Second, elapsed: 2 * time.Second, nonces: 8e6},
		{Kernel: "avx2", Threads: 1, Runs: []float64{5e6}}, // CPU time unknown
	}
	got := summarize(cells, 3e9)
	// 2 s of CPU over 4 s of wall, 3 s of it measured: 1.5 CPU-seconds.
	if got[0].PerCPUSecond != 2e6 || got[0].CyclesPerNonce != 1500 || got[0].CPUShare != 0.5 {
		t.Errorf("baseline: %+v", got[0])
	}
	if got[1].PerCPUSecond != 2e6 || got[1].CyclesPerNonce != 1500 || got[1].CPUShare != 1 || got[1].VsOne != 0 {
		t.Errorf("generic on 2 threads: %+v", got[1])
	}
	if got[2].PerCPUSecond != 0 || got[2].CyclesPerNonce != 0 {
		t.Errorf("a cell without CPU time has no cycles: %+v", got[2])
	}
	if c := summarize(cells, 0); c[0].CyclesPerNonce != 0 || c[0].PerCPUSecond != 2e6 {
		t.Errorf("without a clock: %+v", c[0])
	}
}

func TestCoreClock(t *testing.T) {
	if _, err := os.Stat("/proc/thread-self/schedstat"); err != nil {
		if hz := coreClock(); hz != 0 {
			t.Fatalf("coreClock = %v without a thread CPU clock", hz)
		}
		t.Skip("no /proc/thread-self/schedstat here: the clock is not measurable")
	}
	if hz := coreClock(); hz <= 0 {
		t.Fatalf("coreClock = %v", hz)
	}
}

// clockChain is the chain it claims: 16 alternating additions and xors of a per round.
func TestClockChain(t *testing.T) {
	x, a := uint64(1), uint64(0x9e3779b97f4a7c15)
	for range 3 * 8 {
		x = (x + a) ^ a
	}
	got := uint64(1)
	if clockChain(&got, a, 3); got != x {
		t.Fatalf("clockChain = %#x, want %#x", got, x)
	}
}

func TestSchedCPU(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"1/schedstat": "1500000000 2000 30\n",
		"2/schedstat": "250000000 7 1\n",
		"3/schedstat": "garbage\n", // unreadable: left out
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if d, ok := schedCPU(dir); !ok || d != 1750*time.Millisecond {
		t.Fatalf("schedCPU = %v, %v; want 1.75s", d, ok)
	}
	if _, ok := schedCPU(filepath.Join(dir, "missing")); ok {
		t.Fatal("schedCPU of a missing directory reported a time")
	}
}

func TestBenchTable(t *testing.T) {
	out, _, err := runCmd(t, "bench", "--threads", "1", "--seconds", "0.02", "--runs", "1", "--kernels", "generic")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cpu ", "median of 1 runs", "clock ", "kernel", "M nonces/s", "× baseline", "per cpu-s", "cyc/nonce", "stdlib", "generic", "fastest"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "avx") || strings.Contains(out, "shani") {
		t.Errorf("--kernels generic measured others:\n%s", out)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--threads", "0"},
		{"--runs", "0"},
		{"--seconds", "-1"},
		{"--kernels", "nope"},
		{"extra"},
		{"--bogus"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if _, _, err := runCmd(t, append([]string{"bench"}, args...)...); !errors.Is(err, errUsage) {
				t.Fatalf("error %v, want errUsage", err)
			}
		})
	}
}

func TestCPUModel(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"x86", "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t: sha_ni\n\nprocessor\t: 1\nmodel name\t: other\n",
			"Intel(R) Xeon(R) Processor (family 6, model 207)"},
		{"x86 without numbers", "processor\t: 0\nmodel name\t: AMD EPYC\n", "AMD EPYC"},
		{"arm", "processor\t: 0\nBogoMIPS\t: 50.00\n\nHardware\t: BCM2835\nModel\t: Raspberry Pi 4\n", "BCM2835"},
		{"nothing", "processor\t: 0\n", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got := cpuModel(path)
			if tt.want == "unknown" {
				got, _, _ = strings.Cut(got, " ") // "unknown amd64 CPU"
			}
			if got != tt.want {
				t.Fatalf("cpuModel = %q, want %q", got, tt.want)
			}
		})
	}
	if got := cpuModel(filepath.Join(dir, "missing")); !strings.HasPrefix(got, "unknown") {
		t.Fatalf("missing file: %q", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBenchStarvedWarning(t *testing.T) {
	rep := benchReport{CPU: "test", Runs: 1, Seconds: 1, Results: []benchResult{
		{Kernel: miner.Baseline, Threads: 1, Rate: 4e6, CPUShare: 1.01},
		{Kernel: miner.Baseline, Threads: 2, Rate: 4e6, CPUShare: 0.55},
		{Kernel: "generic", Threads: 1, Rate: 2e6}, // share unknown
	}}
	var out strings.Builder
	rep.print(&out)
	if !strings.Contains(out.String(), "warning  stdlib×2 (55%)") || strings.Contains(out.String(), "generic×1") {
		t.Fatalf("output:\n%s", out.String())
	}
	rep.Results[1].CPUShare = 0.95
	out.Reset()
	rep.print(&out)
	if strings.Contains(out.String(), "warning") {
		t.Fatalf("warned on a quiet run:\n%s", out.String())
	}
}

func TestProcessCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc/self/stat here")
	}
	before, ok := processCPU()
	if !ok {
		t.Fatal("cannot read this process's CPU time")
	}
	if _, err := miner.Measure(t.Context(), miner.Baseline, 1, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if after, _ := processCPU(); after <= before {
		t.Fatalf("CPU time %v after hashing, %v before", after, before)
	}
}
