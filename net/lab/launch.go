package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/renga-p2p/renga/net/node"
)

// NodeSpec is everything a launcher needs to start one node of the lab.
type NodeSpec struct {
	Index   int    // from 0; people see Index+1
	Network string // chain.Params.Name: devnet or regtest
	// Dir is the node's --datadir; the network's files are in Dir/Network.
	Dir    string
	Listen string // P2P address
	RPC    string // RPC address (on the node's loopback)
	// Connect is the only peers it dials (discovery off); nil: discovery
	// on DiscoverIface.
	Connect       []string
	DiscoverIface string
	Threads       int       // mining threads, for the RPC-driven miner
	Log           io.Writer // where its log goes
}

// Launcher starts a node.
type Launcher interface {
	// Launch starts the node spec describes, placed by nw.
	Launch(spec NodeSpec, nw Network) (Process, error)
}

// Process is a running node.
type Process interface {
	Pid() int
	// Stop asks it to stop (SIGTERM, or cancelling an in-process node).
	Stop()
	// Kill ends it at once, as SIGKILL does; ErrCannotKill in-process.
	Kill() error
	// Done is closed when it has ended; Err is then why (nil for a clean
	// stop or a kill the lab asked for).
	Done() <-chan struct{}
	Err() error
}

// ErrCannotKill: a node that runs inside this process cannot be killed
// without killing the lab.
var ErrCannotKill = errors.New("lab: an in-process node cannot be killed (run nodes as processes)")

// ExecLauncher runs each node as a process: Exe with the arguments Args
// makes from the spec (cmd/renga gives `renga node` and its flags).
type ExecLauncher struct {
	Exe  string
	Args func(NodeSpec) []string
}

// Launch implements Launcher.
func (l ExecLauncher) Launch(spec NodeSpec, nw Network) (Process, error) {
	cmd := exec.Command(l.Exe, l.Args(spec)...)
	cmd.Stdout, cmd.Stderr = spec.Log, spec.Log
	cmd.SysProcAttr = procAttr()
	if err := nw.Start(spec.Index, cmd); err != nil {
		return nil, fmt.Errorf("lab: start node %d: %w", spec.Index+1, err)
	}
	p := &execProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		var ee *exec.ExitError
		if err != nil && !p.killed && (!errors.As(err, &ee) || ee.ExitCode() != 0) {
			p.err = err
		}
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

type execProcess struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu     sync.Mutex
	killed bool
	err    error
}

func (p *execProcess) Pid() int              { return p.cmd.Process.Pid }
func (p *execProcess) Done() <-chan struct{} { return p.done }
func (p *execProcess) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // an exited process cannot be signalled: fine
}

func (p *execProcess) Kill() error {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (p *execProcess) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// InProcessLauncher runs each node inside this process through net/node,
// from the node.Config that Config makes of the spec (cmd/renga parses
// the same flags a node process would get). Only on loopback: a goroutine
// cannot live in another network namespace.
type InProcessLauncher struct {
	Config func(NodeSpec) (node.Config, error)
}

// Launch implements Launcher.
func (l InProcessLauncher) Launch(spec NodeSpec, _ Network) (Process, error) {
	cfg, err := l.Config(spec)
	if err != nil {
		return nil, fmt.Errorf("lab: node %d: %w", spec.Index+1, err)
	}
	n, err := node.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("lab: node %d: %w", spec.Index+1, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcess{cancel: cancel, done: make(chan struct{})}
	go func() {
		if err := n.Run(ctx); err != nil && !errors.Is(err, node.ErrStopRequested) {
			p.err = err
		}
		close(p.done)
	}()
	return p, nil
}

type inProcess struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // written before done closes
}

func (p *inProcess) Pid() int              { return os.Getpid() }
func (p *inProcess) Stop()                 { p.cancel() }
func (p *inProcess) Kill() error           { return ErrCannotKill }
func (p *inProcess) Done() <-chan struct{} { return p.done }
func (p *inProcess) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}
