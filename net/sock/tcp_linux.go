package sock

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenTCP listens on address (as net.Listen takes it; network is "tcp",
// "tcp4" or "tcp6") with o set on the listening socket before it binds.
// Connections it accepts inherit the options.
func ListenTCP(ctx context.Context, network, address string, o TCPOptions) (*net.TCPListener, error) {
	lc, err := listenConfig(network, o)
	if err != nil {
		return nil, err
	}
	ln, err := lc.Listen(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("sock: listen %s %s: %w", network, address, err)
	}
	return ln.(*net.TCPListener), nil
}

// DialTCP connects to address with o set on the socket before it connects.
// ctx bounds the connection attempt only.
func DialTCP(ctx context.Context, network, address string, o TCPOptions) (*net.TCPConn, error) {
	d, err := Dialer(network, o)
	if err != nil {
		return nil, err
	}
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("sock: dial %s %s: %w", network, address, err)
	}
	return c.(*net.TCPConn), nil
}

// Dialer returns a net.Dialer that sets o on every socket it dials, for a
// caller that needs the dialer's other fields (LocalAddr, say). Leave its
// KeepAlive and KeepAliveConfig alone: they would overwrite o's keep-alive.
func Dialer(network string, o TCPOptions) (*net.Dialer, error) {
	if err := tcpNetwork(network); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	return &net.Dialer{
		Control:   func(_, _ string, c syscall.RawConn) error { return control(c, o.apply(false)) },
		KeepAlive: -1, // ours are set in Control; the runtime's would replace them
	}, nil
}

func listenConfig(network string, o TCPOptions) (*net.ListenConfig, error) {
	if err := tcpNetwork(network); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	return &net.ListenConfig{
		Control:   func(_, _ string, c syscall.RawConn) error { return control(c, o.apply(true)) },
		KeepAlive: -1, // accepted sockets inherit ours; the runtime's would replace them
	}, nil
}

// apply returns the function that sets o (after withDefaults) on a TCP
// socket's descriptor.
func (o TCPOptions) apply(listener bool) func(fd int) error {
	return func(fd int) error {
		var opts []intOption
		if listener {
			// The runtime sets it on listeners too; set here so the
			// options read back from a listener are the whole list.
			opts = append(opts, intOption{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1})
		}
		opts = append(opts, intOption{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1})
		if o.keepAlive() {
			opts = append(opts,
				intOption{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
				intOption{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(seconds(o.KeepAliveIdle))},
				intOption{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(seconds(o.KeepAliveInterval))},
				intOption{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, o.KeepAliveCount},
			)
		} else {
			opts = append(opts, intOption{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0})
		}
		if o.SendBuffer > 0 {
			opts = append(opts, intOption{"SO_SNDBUF", unix.SOL_SOCKET, unix.SO_SNDBUF, o.SendBuffer})
		}
		if o.ReceiveBuffer > 0 {
			opts = append(opts, intOption{"SO_RCVBUF", unix.SOL_SOCKET, unix.SO_RCVBUF, o.ReceiveBuffer})
		}
		return setInts(fd, opts)
	}
}

// intOption is one integer socket option.
type intOption struct {
	name       string
	level, opt int
	value      int
}

// setInts sets opts in order and stops at the first failure.
func setInts(fd int, opts []intOption) error {
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.value); err != nil {
			return fmt.Errorf("sock: set %s to %d: %w", o.name, o.value, os.NewSyscallError("setsockopt", err))
		}
	}
	return nil
}

// control runs f on c's descriptor, as a ListenConfig or Dialer Control
// function must.
func control(c syscall.RawConn, f func(fd int) error) error {
	var ferr error
	if err := c.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return fmt.Errorf("sock: %w", err)
	}
	return ferr
}
