package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/renga-p2p/renga/miner"
)

func runBench(ctx context.Context, args []string, io stdio) error {
	fs := newFlags(io, "bench", "[flags]",
		"Measure the mining rate of every SHA-256d kernel this CPU can run, on 1 to --threads\n"+
			"threads at once, and in the same run the baseline loop sha256.Sum256(sha256.Sum256(header))\n"+
			"of Go's crypto/sha256 on as many threads. Each cell of the table is the median of --runs\n"+
			"short runs, taken in turns across all cells so that a passing disturbance (another process,\n"+
			"a frequency change) touches every cell a little rather than one a lot. \"x baseline\" is\n"+
			"the rate over the baseline's at the same number of threads, \"x 1 thread\" over the\n"+
			"same kernel's on one thread. \"cpu share\" is the CPU time the threads got over their wall\n"+
			"time: well below 1, other processes were competing for the cores and the cell reads low.\n"+
			"\"per cpu-s\" is the rate per second of CPU time the threads got, which such competition\n"+
			"does not lower. Where the clock of a core can be measured (Linux: a chain of dependent\n"+
			"one-cycle integer operations timed by the thread's own CPU time, once per run, the median\n"+
			"kept), \"cyc/nonce\" is core cycles per nonce: the clock over the rate per CPU-second,\n"+
			"comparable across machines.",
		"  renga bench\n"+
			"  renga bench --threads 4 --seconds 2 --json")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "measure on 1 to this many threads")
	seconds := fs.Float64("seconds", 1, "time spent on each cell (kernel and thread count), over all its runs")
	runs := fs.Int("runs", 5, "runs per cell; the cell shows their median")
	only := fs.String("kernels", "", "comma-separated kernels to measure (default: every available one)")
	jsonOut := fs.Bool("json", false, "print the results as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: bench takes no arguments", errUsage)
	}
	if *threads < 1 || *runs < 1 || *seconds <= 0 {
		return fmt.Errorf("%w: --threads, --runs and --seconds must be positive", errUsage)
	}
	names, err := benchKernels(*only)
	if err != nil {
		return err
	}

	var cells []*benchCell
	for _, name := range append([]string{miner.Baseline}, names...) {
		for t := 1; t <= *threads; t++ {
			cells = append(cells, &benchCell{Kernel: name, Threads: t})
		}
	}
	per := time.Duration(*seconds / float64(*runs) * float64(time.Second))
	show := newBenchProgress(io.errs, len(cells)**runs)
	var clocks []float64
	for r := range *runs {
		if hz := coreClock(); hz > 0 {
			clocks = append(clocks, hz)
		}
		for _, c := range cells {
			show.update(r, *runs, c)
			cpu0, cpuOK := processCPU()
			wall0 := time.Now()
			m, err := miner.Measure(ctx, c.Kernel, c.Threads, per)
			if err != nil {
				show.clear()
				return fmt.Errorf("bench %s on %d threads: %w", c.Kernel, c.Threads, err)
			}
			c.Runs = append(c.Runs, m.Rate())
			if cpu1, ok := processCPU(); ok && cpuOK {
				c.cpu += cpu1 - cpu0
				c.wall += time.Since(wall0)
				c.nonces += m.Nonces
				c.elapsed += m.Elapsed
			}
		}
	}
	show.clear()
	rep := benchReport{
		CPU:         cpuModel("/proc/cpuinfo"),
		LogicalCPUs: runtime.NumCPU(),
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		Seconds:     *seconds,
		Runs:        *runs,
		ClockGHz:    median(clocks) / 1e9,
	}
	rep.Results = summarize(cells, median(clocks))
	if *jsonOut {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(io.out)
	return nil
}

// benchKernels returns the kernels to measure: those named (each must be
// available) or every available one, slowest first.
func benchKernels(only string) ([]string, error) {
	var avail []string
	for _, k := range miner.Kernels() {
		if k.Available {
			avail = append(avail, k.Name)
		}
	}
	if only == "" {
		return avail, nil
	}
	var names []string
	for name := range strings.SplitSeq(only, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(avail, name) {
			return nil, fmt.Errorf("%w: kernel %q is not available here (available: %s)", errUsage, name, strings.Join(avail, ", "))
		}
		names = append(names, name)
	}
	return names, nil
}

// benchCell is one kernel on one number of threads, with the rate of each run.
type benchCell struct {
	Kernel    string
	Threads   int
	Runs      []float64     // nonces per second
	cpu, wall time.Duration // process CPU time and wall time of the runs
	nonces    uint64        // nonces hashed in the runs whose CPU time is known
	elapsed   time.Duration // the measured part of their wall time
}

// benchResult is a row of the table.
type benchResult struct {
	Kernel     string  `json:"kernel"`
	Threads    int     `json:"threads"`
	Rate       float64 `json:"nonces_per_second"` // median of the runs
	PerThread  float64 `json:"per_core"`
	VsBaseline float64 `json:"vs_baseline"`   // over the baseline at the same thread count
	VsOne      float64 `json:"vs_one_thread"` // over the same kernel on one thread
	// CPUShare is the CPU time the process used over the wall time of the
	// runs times the threads: about 1 on a quiet machine (0 if unknown).
	CPUShare float64 `json:"cpu_share"`
	// PerCPUSecond is nonces per second of CPU time over all the runs (0 if
	// unknown): the rate per core that competing processes do not lower.
	PerCPUSecond float64 `json:"per_cpu_second,omitempty"`
	// CyclesPerNonce is the core clock over PerCPUSecond: the core cycles one
	// nonce costs (0 where the clock or the CPU time cannot be measured).
	CyclesPerNonce float64   `json:"cycles_per_nonce,omitempty"`
	Runs           []float64 `json:"runs"`
}

type benchReport struct {
	CPU         string  `json:"cpu"`
	LogicalCPUs int     `json:"logical_cpus"`
	GOMAXPROCS  int     `json:"gomaxprocs"`
	Seconds     float64 `json:"seconds_per_cell"`
	Runs        int     `json:"runs_per_cell"`
	// ClockGHz is the median of the core clock measured before each run (0
	// where it cannot be measured; see coreClock).
	ClockGHz float64       `json:"clock_ghz,omitempty"`
	Results  []benchResult `json:"results"`
}

// summarize takes each cell's median and the ratios, and with the core clock
// in Hz (0 if unknown) the cycles per nonce.
func summarize(cells []*benchCell, clock float64) []benchResult {
	rate := func(kernel string, threads int) float64 {
		for _, c := range cells {
			if c.Kernel == kernel && c.Threads == threads {
				return median(c.Runs)
			}
		}
		return 0
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	var out []benchResult
	for _, c := range cells {
		r := median(c.Runs)
		share, perCPU := 0.0, 0.0
		if c.wall > 0 {
			share = c.cpu.Seconds() / c.wall.Seconds() / float64(c.Threads)
		}
		if c.cpu > 0 && c.wall > 0 {
			// The CPU time covers each run's warm-up and start as well;
			// the threads hash throughout, so the measured part's share of
			// it is its share of the wall time.
			perCPU = float64(c.nonces) / (c.cpu.Seconds() * c.elapsed.Seconds() / c.wall.Seconds())
		}
		out = append(out, benchResult{
			CPUShare:       share,
			PerCPUSecond:   perCPU,
			CyclesPerNonce: ratio(clock, perCPU),
			Kernel:         c.Kernel,
			Threads:        c.Threads,
			Rate:           r,
			PerThread:      r / float64(c.Threads),
			VsBaseline:     ratio(r, rate(miner.Baseline, c.Threads)),
			VsOne:          ratio(r, rate(c.Kernel, 1)),
			Runs:           c.Runs,
		})
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r *benchReport) print(w io.Writer) {
	fmt.Fprintf(w, "cpu      %s (%d logical CPUs, GOMAXPROCS %d)\n", r.CPU, r.LogicalCPUs, r.GOMAXPROCS)
	var missing []string
	for _, k := range miner.Kernels() {
		if !k.Available {
			missing = append(missing, fmt.Sprintf("%s (needs %s)", k.Name, k.Requires))
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "absent   %s\n", strings.Join(missing, ", "))
	}
	fmt.Fprintf(w, "method   median of %d runs of %.2fs per cell, runs in turns across cells\n", r.Runs, r.Seconds/float64(r.Runs))
	if r.ClockGHz > 0 {
		fmt.Fprintf(w, "clock    %.3f GHz (dependent one-cycle operations over thread CPU time, median of %d)\n\n", r.ClockGHz, r.Runs)
	} else {
		fmt.Fprintf(w, "clock    not measurable here: no cycles per nonce\n\n")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kernel\tthreads\tM nonces/s\tper core\t× baseline\t× 1 thread\tcpu share\tper cpu-s\tcyc/nonce\t")
	var best benchResult
	for _, x := range r.Results {
		cycles := "-"
		if x.CyclesPerNonce > 0 {
			cycles = fmt.Sprintf("%.1f", x.CyclesPerNonce)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n", x.Kernel, x.Threads, x.Rate/1e6, x.PerThread/1e6, x.VsBaseline, x.VsOne, x.CPUShare, x.PerCPUSecond/1e6, cycles)
		if x.Rate > best.Rate {
			best = x
		}
	}
	_ = tw.Flush() // to the terminal or a buffer, like the Fprintf calls
	fmt.Fprintf(w, "\nfastest  %s on %d threads: %.2f M nonces/s, %.2f× the baseline\n", best.Kernel, best.Threads, best.Rate/1e6, best.VsBaseline)
	if low := r.starved(); len(low) > 0 {
		fmt.Fprintf(w, "warning  %s got less than %.0f%% of the CPU time of their threads: other processes\n"+
			"         were running; rerun on a quiet machine\n", strings.Join(low, ", "), starvedShare*100)
	}
}

// starvedShare is the CPU share below which a cell is reported as starved.
const starvedShare = 0.9

// starved lists the cells whose threads did not get the CPU to themselves.
func (r *benchReport) starved() []string {
	var low []string
	for _, x := range r.Results {
		if x.CPUShare > 0 && x.CPUShare < starvedShare {
			low = append(low, fmt.Sprintf("%s×%d (%.0f%%)", x.Kernel, x.Threads, x.CPUShare*100))
		}
	}
	return low
}

// processCPU returns the CPU time this process has used. On Linux it is the
// sum over its threads of /proc/self/task/*/schedstat (nanoseconds on a CPU);
// where that is missing, user plus system time from /proc/self/stat, in
// clock ticks of 10 ms (Linux's USER_HZ for /proc is 100 on every
// architecture). It is how bench notices other processes competing for the
// cores (its threads then get less CPU than wall time) and what the rate per
// CPU-second is measured against.
func processCPU() (time.Duration, bool) {
	if d, ok := schedCPU("/proc/self/task"); ok {
		return d, true
	}
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// schedCPU sums the time on a CPU of every thread under dir (the
// /proc/<pid>/task directory), read from each thread's schedstat. A thread
// that exits between the listing and the read is left out: its time is lost,
// which only a process that ends threads during a measurement would notice.
func schedCPU(dir string) (time.Duration, bool) {
	tasks, err := os.ReadDir(dir)
	if err != nil || len(tasks) == 0 {
		return 0, false
	}
	var sum time.Duration
	read := 0
	for _, t := range tasks {
		if d, ok := schedstat(dir + "/" + t.Name() + "/schedstat"); ok {
			sum += d
			read++
		}
	}
	return sum, read > 0
}

// schedstat returns the first field of a schedstat file: nanoseconds the
// thread has spent on a CPU.
func schedstat(path string) (time.Duration, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || ns < 0 {
		return 0, false
	}
	return time.Duration(ns), true
}

// clockOps is how many dependent operations coreClock times: about 25 ms at
// 2 GHz, long enough for the CPU time's resolution, short beside a run.
const clockOps = 50_000_000

// coreClock measures the frequency of the core it runs on, in Hz, or returns
// 0 where it cannot. It times clockChain, a chain of dependent additions and
// xors of registers, by the calling thread's own CPU time (on Linux
// /proc/thread-self/schedstat), so time the thread spends descheduled does
// not count. Every x86 and ARM core executes such a chain at exactly one
// operation per cycle: each needs the result of the one before, and neither
// an addition nor an xor of two registers takes longer than a cycle or is
// folded away by the renamer (as some cores fold additions of constants,
// which is why the chain adds a register). It is the clock the core runs
// integer code at; under wide vector code some cores run slower, which
// this cannot see.
func coreClock() float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const self = "/proc/thread-self/schedstat"
	x := uint64(1)
	clockChain(&x, 3, clockOps/160) // warm-up: let the core reach its clock
	t0, ok := schedstat(self)
	if !ok {
		return 0
	}
	clockChain(&x, 3, clockOps/16)
	t1, ok := schedstat(self)
	if !ok || t1 <= t0 {
		return 0
	}
	return float64(clockOps) / (t1 - t0).Seconds()
}

// clockChain runs n rounds of 16 dependent one-cycle operations on *p (the
// compiler keeps it in a register and emits each statement as one ADD/LEA or
// XOR of two registers; it cannot fold them, a being unknown to it). a must
// not be a constant: additions of a constant are what a renamer can fold.
//
//go:noinline
func clockChain(p *uint64, a uint64, n int) {
	x := *p
	for range n {
		x += a
		x ^= a
		x += a
		x ^= a
		x += a
		x ^= a
		x += a
		x ^= a
		x += a
		x ^= a
		x += a
		x ^= a
		x += a
		x ^= a
		x += a
		x ^= a
	}
	*p = x
}

// cpuModel returns the CPU's model name from /proc/cpuinfo (the first
// "model name", with the family and model numbers on x86, which tell apart
// what a virtual machine's generic name does not; or an ARM "Hardware" or
// "Model" line), or the architecture.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown " + runtime.GOARCH + " CPU"
	}
	defer func() { _ = f.Close() }() // read-only
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		key = strings.TrimSpace(key)
		if !ok || fields[key] != "" {
			continue // the first processor's value
		}
		fields[key] = strings.TrimSpace(value)
	}
	switch {
	case fields["model name"] != "" && fields["cpu family"] != "" && fields["model"] != "":
		return fmt.Sprintf("%s (family %s, model %s)", fields["model name"], fields["cpu family"], fields["model"])
	case fields["model name"] != "":
		return fields["model name"]
	case fields["Hardware"] != "":
		return fields["Hardware"]
	case fields["Model"] != "":
		return fields["Model"]
	}
	return "unknown " + runtime.GOARCH + " CPU"
}

// benchProgress redraws "run r/R: kernel on t threads [k/N]" in place on a
// terminal; elsewhere it prints nothing (the table is the output).
type benchProgress struct {
	w     io.Writer
	tty   bool
	total int
	done  int
}

func newBenchProgress(w io.Writer, total int) *benchProgress {
	return &benchProgress{w: w, tty: isTerminal(w), total: total}
}

func (p *benchProgress) update(run, runs int, c *benchCell) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[Kmeasuring: run %d/%d, %s on %d thread(s)  [%d/%d]", run+1, runs, c.Kernel, c.Threads, p.done+1, p.total)
	}
	p.done++
}

func (p *benchProgress) clear() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
