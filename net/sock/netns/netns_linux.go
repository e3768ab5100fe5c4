package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespace is a network namespace held open by a file descriptor.
type Namespace struct {
	f *os.File
}

// New makes a new, empty network namespace: only a loopback interface, down.
func New() (*Namespace, error) {
	var ns *Namespace
	err := onThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("netns: unshare: %w", err)
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			return fmt.Errorf("netns: %w", err)
		}
		ns = &Namespace{f: f}
		return nil
	})
	return ns, err
}

// Do runs fn on an OS thread inside the namespace and returns its error.
// Sockets fn opens stay in the namespace; processes it starts run there.
func (ns *Namespace) Do(fn func() error) error {
	return onThrowawayThread(func() error {
		if err := unix.Setns(int(ns.f.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("netns: setns: %w", err)
		}
		return fn()
	})
}

// Start starts cmd inside the namespace. The caller waits for it with
// cmd.Wait as usual.
//
// A child's parent-death signal (SysProcAttr.Pdeathsig) fires when the
// thread that forked it exits, not the process: the thread that enters the
// namespace to start cmd therefore lives until the child exits, watching it
// with waitid(WNOWAIT), which leaves the exit status to cmd.Wait.
func (ns *Namespace) Start(cmd *exec.Cmd) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is thrown away
		if err := unix.Setns(int(ns.f.Fd()), unix.CLONE_NEWNET); err != nil {
			started <- fmt.Errorf("netns: setns: %w", err)
			return
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				return // exited, or already reaped by cmd.Wait (ECHILD)
			}
		}
	}()
	return <-started
}

// DialContext dials addr from inside the namespace.
func (ns *Namespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// IP runs the ip command with args inside the namespace.
func (ns *Namespace) IP(args ...string) error {
	return ns.Do(func() error { return runIP(args...) })
}

// Path names the namespace for `ip link set DEV netns PATH`: a path to the
// descriptor through /proc, valid while the namespace is open.
func (ns *Namespace) Path() string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), ns.f.Fd()) }

// Close lets go of the namespace; it vanishes once no process is left in it.
func (ns *Namespace) Close() error { return ns.f.Close() }

// IP runs the ip command with args in the caller's namespace.
func IP(args ...string) error { return runIP(args...) }

func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip %v: %w: %s", args, err, out)
	}
	return nil
}

// onThrowawayThread runs fn on an OS thread of its own that is never given
// back to the scheduler: a goroutine that exits while locked to its thread
// takes the thread with it, with whatever namespace fn left it in.
func onThrowawayThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- fn()
	}()
	return <-errc
}
