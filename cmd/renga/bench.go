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
			"time: well below 1, other processes were competing for the cores and the cell reads low.",
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
	for r := range *runs {
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
		Results:     summarize(cells),
	}
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
	CPUShare float64   `json:"cpu_share"`
	Runs     []float64 `json:"runs"`
}

type benchReport struct {
	CPU         string        `json:"cpu"`
	LogicalCPUs int           `json:"logical_cpus"`
	GOMAXPROCS  int           `json:"gomaxprocs"`
	Seconds     float64       `json:"seconds_per_cell"`
	Runs        int           `json:"runs_per_cell"`
	Results     []benchResult `json:"results"`
}

// summarize takes each cell's median and the ratios.
func summarize(cells []*benchCell) []benchResult {
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
		share := 0.0
		if c.wall > 0 {
			share = c.cpu.Seconds() / c.wall.Seconds() / float64(c.Threads)
		}
		out = append(out, benchResult{
			CPUShare:   share,
			Kernel:     c.Kernel,
			Threads:    c.Threads,
			Rate:       r,
			PerThread:  r / float64(c.Threads),
			VsBaseline: ratio(r, rate(miner.Baseline, c.Threads)),
			VsOne:      ratio(r, rate(c.Kernel, 1)),
			Runs:       c.Runs,
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
	fmt.Fprintf(w, "method   median of %d runs of %.2fs per cell, runs in turns across cells\n\n", r.Runs, r.Seconds/float64(r.Runs))
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kernel\tthreads\tM nonces/s\tper core\t× baseline\t× 1 thread\tcpu share\t")
	var best benchResult
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", x.Kernel, x.Threads, x.Rate/1e6, x.PerThread/1e6, x.VsBaseline, x.VsOne, x.CPUShare)
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

// processCPU returns the CPU time (user and system) this process has used,
// from /proc/self/stat, in clock ticks of 10 ms (Linux's USER_HZ for /proc
// is 100 on every architecture). It is how bench notices other processes
// competing for the cores: its threads then get less CPU than wall time.
func processCPU() (time.Duration, bool) {
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
