package nstest_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/renga-p2p/renga/net/sock/nstest"
)

// TestEnter: inside, the test is alone in a new namespace (the host's
// interfaces are not there), and a helper started with Command is in yet
// another one.
func TestEnter(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp != 0 {
		t.Fatalf("interfaces in a new namespace = %v, want only lo, down", ifs)
	}
	nstest.LoopbackUp(t)

	mine, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	cmd := nstest.Command(t.Context(), t, "TestHelperNamespace")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var theirs string
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(line, "netns "); ok {
			theirs = strings.TrimSpace(v)
		}
	}
	if theirs == "" || theirs == mine {
		t.Fatalf("helper's namespace %q, the test's %q: want a different one\n%s", theirs, mine, out)
	}
}

// TestHelperNamespace prints the namespace it runs in, for TestEnter.
func TestHelperNamespace(t *testing.T) {
	nstest.Helper(t)
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Printf("netns %s\n", ns); err != nil {
		t.Fatal(err)
	}
}

// TestOutside: the helpers that change interfaces refuse to run in the
// host's namespace.
func TestOutside(t *testing.T) {
	if nstest.Inside() {
		t.Skip("only meaningful outside a namespace")
	}
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }() // fatalRecorder's panic
		nstest.IP(ft, "link", "set", "lo", "up")
	}()
	if !ft.failed {
		t.Fatal("nstest.IP ran in the host's namespace")
	}
}

// fatalRecorder records a Fatal instead of ending the test.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatal(args ...any) {
	f.failed = true
	panic("fatal")
}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}
