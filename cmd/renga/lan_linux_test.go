package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/net/api"
	"github.com/renga-p2p/renga/net/sock/netns"
	"github.com/renga-p2p/renga/net/sock/nstest"
)

// A lan is a LAN of `renga` processes for end-to-end tests: node I runs in a
// network namespace of its own whose eth0 (10.83.0.I/24, the default route)
// is joined by a veth pair to a bridge in the test's namespace. The nodes are
// this test binary run as renga (see TestMain), with the flags a user would
// give. Everything lives inside the test's private namespace (nstest.Enter).
type lan struct {
	t     *testing.T
	nodes []*lanNode
}

// lanNode is one node of a lan.
type lanNode struct {
	t       *testing.T
	index   int
	ns      *netns.Namespace
	ip      string
	veth    string
	dir     string   // --datadir
	flags   []string // given at every start
	network string

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logPath string
	client  *api.Client
}

// newLAN makes n namespaces on a bridge, br0. Call it inside nstest.Enter.
func newLAN(t *testing.T, n int) *lan {
	t.Helper()
	nstest.RequireLinkType(t, "veth")
	nstest.RequireLinkType(t, "bridge")
	nstest.LoopbackUp(t)
	for _, br := range []string{"br0", "br1"} {
		nstest.IP(t, "link", "add", br, "type", "bridge")
		nstest.IP(t, "link", "set", br, "up")
	}
	l := &lan{t: t}
	root := t.TempDir()
	for i := 1; i <= n; i++ {
		ns, err := netns.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ns.Close() })
		node := &lanNode{t: t, index: i, ns: ns, ip: fmt.Sprintf("10.83.0.%d", i), veth: fmt.Sprintf("v%d", i),
			dir: filepath.Join(root, fmt.Sprintf("node%d", i)), network: "devnet"}
		nstest.IP(t, "link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns", ns.Path())
		nstest.IP(t, "link", "set", node.veth, "master", "br0", "up")
		for _, args := range [][]string{
			{"link", "set", "lo", "up"},
			{"addr", "add", node.ip + "/24", "dev", "eth0"},
			{"link", "set", "eth0", "up"},
			{"route", "add", "default", "dev", "eth0"},
		} {
			if err := ns.IP(args...); err != nil {
				t.Fatal(err)
			}
		}
		node.logPath = filepath.Join(node.dir, "node.log")
		if err := os.MkdirAll(node.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		l.nodes = append(l.nodes, node)
		t.Cleanup(func() { node.cleanup() })
	}
	return l
}

// node returns node i (from 1).
func (l *lan) node(i int) *lanNode { return l.nodes[i-1] }

// split moves the nodes not in half to a second bridge: two LANs that
// cannot reach each other. heal puts every node back on br0.
func (l *lan) split(half ...int) {
	l.t.Helper()
	in := map[int]bool{}
	for _, i := range half {
		in[i] = true
	}
	for _, n := range l.nodes {
		if !in[n.index] {
			nstest.IP(l.t, "link", "set", n.veth, "master", "br1")
		}
	}
}

func (l *lan) heal() {
	l.t.Helper()
	for _, n := range l.nodes {
		nstest.IP(l.t, "link", "set", n.veth, "master", "br0")
	}
}

// waitFor polls cond every 200 ms until it holds or timeout passes, then
// fails the test with what cond last said.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last state: %s", what, timeout, state)
		}
		time.Sleep(200 * time.Millisecond) // polling other processes: nothing to wait on
	}
}

// start runs `renga node` in the node's namespace with its flags and extra.
func (n *lanNode) start(extra ...string) {
	n.t.Helper()
	args := append([]string{"node", "--network", n.network, "--datadir", n.dir, "--log-format", "json"}, n.flags...)
	args = append(args, extra...)
	cmd := rengaCommand(args...)
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := n.ns.Start(cmd); err != nil {
		n.t.Fatalf("node %d: %v", n.index, err)
	}
	n.cmd, n.exited, n.client = cmd, make(chan struct{}), nil
	exited := n.exited
	go func() {
		n.waitErr = cmd.Wait()
		_ = logFile.Close() // written by the child only
		close(exited)
	}()
}

// rengaCommand runs this test binary as renga (TestMain).
func rengaCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), rengaMainEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// running reports whether the node's process runs.
func (n *lanNode) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// stop stops the node as a user would (SIGTERM) and fails the test unless it
// exits cleanly within 30 s.
func (n *lanNode) stop() {
	n.t.Helper()
	if !n.running() {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM) // it runs: the signal is delivered
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
		n.t.Fatalf("node %d did not stop within 30 s of SIGTERM; log %s", n.index, n.logTail(20))
	}
	if n.waitErr != nil {
		n.t.Fatalf("node %d exited with %v; log:\n%s", n.index, n.waitErr, n.logTail(20))
	}
}

// signal sends sig to the node's process.
func (n *lanNode) signal(sig syscall.Signal) {
	n.t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatalf("node %d: %v", n.index, err)
	}
}

// cleanup kills the node if it still runs and keeps its log when the test
// failed.
func (n *lanNode) cleanup() {
	if n.running() {
		_ = n.cmd.Process.Kill() // also ends a SIGSTOP
		<-n.exited
	}
	if n.t.Failed() {
		n.t.Logf("node %d log (last lines):\n%s", n.index, n.logTail(30))
	}
}

func (n *lanNode) logTail(lines int) string {
	data, err := os.ReadFile(n.logPath)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// rpc returns a client of the node's RPC, dialled inside its namespace.
func (n *lanNode) rpc() (*api.Client, error) {
	if n.client != nil {
		return n.client, nil
	}
	p, err := chain.NetworkByName(n.network)
	if err != nil {
		return nil, err
	}
	c, err := api.NewClient("127.0.0.1:"+strconv.Itoa(int(p.RPCPort)), filepath.Join(n.dir, n.network, ".cookie"))
	if err != nil {
		return nil, err
	}
	c.SetDial(n.ns.DialContext)
	n.client = c
	return c, nil
}

// dialFrom connects to addr inside the node's namespace from the local
// address src (an address of its loopback interface, 127.0.0.0/8).
func (n *lanNode) dialFrom(src, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.ns.Do(func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	})
	return c, err
}

// call calls an RPC method and decodes the result into out.
func (n *lanNode) call(out any, method string, params ...any) error {
	c, err := n.rpc()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.CallInto(ctx, out, method, params...); err != nil {
		n.client = nil // a restarted node has a new cookie
		return err
	}
	return nil
}

// tip returns the node's height and tip hash ("" when it does not answer).
func (n *lanNode) tip() (int32, string) {
	var height int32
	var hash string
	if n.call(&height, "getblockcount") != nil || n.call(&hash, "getbestblockhash") != nil {
		return -1, ""
	}
	return height, hash
}

// peers returns the node's connection count (-1 when it does not answer).
func (n *lanNode) peers() int {
	var c int
	if n.call(&c, "getconnectioncount") != nil {
		return -1
	}
	return c
}

// mempool returns the txids in the node's mempool.
func (n *lanNode) mempool() map[string]bool {
	var ids []string
	_ = n.call(&ids, "getrawmempool") // a node that does not answer has none
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// renga runs a renga command as a process in the node's namespace, with the
// node's network and datadir for the commands that talk to a node (cli,
// wallet), and returns its standard output.
func (n *lanNode) renga(args ...string) (string, error) {
	full := args
	if args[0] == "cli" || args[0] == "wallet" {
		full = append([]string{args[0], "--network", n.network, "--datadir", n.dir}, args[1:]...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := rengaCommand(full...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := n.ns.Start(cmd); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return out.String(), fmt.Errorf("renga %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errs.String()))
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		killed := <-done
		return "", fmt.Errorf("renga %s: no answer within a minute (%v)", strings.Join(args, " "), killed)
	}
	return strings.TrimSpace(out.String()), nil
}

// logEntry is one JSON line of a node's log.
type logEntry struct {
	Time   time.Time
	Msg    string
	Fields map[string]any
}

// logEntries reads the node's log.
func (n *lanNode) logEntries() []logEntry {
	f, err := os.Open(n.logPath)
	if err != nil {
		n.t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read-only
	var out []logEntry
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		var m map[string]any
		if json.Unmarshal(s.Bytes(), &m) != nil {
			continue // a panic's stack, say: not a log line
		}
		ts, _ := m["time"].(string)
		tm, _ := time.Parse(time.RFC3339Nano, ts)
		msg, _ := m["msg"].(string)
		out = append(out, logEntry{Time: tm, Msg: msg, Fields: m})
	}
	return out
}

// rss is the node process's resident memory in bytes (0 if it cannot be read).
func (n *lanNode) rss() int64 {
	if !n.running() {
		return 0
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(n.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
