package interop

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared holds what is the same for every test and benchmark in one run of
// the test binary: the programs built from the current tree, in a directory
// that TestMain makes and removes. It is written once, by buildBinaries.
var shared struct {
	dir string

	buildOnce            sync.Once
	btcd, renga          string
	buildSkip, buildFail string
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
