// Package memnet is an in-memory stream network for tests: hosts with IP
// addresses that listen and dial as TCP does, over connections with bounded
// buffers in each direction (like a socket's send and receive buffers, so a
// reader that stops reading blocks the writer, as it would on TCP), with
// read and write deadlines.
//
// It makes no goroutines and opens no sockets, so everything built on it
// runs inside a testing/synctest bubble, on the bubble's fake clock: a
// server's timeouts, pings and stalls take no wall time. Nothing leaves the
// process.
//
// A [Network] holds the listeners; [Network.Host] is one machine's view of it
// (its address), with Listen and Dial. Connections report *net.TCPAddr
// addresses, so code that reads addresses from a conn sees what it would see
// on TCP. All methods are safe for concurrent use.
package memnet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// DefaultBuffer is the bytes a connection buffers in each direction, about
// what Linux gives a loopback socket pair by default.
const DefaultBuffer = 256 << 10

// ErrRefused is what a dial to an address nobody listens on returns (it
// also matches syscall.ECONNREFUSED).
var ErrRefused = fmt.Errorf("memnet: connection refused: %w", syscall.ECONNREFUSED)

// Network is a set of listening addresses.
type Network struct {
	// Buffer is each direction's buffer in bytes; zero means DefaultBuffer.
	// Set it before the first Dial.
	Buffer int

	mu        sync.Mutex
	listeners map[netip.AddrPort]*Listener
	nextPort  map[netip.Addr]uint16
}

// New returns an empty network.
func New() *Network {
	return &Network{listeners: map[netip.AddrPort]*Listener{}, nextPort: map[netip.Addr]uint16{}}
}

// Host is one machine of the network: the address it listens on and dials
// from.
type Host struct {
	net *Network
	ip  netip.Addr
}

// Host returns the machine with address ip.
func (n *Network) Host(ip netip.Addr) *Host { return &Host{net: n, ip: ip} }

// Addr is the host's address.
func (h *Host) Addr() netip.Addr { return h.ip }

// port picks an unused port for ip, as the kernel picks an ephemeral port.
// n.mu is held.
func (n *Network) port(ip netip.Addr) uint16 {
	for {
		p := n.nextPort[ip]
		if p < 30000 {
			p = 30000
		}
		n.nextPort[ip] = p + 1
		if _, used := n.listeners[netip.AddrPortFrom(ip, p)]; !used {
			return p
		}
	}
}

// Listen listens on "host:port" (the host's own address, or an empty or
// unspecified host for it); port 0 picks one. ctx is not used: listening
// does not block.
func (h *Host) Listen(_ context.Context, addr string) (net.Listener, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("memnet: listen %q: %w", addr, err)
	}
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.IsUnspecified() && ip != h.ip {
			return nil, fmt.Errorf("memnet: listen %q: not an address of host %s", addr, h.ip)
		}
	}
	var port uint16
	if _, err := fmt.Sscan(portStr, &port); err != nil {
		return nil, fmt.Errorf("memnet: listen %q: bad port", addr)
	}
	n := h.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if port == 0 {
		port = n.port(h.ip)
	}
	ap := netip.AddrPortFrom(h.ip, port)
	if _, used := n.listeners[ap]; used {
		return nil, fmt.Errorf("memnet: listen %s: %w", ap, syscall.EADDRINUSE)
	}
	l := &Listener{net: n, addr: ap, queue: make(chan *Conn, 128), done: make(chan struct{})}
	n.listeners[ap] = l
	return l, nil
}

// Dial connects to addr from a new port of the host. It fails with
// ErrRefused when nobody listens there, and blocks (until ctx ends) while
// the listener's backlog is full, as a SYN would wait.
func (h *Host) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	n := h.net
	n.mu.Lock()
	l := n.listeners[addr]
	local := netip.AddrPortFrom(h.ip, n.port(h.ip))
	size := n.Buffer
	if size <= 0 {
		size = DefaultBuffer
	}
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("memnet: dial %s: %w", addr, ErrRefused)
	}
	ab, ba := newPipe(size), newPipe(size)
	client := newConn(local, addr, ba, ab)
	server := newConn(addr, local, ab, ba)
	select {
	case l.queue <- server:
		return client, nil
	case <-l.done:
		return nil, fmt.Errorf("memnet: dial %s: %w", addr, ErrRefused)
	case <-ctx.Done():
		return nil, fmt.Errorf("memnet: dial %s: %w", addr, ctx.Err())
	}
}

// Listener accepts connections made to its address.
type Listener struct {
	net   *Network
	addr  netip.AddrPort
	queue chan *Conn
	done  chan struct{}
	once  sync.Once
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.queue:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("memnet: accept on %s: %w", l.addr, net.ErrClosed)
	}
}

// Close stops listening; connections already accepted stay up, and the
// ones not yet accepted are reset.
func (l *Listener) Close() error {
	l.once.Do(func() {
		l.net.mu.Lock()
		delete(l.net.listeners, l.addr)
		l.net.mu.Unlock()
		close(l.done)
		for {
			select {
			case c := <-l.queue:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return nil
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }

// pipe is one direction of a connection: a bounded buffer.
type pipe struct {
	mu       sync.Mutex
	buf      []byte
	size     int
	eof      bool // the writer closed: reads drain, then EOF
	broken   bool // the reader closed: writes fail
	readable chan struct{}
	writable chan struct{}
}

func newPipe(size int) *pipe {
	return &pipe{size: size, readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Conn is one end of a connection.
type Conn struct {
	local, remote netip.AddrPort
	in, out       *pipe

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
	deadlineMoved chan struct{} // signalled when a deadline changes
	closed        chan struct{}
	closeOnce     sync.Once
}

func newConn(local, remote netip.AddrPort, in, out *pipe) *Conn {
	return &Conn{local: local, remote: remote, in: in, out: out,
		deadlineMoved: make(chan struct{}, 2), closed: make(chan struct{})}
}

// wait blocks until ready is signalled, the deadline passes, a deadline
// moves or the conn is closed. It returns the error to give up with, or nil
// to look again.
func (c *Conn) wait(ready chan struct{}, deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ready:
	case <-c.deadlineMoved:
	case <-c.closed:
		return net.ErrClosed
	case <-timeout:
		return os.ErrDeadlineExceeded
	}
	return nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads what the other end wrote, waiting for it.
func (c *Conn) Read(b []byte) (int, error) {
	for {
		select {
		case <-c.closed:
			return 0, c.opErr("read", net.ErrClosed)
		default:
		}
		p := c.in
		p.mu.Lock()
		if len(p.buf) > 0 && len(b) > 0 {
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			if len(p.buf) == 0 {
				p.buf = nil // let the backing array go
			}
			p.mu.Unlock()
			signal(p.writable)
			return n, nil
		}
		eof := p.eof
		p.mu.Unlock()
		if eof {
			return 0, io.EOF
		}
		c.mu.Lock()
		deadline := c.readDeadline
		c.mu.Unlock()
		if err := c.wait(p.readable, deadline); err != nil {
			return 0, c.opErr("read", err)
		}
	}
}

// Write writes b, waiting while the buffer toward the other end is full.
func (c *Conn) Write(b []byte) (int, error) {
	written := 0
	for written < len(b) {
		select {
		case <-c.closed:
			return written, c.opErr("write", net.ErrClosed)
		default:
		}
		p := c.out
		p.mu.Lock()
		if p.broken {
			p.mu.Unlock()
			return written, c.opErr("write", syscall.EPIPE)
		}
		if room := p.size - len(p.buf); room > 0 {
			n := min(room, len(b)-written)
			p.buf = append(p.buf, b[written:written+n]...)
			written += n
			p.mu.Unlock()
			signal(p.readable)
			continue
		}
		p.mu.Unlock()
		c.mu.Lock()
		deadline := c.writeDeadline
		c.mu.Unlock()
		if err := c.wait(p.writable, deadline); err != nil {
			return written, c.opErr("write", err)
		}
	}
	return written, nil
}

// Close closes both directions: the other end reads EOF after what was
// written, and its writes fail.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.out.mu.Lock()
		c.out.eof = true
		c.out.mu.Unlock()
		signal(c.out.readable)
		c.in.mu.Lock()
		c.in.broken = true
		c.in.buf = nil
		c.in.mu.Unlock()
		signal(c.in.writable)
	})
	return nil
}

// LocalAddr is this end's address.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.local) }

// RemoteAddr is the other end's address.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline, c.writeDeadline = t, t
	c.mu.Unlock()
	c.moved()
	return nil
}

// SetReadDeadline sets the time after which a waiting Read fails with a
// timeout (zero: none).
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	c.moved()
	return nil
}

// SetWriteDeadline sets the time after which a waiting Write fails with a
// timeout (zero: none).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	c.moved()
	return nil
}

// moved wakes a Read and a Write waiting on the old deadlines.
func (c *Conn) moved() {
	for range 2 {
		signal(c.deadlineMoved)
	}
}

// Buffered reports the bytes waiting in each direction: what this end has
// not read yet, and what it wrote that the other end has not read.
func (c *Conn) Buffered() (in, out int) {
	c.in.mu.Lock()
	in = len(c.in.buf)
	c.in.mu.Unlock()
	c.out.mu.Lock()
	out = len(c.out.buf)
	c.out.mu.Unlock()
	return in, out
}
