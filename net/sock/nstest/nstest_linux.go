package nstest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envRole names the test a child process is to run as the one inside.
const envRole = "RENGA_NSTEST_RUN"

// maxChildTime bounds a child process when the test itself has no deadline.
const maxChildTime = 5 * time.Minute

// Enter reports whether the test runs inside its private namespace. Outside,
// it runs the test there and returns false: the caller returns at once.
func Enter(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envRole) == t.Name() {
		return true
	}
	requireIP(t)
	ctx, cancel := context.WithTimeout(t.Context(), childTime(t))
	defer cancel()
	cmd := command(ctx, t, t.Name(), true)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := start(t, cmd); err != nil {
		t.Skipf("cannot create a network namespace: %v (run as root, or allow unprivileged user namespaces)", err)
	}
	err := cmd.Wait()
	report(t, out.String(), err)
	return false
}

// Helper skips the calling test function unless this process was started by
// [Command] to run it: helpers are run only by the test that needs them.
func Helper(t *testing.T) {
	t.Helper()
	if os.Getenv(envRole) != t.Name() {
		t.Skip("helper process, run by another test in its own namespace")
	}
}

// Command returns a command that runs the test function named test (a
// helper that calls [Helper]) in a process of its own, in a new network
// namespace of its own, with env added to its environment. The caller
// starts it (with its own Stdin and Stdout, say) and waits for it; the
// process is killed when ctx is done or the calling process dies. Call it
// from inside [Enter] so that the helper's interfaces are made, and live,
// in the test's namespace rather than the host's.
func Command(ctx context.Context, t *testing.T, test string, env ...string) *exec.Cmd {
	t.Helper()
	mustInside(t, "Command")
	cmd := command(ctx, t, test, false)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// command builds the re-execution of this test binary running one test.
func command(ctx context.Context, t *testing.T, test string, verbose bool) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("nstest: %v", err)
	}
	args := []string{"-test.run=" + runPattern(test), "-test.count=1", "-test.timeout=" + childTime(t).String()}
	if verbose {
		// Always verbose: report reads the child's --- PASS and --- SKIP lines.
		args = append(args, "-test.v")
	}
	// go test -artifacts: the child keeps its t.ArtifactDir where the
	// parent would.
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		args = append(args, "-test.artifacts")
		if out := flag.Lookup("test.outputdir"); out != nil && out.Value.String() != "" {
			args = append(args, "-test.outputdir="+out.Value.String())
		}
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), envRole+"="+test)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET,
		// The namespace dies with the process: no child may outlive us.
		Pdeathsig: syscall.SIGKILL,
	}
	if os.Geteuid() != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// start starts cmd, telling a refused namespace apart from other failures.
func start(t *testing.T, cmd *exec.Cmd) error {
	err := cmd.Start()
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) {
		return err
	}
	t.Fatalf("nstest: start %s: %v", cmd.Path, err)
	return nil
}

// report passes the child's verdict on as the test's own.
func report(t *testing.T, out string, err error) {
	t.Helper()
	name := regexp.QuoteMeta(t.Name())
	switch {
	case err != nil:
		t.Fatalf("in its network namespace: %v\n%s", err, out)
	case regexp.MustCompile(`(?m)^\s*--- SKIP: ` + name + ` `).MatchString(out):
		t.Skipf("in its network namespace:\n%s", out)
	case !regexp.MustCompile(`(?m)^\s*--- PASS: ` + name + ` `).MatchString(out):
		t.Fatalf("the test did not run in its network namespace:\n%s", out)
	case testing.Verbose():
		t.Logf("in its network namespace:\n%s", out)
	}
}

// runPattern matches exactly the test named name (subtests included).
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// childTime is what is left of the test's time, less a margin to report in.
func childTime(t *testing.T) time.Duration {
	d, ok := t.Deadline()
	if !ok {
		return maxChildTime
	}
	return max(time.Until(d)*9/10, time.Second)
}

// requireIP skips the test when the ip command (iproute2) is missing.
func requireIP(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command is missing (Debian package iproute2)")
	}
}

// IP runs the ip command with args and fails the test if it fails. It
// refuses to run outside a private namespace, where it would change the
// host's interfaces.
func IP(t testing.TB, args ...string) {
	t.Helper()
	mustInside(t, "IP")
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// WaitLinkUp waits until the link dev carries packets: its operational
// state is up and, if it is a bridge port, the port forwards. A veth's
// carrier reaches the kernel's link watcher asynchronously, up to a second
// later when other namespaces are busy; a datagram sent before that is
// dropped, and a UDP test would wait for it in vain.
func WaitLinkUp(t testing.TB, dev string) {
	t.Helper()
	mustInside(t, "WaitLinkUp")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("ip", "-d", "-o", "link", "show", "dev", dev).CombinedOutput()
		if err != nil {
			t.Fatalf("ip link show dev %s: %v\n%s", dev, err, out)
		}
		s := string(out)
		up := strings.Contains(s, " state UP ") &&
			(!strings.Contains(s, "bridge_slave") || strings.Contains(s, "bridge_slave state forwarding"))
		if up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("link %s did not come up within 30s:\n%s", dev, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// LoopbackUp brings up the namespace's loopback interface, which a new
// namespace starts with down (and without 127.0.0.1 until it is up).
func LoopbackUp(t testing.TB) {
	t.Helper()
	mustInside(t, "LoopbackUp")
	IP(t, "link", "set", "lo", "up")
}

// Inside reports whether this process runs inside a namespace made by
// [Enter] or [Command]. Tests use it to refuse network set-up elsewhere.
func Inside() bool { return os.Getenv(envRole) != "" }

// mustInside fails t unless the process is inside a private namespace.
func mustInside(t testing.TB, what string) {
	t.Helper()
	if !Inside() {
		t.Fatalf("nstest.%s called outside a private namespace", what)
	}
}

// RequireLinkType skips the test when the kernel cannot make links of the
// given type ("veth", "bridge"): a module the machine does not have. It
// makes one, named nstest-probe, and deletes it again.
func RequireLinkType(t testing.TB, kind string) {
	t.Helper()
	mustInside(t, "RequireLinkType")
	out, err := exec.Command("ip", "link", "add", "nstest-probe", "type", kind).CombinedOutput()
	if err != nil {
		t.Skipf("the kernel cannot make %s links: ip: %v: %s", kind, err, bytes.TrimSpace(out))
	}
	IP(t, "link", "del", "nstest-probe")
}
