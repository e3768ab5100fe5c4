package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	// stopGrace is how long a process has to exit after SIGINT before it is
	// killed.
	stopGrace = 10 * time.Second
	// commandTimeout bounds every renga cli/wallet command and btcd RPC call.
	commandTimeout = 60 * time.Second
	// pollTick is the interval between two looks at a condition.
	pollTick = 100 * time.Millisecond
	// buildTimeout bounds each go command; from an empty build cache on a
	// busy 2-core machine, building btcd takes minutes.
	buildTimeout = 10 * time.Minute
)

// buildBinaries returns the paths of the renga binary, built from the current
// tree (a failure fails the test), and of btcd (a failure skips it). Both are
// built once per run of the test binary, into the run's shared directory (see
// TestMain), so that every test and benchmark runs the same programs.
func buildBinaries(t testing.TB) (btcd, renga string) {
	t.Helper()
	shared.buildOnce.Do(func() { shared.btcd, shared.renga, shared.buildSkip, shared.buildFail = build(t) })
	if shared.buildFail != "" {
		t.Fatal(shared.buildFail)
	}
	if shared.buildSkip != "" {
		t.Skip(shared.buildSkip)
	}
	return shared.btcd, shared.renga
}

// build builds renga and btcd into the shared directory. It returns a reason
// to skip (btcd cannot be built) or to fail (renga cannot be built) instead of
// calling Skip or Fatal, so that buildBinaries can give every later caller
// the same verdict.
func build(t testing.TB) (btcd, renga, skip, fail string) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", "", fmt.Sprintf("interop: no go command to build btcd and renga with: %v", err), ""
	}
	dir, err := os.MkdirTemp(shared.dir, "bin")
	if err != nil {
		return "", "", "", fmt.Sprintf("interop: %v", err)
	}
	renga = filepath.Join(dir, "renga")
	if out, err := goCommand(t, goBin, "", nil, "build", "-o", renga, "github.com/renga-p2p/renga/cmd/renga"); err != nil {
		return "", "", "", fmt.Sprintf("interop: go build renga: %v\n%s", err, out)
	}

	// First in this module, so that its go.mod and go.sum pin every btcd
	// dependency; that needs go.sum entries for btcd's command, which the
	// module carries only when something in it builds btcd as a tool. Then as
	// `go install btcd@V` with the version this module requires, which uses
	// btcd's own go.mod (checked against the checksum database).
	btcd = filepath.Join(dir, "btcd")
	inModule, errModule := goCommand(t, goBin, "", nil, "build", "-mod=readonly", "-o", btcd, "github.com/btcsuite/btcd")
	if errModule == nil {
		return btcd, renga, "", ""
	}
	version, err := goCommand(t, goBin, "", nil, "list", "-m", "-f", "{{.Version}}", "github.com/btcsuite/btcd")
	if err != nil {
		return "", "", fmt.Sprintf("interop: btcd cannot be built: go build in the fuzz module: %v: %s; go list -m btcd: %v: %s",
			errModule, firstLines(inModule, 3), err, firstLines(version, 3)), ""
	}
	pkg := "github.com/btcsuite/btcd@" + strings.TrimSpace(version)
	installed, errInstall := goCommand(t, goBin, dir, []string{"GOBIN=" + dir}, "install", pkg)
	if errInstall != nil {
		return "", "", fmt.Sprintf("interop: btcd cannot be built: go build in the fuzz module: %v: %s; go install %s: %v: %s",
			errModule, firstLines(inModule, 3), pkg, errInstall, firstLines(installed, 5)), ""
	}
	t.Logf("btcd built with go install %s (the fuzz module's go.sum lacks btcd's command dependencies)", pkg)
	return btcd, renga, "", ""
}

// goCommand runs the go command in dir (the package's directory when empty)
// with extra environment variables and returns its combined output.
func goCommand(t testing.TB, goBin, dir string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, " | ")
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 at the time of the
// call. All are held open together so that they differ.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("interop: free port: %v", err)
		}
		defer func() { _ = ln.Close() }()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// process is a program started by the test and stopped when the test ends.
type process struct {
	name   string
	log    string
	pid    int
	cancel context.CancelFunc // sends SIGINT (Cmd.Cancel)
	done   chan struct{}
	err    error // Wait's result, valid once done is closed
}

// startProcess starts bin with extra environment variables env and its stdout
// and stderr in logPath. At the end of the test it is stopped (see stop) if
// it is still running.
func startProcess(t testing.TB, name, logPath string, env []string, bin string, args ...string) *process {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("interop: %s log: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = stopGrace
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		cancel()
		_ = f.Close()
		t.Fatalf("interop: start %s: %v", name, err)
	}
	t.Logf("started %s (pid %d): %s %s", name, cmd.Process.Pid, filepath.Base(bin), strings.Join(args, " "))
	p := &process{name: name, log: logPath, pid: cmd.Process.Pid, cancel: cancel, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends the process SIGINT, has it killed after stopGrace if it is still
// running, and waits for it to end. It may be called more than once.
func (p *process) stop(t testing.TB) {
	t.Helper()
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(stopGrace + 5*time.Second):
		t.Errorf("interop: %s (pid %d) still running %v after it was told to stop", p.name, p.pid, stopGrace+5*time.Second)
	}
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// waitUntil polls cond every pollTick until it reports true, and fails the
// test if that takes longer than timeout or one of procs exits first. cond
// describes the state it saw, for the failure message.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() (bool, string), procs ...*process) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollTick)
	defer tick.Stop()
	start := time.Now()
	for {
		ok, state := cond()
		if ok {
			t.Logf("%s: after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		for _, p := range procs {
			if gone, err := p.exited(); gone {
				t.Fatalf("interop: %s exited (%v) while waiting for %s; last state: %s", p.name, err, what, state)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("interop: no %s within %v; last state: %s", what, timeout, state)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("interop: test ended while waiting for %s", what)
		}
	}
}

// dumpLogsOnFailure registers a cleanup that, if the test failed, prints the
// end of each log and every warning or error line of btcd's.
func dumpLogsOnFailure(t testing.TB, logs ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, path := range logs {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Logf("log %s: %v", path, err)
				continue
			}
			var notable []string
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				line := sc.Text()
				if strings.Contains(line, "[WRN]") || strings.Contains(line, "[ERR]") ||
					strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
					notable = append(notable, line)
				}
			}
			if len(notable) > 100 {
				notable = notable[len(notable)-100:]
			}
			t.Logf("=== %s: warnings and errors ===\n%s", filepath.Base(path), strings.Join(notable, "\n"))
			t.Logf("=== %s: last lines ===\n%s", filepath.Base(path), lastLines(string(data), 60))
		}
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// btcdRPC is a minimal JSON-RPC 1.0 client for btcd's HTTP server (no TLS,
// basic auth).
type btcdRPC struct {
	url, user, pass string
	client          http.Client
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("btcd rpc error %d: %s", e.Code, e.Message) }

// call calls method with params and decodes the result into result (unless it
// is nil).
func (c *btcdRPC) call(ctx context.Context, result any, method string, params ...any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("btcd %s: %w", method, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var reply struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		return fmt.Errorf("btcd %s: http %s: %w", method, resp.Status, err)
	}
	if reply.Error != nil {
		return fmt.Errorf("btcd %s: %w", method, reply.Error)
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(reply.Result, result); err != nil {
		return fmt.Errorf("btcd %s: result %s: %w", method, reply.Result, err)
	}
	return nil
}

// rengaCmd runs the renga binary's subcommands against one node's data
// directory and RPC address.
type rengaCmd struct {
	bin, datadir, rpc string
}

// run runs `renga SUB --network regtest --datadir D [--rpc R] ARGS…` and
// returns its standard output, trimmed.
func (r rengaCmd) run(ctx context.Context, sub string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	full := []string{sub, "--network", "regtest", "--datadir", r.datadir}
	if r.rpc != "" {
		full = append(full, "--rpc", r.rpc)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, r.bin, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) || ctx.Err() != nil {
			return "", fmt.Errorf("renga %s: %w: %s", strings.Join(full, " "), err, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("renga %s: %w", strings.Join(full, " "), err)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// cli calls the node's RPC METHOD through `renga cli`.
func (r rengaCmd) cli(ctx context.Context, method string, args ...string) (string, error) {
	return r.run(ctx, "cli", append([]string{method}, args...)...)
}

// cliJSON calls METHOD through `renga cli` and decodes its JSON output.
func (r rengaCmd) cliJSON(ctx context.Context, result any, method string, args ...string) error {
	out, err := r.cli(ctx, method, args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), result); err != nil {
		return fmt.Errorf("renga cli %s: output %q: %w", method, out, err)
	}
	return nil
}

// isLoopback reports whether a host:port address is on 127.0.0.0/8 or ::1.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
