package interop

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// shared holds what is the same for every test and benchmark in one run of
// the test binary: the programs built from the current tree, in a directory
// that TestMain makes and removes, written once by buildBinaries; and a count
// of BenchmarkBtcdSync's calls, so that successive calls (-count) change
// which source goes first.
var shared struct {
	dir string

	buildOnce            sync.Once
	btcd, renga          string
	buildSkip, buildFail string

	benchCalls atomic.Int64
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "renga-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
	shared.dir = dir
	code := m.Run()
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
	}
	os.Exit(code)
}
