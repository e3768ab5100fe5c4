package sock_test

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/renga-p2p/renga/net/sock"
)

// getInt reads an integer socket option from c.
func getInt(t *testing.T, c syscall.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt(%d, %d): %v", level, opt, gerr)
	}
	return v
}

// sysctlInt reads an integer from /proc/sys.
func sysctlInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("cannot read %s: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTCPOptions reads every option back from a listener, a dialed
// connection and the connection the listener accepted (which inherits the
// listener's). All traffic is on 127.0.0.1.
func TestTCPOptions(t *testing.T) {
	rmemMax := sysctlInt(t, "/proc/sys/net/core/rmem_max")
	wmemMax := sysctlInt(t, "/proc/sys/net/core/wmem_max")
	tests := []struct {
		name string
		opts sock.TCPOptions
		// want: keep-alive on, idle, interval, count (seconds and probes)
		keepAlive             bool
		idle, interval, count int
	}{
		{name: "defaults", opts: sock.TCPOptions{}, keepAlive: true, idle: 60, interval: 15, count: 4},
		{
			name:      "custom",
			opts:      sock.TCPOptions{KeepAliveIdle: 7 * time.Second, KeepAliveInterval: 1500 * time.Millisecond, KeepAliveCount: 3, SendBuffer: 48 << 10, ReceiveBuffer: 64 << 10},
			keepAlive: true, idle: 7, interval: 2, count: 3,
		},
		{name: "keep-alive off", opts: sock.TCPOptions{KeepAliveIdle: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := sock.ListenTCP(t.Context(), "tcp4", "127.0.0.1:0", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			accepted := make(chan *net.TCPConn, 1)
			go func() {
				c, err := ln.AcceptTCP()
				if err != nil {
					t.Error(err)
				}
				accepted <- c
			}()
			dialed, err := sock.DialTCP(t.Context(), "tcp4", ln.Addr().String(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = dialed.Close() })
			acc := <-accepted
			if acc == nil {
				return
			}
			t.Cleanup(func() { _ = acc.Close() })

			if got := getInt(t, ln, unix.SOL_SOCKET, unix.SO_REUSEADDR); got != 1 {
				t.Errorf("listener SO_REUSEADDR = %d, want 1", got)
			}
			for _, c := range []struct {
				name string
				conn syscall.Conn
			}{{"listener", ln}, {"dialed", dialed}, {"accepted", acc}} {
				check := func(opt string, level, o, want int) {
					t.Helper()
					if got := getInt(t, c.conn, level, o); got != want {
						t.Errorf("%s %s = %d, want %d", c.name, opt, got, want)
					}
				}
				check("TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
				check("SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(tt.keepAlive))
				if tt.keepAlive {
					check("TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, tt.idle)
					check("TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, tt.interval)
					check("TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, tt.count)
				}
				// socket(7): the kernel doubles the value, capped at the sysctl.
				if n := tt.opts.SendBuffer; n > 0 {
					check("SO_SNDBUF", unix.SOL_SOCKET, unix.SO_SNDBUF, 2*min(n, wmemMax))
				}
				if n := tt.opts.ReceiveBuffer; n > 0 {
					check("SO_RCVBUF", unix.SOL_SOCKET, unix.SO_RCVBUF, 2*min(n, rmemMax))
				}
			}

			// The connection works.
			if _, err := dialed.Write([]byte("verack")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 6)
			if err := acc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := acc.Read(buf); err != nil || string(buf) != "verack" {
				t.Fatalf("read %q, %v", buf, err)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestTCPOptionsInvalid: options that cannot be right fail before any socket
// is made, each naming every problem.
func TestTCPOptionsInvalid(t *testing.T) {
	tests := []struct {
		name    string
		network string
		opts    sock.TCPOptions
		want    []string // substrings of the error
	}{
		{"udp network", "udp", sock.TCPOptions{}, []string{`network "udp"`}},
		{"idle over the kernel limit", "tcp", sock.TCPOptions{KeepAliveIdle: 40000 * time.Second}, []string{"KeepAliveIdle"}},
		{"negative interval", "tcp", sock.TCPOptions{KeepAliveInterval: -time.Second}, []string{"KeepAliveInterval"}},
		{"count over the kernel limit", "tcp", sock.TCPOptions{KeepAliveCount: 128}, []string{"KeepAliveCount"}},
		{"negative buffers", "tcp", sock.TCPOptions{SendBuffer: -1, ReceiveBuffer: -1}, []string{"SendBuffer", "ReceiveBuffer"}},
		{"every problem at once", "tcp", sock.TCPOptions{KeepAliveCount: -1, KeepAliveInterval: -1, SendBuffer: 1 << 31 / 2}, []string{"KeepAliveCount", "KeepAliveInterval", "SendBuffer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, lerr := sock.ListenTCP(t.Context(), tt.network, "127.0.0.1:0", tt.opts)
			_, derr := sock.DialTCP(t.Context(), tt.network, "127.0.0.1:9", tt.opts)
			for _, err := range []error{lerr, derr} {
				if !errors.Is(err, sock.ErrInvalidOptions) {
					t.Fatalf("error %v, want ErrInvalidOptions", err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %s", err, w)
					}
				}
			}
		})
	}
	// Keep-alive off: its other fields are not looked at.
	if err := (sock.TCPOptions{KeepAliveIdle: -1, KeepAliveCount: 1000}).Validate(); err != nil {
		t.Errorf("keep-alive off with an unused count: %v", err)
	}
}

// TestDialError: a refused connection keeps its errno for errors.Is.
func TestDialError(t *testing.T) {
	ln, err := sock.ListenTCP(t.Context(), "tcp4", "127.0.0.1:0", sock.TCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil { // nothing listens there now
		t.Fatal(err)
	}
	_, err = sock.DialTCP(t.Context(), "tcp4", addr, sock.TCPOptions{})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a closed port: %v, want ECONNREFUSED", err)
	}
}
