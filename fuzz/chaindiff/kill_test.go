package chaindiff

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
)

// buildRenga compiles the renga binary for process tests.
func buildRenga(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "renga")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/renga-p2p/renga/cmd/renga")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build renga: %v\n%s", err, out)
	}
	return bin
}

// TestImportKilled kills `renga import` with SIGKILL at random moments within
// the time an uninterrupted run takes, until 20 runs have been killed (at most
// 60 runs; four runs per data directory), reopens after every run to check
// that the store is at a state an uninterrupted import passes through (the
// same tip and UTXO set), and finishes each directory's import: it must end
// exactly where the uninterrupted one ends.
func TestImportKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes; not in -short mode")
	}
	file := filepath.Join(t.TempDir(), "blk_0_to_14131.dat")
	if err := os.WriteFile(file, mainnetBlocks(t), 0o644); err != nil {
		t.Fatal(err)
	}
	// The reference: an uninterrupted import, with the state after every
	// commit (the import commits at the end of each chunk).
	ref := map[int32]chain.UTXOStats{}
	c, err := chain.Open(t.TempDir(), chain.Mainnet, chain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.UTXOStats(); err == nil {
		ref[0] = st
	}
	raw, _ := os.ReadFile(file)
	if _, err := c.Import(t.Context(), bytes.NewReader(raw), file, func(chain.ImportProgress) {
		st, err := c.UTXOStats()
		if err != nil {
			t.Fatal(err)
		}
		ref[st.Height] = st
	}); err != nil {
		t.Fatal(err)
	}
	final, _ := c.UTXOStats()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	bin := buildRenga(t)
	rng := rand.New(rand.NewPCG(14131, uint64(time.Now().UnixNano())))
	run := func(datadir string, killAfter time.Duration) (killed bool) {
		cmd := exec.Command(bin, "import", "--quiet", "--network", "mainnet", "--datadir", datadir, file)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var timer *time.Timer
		if killAfter > 0 {
			timer = time.AfterFunc(killAfter, func() { _ = cmd.Process.Signal(syscall.SIGKILL) }) // it may have finished
		}
		err := cmd.Wait()
		if timer != nil {
			timer.Stop()
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
		if err != nil {
			t.Fatalf("renga import: %v\n%s", err, out.String())
		}
		return false
	}
	check := func(datadir string, want *chain.UTXOStats) int32 {
		c, err := chain.Open(filepath.Join(datadir, "mainnet"), chain.Mainnet, chain.Options{})
		if err != nil {
			t.Fatalf("reopen after a kill: %v", err)
		}
		defer func() {
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		}()
		st, err := c.UTXOStats()
		if err != nil {
			t.Fatal(err)
		}
		if want != nil && st != *want {
			t.Fatalf("finished import: %+v, uninterrupted import: %+v", st, *want)
		}
		if r, ok := ref[st.Height]; !ok || r != st {
			t.Fatalf("reopened at height %d with UTXO digest %s: not a state the uninterrupted import passes through", st.Height, st.Digest)
		}
		return st.Height
	}
	// How long an uninterrupted run takes, so that kills land inside it.
	start := time.Now()
	run(filepath.Join(t.TempDir(), "timing"), 0)
	window := time.Since(start)

	kills, runs, dirs := 0, 0, 0
	for kills < 20 && runs < 60 {
		datadir := filepath.Join(t.TempDir(), "d")
		dirs++
		var heights []int32
		for range 4 {
			runs++
			if run(datadir, time.Duration(rng.Int64N(int64(window)))+time.Millisecond) {
				kills++
			}
			heights = append(heights, check(datadir, nil))
		}
		run(datadir, 0)
		check(datadir, &final)
		t.Logf("data directory %d: reopened at heights %v after the kills, then finished at %d", dirs, heights, final.Height)
	}
	if kills < 20 {
		t.Fatalf("only %d of %d runs were killed before finishing", kills, runs)
	}
	t.Logf("%d of %d runs killed (window %v); every reopened state matched the uninterrupted import", kills, runs, window)
}
