package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/wire"
)

var magic = wire.Magic{0xfa, 0xbf, 0xb5, 0xda}

// recorder is a Handler that keeps what it receives. It hands each message
// to the test through got, and gives up when the test ends: a test that has
// stopped reading must not leave the peer's reading goroutine blocked on a
// full channel (Run would never return, and the cleanup would wait forever).
type recorder struct {
	ctx   context.Context
	mu    sync.Mutex
	msgs  []wire.Message
	got   chan wire.Message
	ready chan struct{}
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{ctx: t.Context(), got: make(chan wire.Message, 100), ready: make(chan struct{})}
}

func (r *recorder) Ready(p *Peer) error {
	close(r.ready)
	return nil
}

// waitReady waits until the handshake of the recorder's peer is complete.
func waitReady(t *testing.T, rs ...*recorder) {
	t.Helper()
	for _, r := range rs {
		select {
		case <-r.ready:
		case <-time.After(10 * time.Second):
			t.Fatal("handshake did not complete in 10 s")
		}
	}
}

func (r *recorder) HandleMessage(p *Peer, msg wire.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	r.mu.Unlock()
	select {
	case r.got <- msg:
		return nil
	case <-r.ctx.Done():
		return context.Cause(r.ctx)
	}
}

// waitFor returns the next message of type T the recorder sees.
func waitFor[T wire.Message](t *testing.T, r *recorder) T {
	t.Helper()
	for {
		select {
		case m := <-r.got:
			if v, ok := m.(T); ok {
				return v
			}
		case <-time.After(10 * time.Second):
			var zero T
			t.Fatalf("no %T received in 10 s", zero)
			return zero
		}
	}
}

func testConfig(nonce uint64, compress bool) Config {
	c := Config{Magic: magic, Services: wire.SFNodeNetwork | wire.SFNodeWitness, UserAgent: "/test/", Nonce: nonce,
		StartHeight: func() int32 { return int32(nonce) }}
	if compress {
		codecs, err := NewCodecs()
		if err != nil {
			panic(err)
		}
		c.Services |= wire.SFNodeCompress
		c.Codecs = codecs
	}
	return c
}

// tcpPair returns the two ends of a real loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }() // both ends are connected by then
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept() // nil if the listener closes first
		accepted <- c
	}()
	client, err = net.DialTimeout("tcp", l.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case server = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the loopback listener accepted no connection in 10 s")
	}
	if server == nil {
		t.Fatal("the loopback listener failed to accept")
	}
	return client, server
}

// connect runs two peers over a real TCP connection until the test ends.
func connect(t *testing.T, a, b Config) (pa, pb *Peer, ra, rb *recorder) {
	t.Helper()
	c, s := tcpPair(t)
	ra, rb = newRecorder(t), newRecorder(t)
	pa, pb = New(c, false, a, ra), New(s, true, b, rb)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Each ends when the test cancels ctx; why it ended is not the point here.
	wg.Go(func() { _ = pa.Run(ctx) })
	wg.Go(func() { _ = pb.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return pa, pb, ra, rb
}

func TestHandshakeAndMessages(t *testing.T) {
	pa, pb, ra, rb := connect(t, testConfig(1, false), testConfig(2, false))
	waitReady(t, ra, rb)
	// sendheaders follows verack: a ping after it, each way, shows it has arrived.
	pa.Send(&wire.MsgPing{Nonce: 7})
	pb.Send(&wire.MsgPing{Nonce: 8})
	waitFor[*wire.MsgPing](t, rb)
	waitFor[*wire.MsgPing](t, ra)
	if v := pb.Version(); v.Nonce != 1 || v.StartHeight != 1 || v.UserAgent != "/test/" {
		t.Fatalf("server saw version %+v", v)
	}
	if !pa.WTxIDRelay() || !pb.WTxIDRelay() || !pa.WantsHeaders() || !pb.WantsHeaders() {
		t.Fatal("wtxidrelay or sendheaders not negotiated")
	}
	if pa.Compressing() {
		t.Fatal("compression without offering it")
	}
	inv := &wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvTx}}}
	pa.Send(inv)
	if got := waitFor[*wire.MsgInv](t, rb); len(got.Inv) != 1 {
		t.Fatal("inv lost")
	}
}

func TestCompression(t *testing.T) {
	pa, pb, ra, rb := connect(t, testConfig(1, true), testConfig(2, true))
	waitReady(t, ra, rb)
	deadline := time.Now().Add(10 * time.Second)
	for !pa.Compressing() || !pb.Compressing() {
		if time.Now().After(deadline) {
			t.Fatal("compression not negotiated")
		}
		pa.Send(&wire.MsgPing{Nonce: 8})
		waitFor[*wire.MsgPing](t, rb)
	}
	// A compressible block goes through as cmpr and arrives intact.
	b := &wire.Block{Header: wire.Header{Version: 1}}
	for i := range 200 {
		b.Txs = append(b.Txs, wire.Tx{Version: 1, Inputs: []wire.TxIn{{ScriptSig: bytes.Repeat([]byte{byte(i)}, 100)}},
			Outputs: []wire.TxOut{{Value: 1, ScriptPubKey: bytes.Repeat([]byte{0x51}, 25)}}})
	}
	pa.Send(b)
	got := waitFor[*wire.Block](t, rb)
	want, _ := b.AppendBinary(nil)
	have, _ := got.AppendBinary(nil)
	if !bytes.Equal(want, have) {
		t.Fatal("block changed on the way")
	}
	if saved := pa.Stats().CompressionSavedBytes; saved < uint64(len(want))/2 {
		t.Fatalf("compression saved only %d of %d bytes", saved, len(want))
	}
}

func TestCompressionBombRefused(t *testing.T) {
	codecs, _ := NewCodecs()
	payload := bytes.Repeat([]byte{0}, 100_000)
	for _, codec := range codecs.Supported() {
		data, _ := codecs.Compress(nil, codec, payload)
		// Declared smaller than the real size: decompression stops there.
		m := &wire.MsgCmpr{Inner: wire.CmdBlock, Length: 1000, Codec: codec, Data: data}
		if _, err := codecs.Decompress(m); err == nil {
			t.Fatalf("%v: a payload larger than declared was accepted", codec)
		}
		m.Length = uint32(len(payload))
		if out, err := codecs.Decompress(m); err != nil || !bytes.Equal(out, payload) {
			t.Fatalf("%v: honest payload: %v", codec, err)
		}
	}
}

// rawPeer is the other end of a connection driven by hand.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	r    *wire.Reader
}

func (r *rawPeer) send(msg wire.Message) {
	r.t.Helper()
	if err := wire.WriteMessage(r.conn, magic, msg); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawPeer) write(b []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawPeer) expect(cmd string) wire.Message {
	r.t.Helper()
	// No read waits longer than the test would: the peer under test may
	// simply never send cmd.
	if err := r.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		r.t.Fatal(err)
	}
	for {
		m, err := r.r.ReadMessage()
		if err != nil {
			r.t.Fatalf("waiting for %s: %v", cmd, err)
		}
		if m.Command() == cmd {
			return m
		}
	}
}

// handshake completes a handshake from the raw side with an inbound Peer.
func (r *rawPeer) handshake(nonce uint64) {
	r.t.Helper()
	r.send(&wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, Nonce: nonce, Services: wire.SFNodeNetwork})
	r.expect(wire.CmdVerack)
	r.send(&wire.MsgVerack{})
}

// runInbound starts an inbound Peer on one end of a TCP pair and returns the
// raw other end and a channel with Run's result.
func runInbound(t *testing.T, cfg Config) (*rawPeer, *Peer, <-chan error) {
	c, s := tcpPair(t)
	p := New(s, true, cfg, newRecorder(t))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	t.Cleanup(func() { p.Close(nil); _ = c.Close() })
	return &rawPeer{t: t, conn: c, r: wire.NewReader(c, magic)}, p, done
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("peer did not end")
		return nil
	}
}

func TestProtocolViolations(t *testing.T) {
	tests := []struct {
		name string
		run  func(r *rawPeer)
		want error
	}{
		{"message before version", func(r *rawPeer) { r.send(&wire.MsgPing{Nonce: 1}) }, ErrProtocol},
		{"verack before version", func(r *rawPeer) { r.send(&wire.MsgVerack{}) }, ErrProtocol},
		{"inv before verack", func(r *rawPeer) {
			r.send(&wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, Nonce: 5})
			r.send(&wire.MsgInv{})
		}, ErrProtocol},
		{"second version", func(r *rawPeer) {
			r.handshake(5)
			r.send(&wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, Nonce: 5})
		}, ErrProtocol},
		{"connection to self", func(r *rawPeer) {
			r.send(&wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, Nonce: 99})
		}, ErrSelf},
		{"obsolete version", func(r *rawPeer) {
			r.send(&wire.MsgVersion{ProtocolVersion: 60000, Nonce: 5})
		}, ErrObsolete},
		{"wrong magic", func(r *rawPeer) {
			if err := wire.WriteMessage(r.conn, wire.Magic{1, 2, 3, 4}, &wire.MsgVersion{Nonce: 5}); err != nil {
				r.t.Fatal(err)
			}
		}, wire.ErrBadMagic},
		{"cmpr without negotiation", func(r *rawPeer) {
			r.handshake(5)
			r.send(&wire.MsgCmpr{Inner: wire.CmdPing, Length: 8, Codec: wire.CodecS2, Data: []byte{8}})
		}, ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, done := runInbound(t, testConfig(99, false))
			tt.run(r)
			err := result(t, done)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ended with %v, want %v", err, tt.want)
			}
			// Old software and our own address coming back are not the
			// peer's fault: nothing to discourage.
			if blameless := tt.want == ErrObsolete || tt.want == ErrSelf; Misbehaved(err) == blameless {
				t.Errorf("Misbehaved(%v) = %v", err, Misbehaved(err))
			}
		})
	}
}

func TestBadChecksumAndUnknownCommandKeepThePeer(t *testing.T) {
	r, _, done := runInbound(t, testConfig(99, false))
	r.handshake(5)
	frame, _ := wire.AppendFrame(nil, magic, &wire.MsgPing{Nonce: 1})
	frame[len(frame)-1] ^= 1 // payload no longer matches the checksum
	r.write(frame)
	r.write(wire.AppendRawFrame(nil, magic, "futurecmd", []byte("x")))
	r.send(&wire.MsgPing{Nonce: 42})
	if pong := r.expect(wire.CmdPong).(*wire.MsgPong); pong.Nonce != 42 {
		t.Fatalf("pong %d", pong.Nonce)
	}
	select {
	case err := <-done:
		t.Fatalf("peer ended: %v", err)
	default:
	}
}

func TestHandshakeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := net.Pipe()
		defer func() { _ = c.Close() }()
		p := New(s, true, testConfig(99, false), nil)
		done := make(chan error, 1)
		go func() { done <- p.Run(context.Background()) }()
		// The other side says nothing at all.
		time.Sleep(61 * time.Second) // fake time inside the bubble
		synctest.Wait()
		select {
		case err := <-done:
			if !errors.Is(err, ErrHandshakeTimeout) {
				t.Fatalf("ended with %v", err)
			}
		default:
			t.Fatal("still waiting after the handshake timeout")
		}
	})
}

func TestPingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := net.Pipe()
		defer func() { _ = c.Close() }()
		cfg := testConfig(99, false)
		p := New(s, true, cfg, nil)
		done := make(chan error, 1)
		go func() { done <- p.Run(context.Background()) }()
		r := &rawPeer{t: t, conn: c, r: wire.NewReader(c, magic)}
		r.handshake(5)
		// Read everything the peer sends (pings included) but never pong.
		go func() {
			for {
				if _, err := r.r.ReadMessage(); err != nil {
					return
				}
			}
		}()
		time.Sleep(19 * time.Minute)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("ended early: %v", err)
		default:
		}
		time.Sleep(4 * time.Minute)
		synctest.Wait()
		select {
		case err := <-done:
			if !errors.Is(err, ErrPingTimeout) {
				t.Fatalf("ended with %v", err)
			}
		default:
			t.Fatal("still connected after 23 minutes without a pong")
		}
	})
}

// A dual-stack listener reports an IPv4 peer as ::ffff:a.b.c.d; the peer's
// address is the plain IPv4 one, as an outbound connection to it would be.
func TestAddrPortUnmapsIPv4(t *testing.T) {
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack listener here: %v", err)
	}
	defer func() { _ = ln.Close() }()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if got := AddrPort(s.RemoteAddr()); !got.Addr().Is4() || got.String() != c.LocalAddr().String() {
		t.Errorf("AddrPort(%v) = %v, want %v", s.RemoteAddr(), got, c.LocalAddr())
	}
}

// The first ping goes right after the handshake, never before our verack:
// the remote's verack can arrive while ours is still queued, and a ping
// ahead of it is a protocol violation that gets us disconnected (it made
// sync peers drop each other). Run many times: the order was a race.
func TestFirstPingAfterVerack(t *testing.T) {
	for range 50 {
		c, s := tcpPair(t)
		p := New(s, false, testConfig(7, false), newRecorder(t))
		done := make(chan error, 1)
		go func() { done <- p.Run(context.Background()) }()
		r := &rawPeer{t: t, conn: c, r: wire.NewReader(c, magic)}
		r.expect(wire.CmdVersion)
		// Version and verack in one write, so the Peer reads both at once.
		var b bytes.Buffer
		for _, m := range []wire.Message{&wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, Nonce: 8}, &wire.MsgVerack{}} {
			if err := wire.WriteMessage(&b, magic, m); err != nil {
				t.Fatal(err)
			}
		}
		r.write(b.Bytes())
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // the ping interval is 2 minutes
		var seen []string
		for len(seen) == 0 || seen[len(seen)-1] != wire.CmdPing {
			m, err := r.r.ReadMessage()
			if err != nil {
				t.Fatalf("after %v: %v (no ping right after the handshake?)", seen, err)
			}
			seen = append(seen, m.Command())
		}
		if !slices.Contains(seen, wire.CmdVerack) {
			t.Fatalf("messages %v: the ping came before our verack", seen)
		}
		p.Close(nil)
		if err := result(t, done); err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("the peer ended with %v, closed by us", err)
		}
		_ = c.Close()
	}
}
