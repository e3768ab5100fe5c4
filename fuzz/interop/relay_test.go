package interop

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// relay is a TCP proxy in the test process, on 127.0.0.1, between a node and
// the source it syncs from. It forwards every connection it accepts to
// target and keeps a record of each: when it was accepted, the bytes each
// way, and which side ended it first, so that a test can count disconnects
// without trusting either program's logs.
//
// With a rate, it reads from target through a socket whose receive buffer is
// rcvBuf bytes, at most rate bytes a second: to the source it looks like a
// peer that reads slowly, whose TCP window stays a few KB.
type relay struct {
	target string
	rate   int // bytes per second read from target; 0 for no limit
	rcvBuf int // SO_RCVBUF of the socket to target; 0 for the system's

	ln   net.Listener
	quit chan struct{} // closed by close
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns []*relayConn
}

// relayConn is one forwarded connection.
type relayConn struct {
	accepted   time.Time
	rcvBuf     int          // the receive buffer the kernel gave the socket to target (0 if unknown)
	fromTarget atomic.Int64 // bytes read from target
	toTarget   atomic.Int64 // bytes written to target

	once   sync.Once
	ended  chan struct{}
	endAt  time.Time
	endBy  string // "node", "source", or "relay" (the test closed it)
	endErr error  // the read or write error that ended it (io.EOF for a close)
}

// finish records the first end of the connection.
func (c *relayConn) finish(by string, err error) {
	c.once.Do(func() {
		c.endAt, c.endBy, c.endErr = time.Now(), by, err
		close(c.ended)
	})
}

// startRelay listens on a free port of 127.0.0.1 and forwards connections to
// target until the test ends.
func startRelay(t testing.TB, target string, rate, rcvBuf int) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("interop: relay: %v", err)
	}
	r := &relay{target: target, rate: rate, rcvBuf: rcvBuf, ln: ln, quit: make(chan struct{})}
	r.wg.Go(r.accept)
	t.Cleanup(r.close)
	return r
}

// addr is where nodes connect to reach target.
func (r *relay) addr() string { return r.ln.Addr().String() }

// close stops accepting, ends every connection and waits for its goroutines.
func (r *relay) close() {
	select {
	case <-r.quit:
		return
	default:
	}
	close(r.quit)
	_ = r.ln.Close()
	r.wg.Wait()
}

// connections returns the record of every connection accepted so far.
func (r *relay) connections() []*relayConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*relayConn(nil), r.conns...)
}

func (r *relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		rc := &relayConn{accepted: time.Now(), ended: make(chan struct{})}
		r.mu.Lock()
		r.conns = append(r.conns, rc)
		r.mu.Unlock()
		r.wg.Go(func() { r.serve(c, rc) })
	}
}

// serve forwards one connection until either side ends it or the relay
// closes, then closes both.
func (r *relay) serve(node net.Conn, rc *relayConn) {
	defer func() { _ = node.Close() }()
	d := net.Dialer{Timeout: commandTimeout}
	if r.rcvBuf > 0 {
		// Before connect, so that the window the kernel offers in the
		// handshake already reflects it.
		d.Control = setRcvBuf(r.rcvBuf, &rc.rcvBuf)
	}
	src, err := d.Dial("tcp", r.target)
	if err != nil {
		rc.finish("source", err)
		return
	}
	defer func() { _ = src.Close() }()
	var wg sync.WaitGroup
	wg.Go(func() { r.pipe(rc, src, node, "source", "node", &rc.fromTarget, r.rate) })
	wg.Go(func() { r.pipe(rc, node, src, "node", "source", &rc.toTarget, 0) })
	select {
	case <-rc.ended:
	case <-r.quit:
		rc.finish("relay", nil)
	}
	_ = src.Close()
	_ = node.Close()
	wg.Wait()
}

// pipe copies from to to, counting in n, at most rate bytes a second when
// rate is positive, until a read or a write fails; it records which side's
// failure ended the connection.
func (r *relay) pipe(rc *relayConn, from, to net.Conn, fromName, toName string, n *atomic.Int64, rate int) {
	chunk := 32 << 10
	if rate > 0 {
		// Small reads keep the pace smooth and the socket's buffer the
		// only place bytes wait.
		chunk = 2 << 10
	}
	buf := make([]byte, chunk)
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		k, err := from.Read(buf)
		if k > 0 {
			if _, werr := to.Write(buf[:k]); werr != nil {
				rc.finish(toName, werr)
				return
			}
			total := n.Add(int64(k))
			if rate > 0 {
				due := start.Add(time.Duration(total * int64(time.Second) / int64(rate)))
				if wait := time.Until(due); wait > 0 {
					timer.Reset(wait)
					select {
					case <-timer.C:
					case <-rc.ended:
						return
					}
				}
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				err = io.EOF // closed by serve once the other side ended
			}
			rc.finish(fromName, err)
			return
		}
	}
}
