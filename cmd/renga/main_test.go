package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// rengaMainEnv set to 1 makes the test binary run as renga itself: the
// end-to-end tests start their nodes as processes of it.
const rengaMainEnv = "RENGA_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(rengaMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runCmd runs renga in-process with the given arguments.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errs bytes.Buffer
	err = run(t.Context(), args, stdio{out: &out, errs: &errs})
	return out.String(), errs.String(), err
}

func TestHelpListsEveryCommand(t *testing.T) {
	out, _, err := runCmd(t, "help")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if !strings.Contains(out, c.name) {
			t.Errorf("help does not list %s", c.name)
		}
	}
}

func TestUnknownCommandIsAUsageError(t *testing.T) {
	_, _, err := runCmd(t, "frobnicate")
	if !errors.Is(err, errUsage) {
		t.Fatalf("error = %v, want errUsage", err)
	}
}

func TestVersion(t *testing.T) {
	out, _, err := runCmd(t, "version")
	if err != nil || !strings.Contains(out, "protocol 70016") {
		t.Fatalf("version printed %q (%v)", out, err)
	}
	if _, _, err := runCmd(t, "version", "--bogus"); !errors.Is(err, errUsage) {
		t.Fatalf("bad flag: %v, want errUsage", err)
	}
}
