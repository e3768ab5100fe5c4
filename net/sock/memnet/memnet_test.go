package memnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

var (
	ipA = netip.MustParseAddr("10.0.0.1")
	ipB = netip.MustParseAddr("10.0.0.2")
)

// pair returns a connected client (on A) and server (on B) end.
func pair(t *testing.T, n *Network) (client, server net.Conn) {
	t.Helper()
	l, err := n.Host(ipB).Listen(t.Context(), ":8333")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	client, err = n.Host(ipA).Dial(t.Context(), netip.AddrPortFrom(ipB, 8333))
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}

func TestDialAndAddresses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		c, s := pair(t, n)
		if got := c.RemoteAddr().String(); got != "10.0.0.2:8333" {
			t.Errorf("client's remote address %s", got)
		}
		if c.LocalAddr().String() != s.RemoteAddr().String() || s.LocalAddr().String() != c.RemoteAddr().String() {
			t.Errorf("ends disagree: %v-%v and %v-%v", c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr())
		}
		if _, ok := c.RemoteAddr().(*net.TCPAddr); !ok {
			t.Errorf("address type %T, want *net.TCPAddr", c.RemoteAddr())
		}
		if _, err := n.Host(ipA).Dial(t.Context(), netip.AddrPortFrom(ipB, 9999)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial to nobody: %v, want connection refused", err)
		}
		if _, err := n.Host(ipA).Listen(t.Context(), "10.0.0.2:1"); err == nil {
			t.Error("listened on another host's address")
		}
		if _, err := n.Host(ipB).Listen(t.Context(), ":8333"); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("second listener on a port: %v", err)
		}
	})
}

func TestStreamAndEOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, New())
		msg := bytes.Repeat([]byte("renga"), 100_000) // more than the buffer
		go func() {
			_, _ = c.Write(msg)
			_ = c.Close()
		}()
		got, err := io.ReadAll(s)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(msg))
		}
		if _, err := s.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("write to a closed peer: %v, want EPIPE", err)
		}
	})
}

// A reader that stops reading blocks the writer once the buffer is full,
// and the write deadline ends the wait: as on TCP.
func TestBackPressureAndDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		n.Buffer = 1000
		c, s := pair(t, n)
		start := time.Now()
		if err := c.SetWriteDeadline(start.Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		written, err := c.Write(make([]byte, 5000))
		if written != 1000 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("wrote %d, %v; want 1000 and a timeout", written, err)
		}
		if waited := time.Since(start); waited != 30*time.Second {
			t.Errorf("gave up after %v of fake time, want 30 s", waited)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%v is not a net.Error timeout", err)
		}
		if in, out := c.(*Conn).Buffered(); in != 0 || out != 1000 {
			t.Errorf("buffered %d in, %d out", in, out)
		}
		// The reader drains; a read past the data waits for its deadline.
		if _, err := io.ReadFull(s, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read with nothing to read: %v", err)
		}
	})
}

// Moving a deadline wakes a blocked Read, and Close ends it.
func TestDeadlineMovedAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, s := pair(t, New())
		done := make(chan error, 1)
		go func() {
			_, err := s.Read(make([]byte, 1))
			done <- err
		}()
		synctest.Wait()
		if err := s.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after the moved deadline: %v", err)
		}
		if err := s.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := s.Read(make([]byte, 1))
			done <- err
		}()
		synctest.Wait()
		_ = s.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed conn: %v", err)
		}
	})
}

func TestDialWaitsForBacklogAndListenerClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		l, err := n.Host(ipB).Listen(t.Context(), ":1")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		for range 128 { // the backlog
			if _, err := n.Host(ipA).Dial(ctx, netip.AddrPortFrom(ipB, 1)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := n.Host(ipA).Dial(ctx, netip.AddrPortFrom(ipB, 1)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("dial with a full backlog: %v", err)
		}
		_ = l.Close()
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after close: %v", err)
		}
	})
}
