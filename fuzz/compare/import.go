package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/renga-p2p/renga/fuzz/realdata"
)

// importResult is one process's wall time and peak resident memory.
type importResult struct {
	wall time.Duration
	rss  int64 // bytes
}

// runProcess runs a command to completion and measures it, through a fresh
// copy of this program (see spawnMeasured): the peak resident memory the
// kernel reports for a child (ru_maxrss) includes its parent's resident
// memory at the fork, and this process holds the wire benchmarks' blocks
// (about 90 MB), which was reported as every importer's peak.
func runProcess(name string, args ...string) (importResult, error) {
	self, err := os.Executable()
	if err != nil {
		return importResult{}, err
	}
	cmd := exec.Command(self, append([]string{spawnFlag, name}, args...)...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		return importResult{}, fmt.Errorf("%s: %v\n%s", filepath.Base(name), err, errs.Bytes())
	}
	var r struct{ WallNs, RSS int64 }
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return importResult{}, fmt.Errorf("%s: measurement %q: %v", filepath.Base(name), out.Bytes(), err)
	}
	return importResult{wall: time.Duration(r.WallNs), rss: r.RSS}, nil
}

// spawnFlag, as the first argument, makes this program spawnMeasured.
const spawnFlag = "-spawn-measured"

// spawnMeasured runs the command args as this small process's child and
// prints its wall time and peak resident memory as JSON on stdout (its
// output goes to stderr). Started fresh, this process is a few megabytes,
// far below any importer's peak, so the child's ru_maxrss is its own.
func spawnMeasured(args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	// Maxrss is in KiB on Linux.
	fmt.Printf(`{"WallNs":%d,"RSS":%d}`, wall.Nanoseconds(), ru.Maxrss*1024)
	return 0
}

// compareImport imports mainnet blocks 0–14131 into fresh directories with
// `renga import` and with btcd, each a fresh process, alternating, and prints
// the medians. btcd runs twice over: with full validation through btcd's own
// blockchain package (cmd/btcdimport: BFNone, no checkpoints, every signature
// checked afterwards) — the fair comparison — and as its stock addblock tool,
// which skips scripts (BFFastAdd), for reference. With pureGo, renga is also
// built with CGO_ENABLED=0 (signatures verified by dcrd instead of
// libsecp256k1) and imports alongside, and the two builds' ratio is printed.
func compareImport(count int, pureGo bool) error {
	file, err := realdata.MainnetBlocksFile()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "renga-compare-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // a temporary directory
	// btcd's addblock stops at the zero padding of the pre-allocated file
	// ("network mismatch"): every importer gets the same copy without it.
	file, err = trimmedCopy(file, filepath.Join(tmp, "blk_0_to_14131.dat"))
	if err != nil {
		return err
	}
	bin := func(name string) string { return filepath.Join(tmp, name) }
	builds := []*exec.Cmd{
		exec.Command("go", "build", "-o", bin("renga"), "github.com/renga-p2p/renga/cmd/renga"),
		exec.Command("go", "build", "-o", bin("btcdimport"), "./cmd/btcdimport"),
		exec.Command("go", "install", "github.com/btcsuite/btcd/cmd/addblock@v0.26.2"),
	}
	builds[2].Env = append(os.Environ(), "GOBIN="+tmp)
	if pureGo {
		b := exec.Command("go", "build", "-o", bin("renga-purego"), "github.com/renga-p2p/renga/cmd/renga")
		b.Env = append(os.Environ(), "CGO_ENABLED=0")
		builds = append(builds, b)
	}
	for _, b := range builds {
		if out, err := b.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v\n%s", b.Args, err, out)
		}
	}
	// Say which verifier each renga has; with pureGo the two must differ.
	rengas := []string{bin("renga")}
	if pureGo {
		rengas = append(rengas, bin("renga-purego"))
	}
	var verifiers []string
	for _, r := range rengas {
		out, err := exec.Command(r, "version").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s version: %v\n%s", r, err, out)
		}
		fmt.Fprintf(os.Stderr, "%s: %s", filepath.Base(r), out)
		verifiers = append(verifiers, string(out))
	}
	if pureGo && !strings.Contains(verifiers[0], "libsecp256k1") {
		return fmt.Errorf("renga was not built with libsecp256k1 (cgo off, or -tags purego?): nothing to compare the pure-Go build with")
	}
	// btcdimport proves once that btcd checked every signature.
	if out, err := exec.Command(bin("btcdimport"), "-datadir", filepath.Join(tmp, "verify"), "-in", file, "-verify").CombinedOutput(); err != nil {
		return fmt.Errorf("btcdimport -verify: %v\n%s", err, out)
	} else {
		fmt.Fprintf(os.Stderr, "btcdimport -verify: %s", out)
	}

	var renga, btcd, addblock, purego []importResult
	for i := range count {
		dir := func(who string) string { return filepath.Join(tmp, fmt.Sprintf("%s-%d", who, i)) }
		r, err := runProcess(bin("renga"), "import", "--quiet", "--network", "mainnet", "--datadir", dir("renga"), file)
		if err != nil {
			return err
		}
		if pureGo {
			p, err := runProcess(bin("renga-purego"), "import", "--quiet", "--network", "mainnet", "--datadir", dir("renga-purego"), file)
			if err != nil {
				return err
			}
			purego = append(purego, p)
		}
		b, err := runProcess(bin("btcdimport"), "-datadir", dir("btcd"), "-in", file)
		if err != nil {
			return err
		}
		a, err := runProcess(bin("addblock"), "-b", dir("addblock"), "-i", file, "-p", "0")
		if err != nil {
			return err
		}
		renga, btcd, addblock = append(renga, r), append(btcd, b), append(addblock, a)
	}
	med := func(rs []importResult) (wall, rss float64) {
		var w, m []float64
		for _, r := range rs {
			w, m = append(w, float64(r.wall.Nanoseconds())), append(m, float64(r.rss))
		}
		return median(w), median(m)
	}
	rw, rm := med(renga)
	bw, bm := med(btcd)
	aw, am := med(addblock)
	fmt.Printf("%-26s renga=%.0f btcd=%.0f speedup=%.2f renga_rss_mb=%.1f btcd_rss_mb=%.1f\n",
		"import_0_14131", rw, bw, bw/rw, rm/1e6, bm/1e6)
	fmt.Printf("%-26s renga=%.0f btcd=%.0f speedup=%.2f renga_rss_mb=%.1f btcd_rss_mb=%.1f\n",
		"import_0_14131_addblock", rw, aw, aw/rw, rm/1e6, am/1e6)
	if pureGo {
		pw, pm := med(purego)
		fmt.Printf("%-26s renga=%.0f btcd=%.0f speedup=%.2f renga_rss_mb=%.1f btcd_rss_mb=%.1f\n",
			"import_0_14131_purego", pw, bw, bw/pw, pm/1e6, bm/1e6)
		fmt.Printf("%-26s cgo=%.0f purego=%.0f speedup=%.2f\n", "import_0_14131_cgo_purego", rw, pw, pw/rw)
	}
	return nil
}

// trimmedCopy writes the records of a block file, without trailing zero
// padding, to dst.
func trimmedCopy(src, dst string) (string, error) {
	raw, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	end := 0
	for end+8 <= len(raw) && binary.LittleEndian.Uint32(raw[end:]) != 0 {
		end += 8 + int(binary.LittleEndian.Uint32(raw[end+4:]))
	}
	return dst, os.WriteFile(dst, raw[:end], 0o644)
}
