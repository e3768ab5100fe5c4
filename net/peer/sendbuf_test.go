package peer

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/net/sock/memnet"
	"github.com/renga-p2p/renga/wire"
)

// server answers every getdata with a block of blockSize bytes per entry,
// as a node serves blocks, from the reading goroutine.
type server struct {
	blockSize int
	maxQueued int // the largest backlog seen right after a reply was queued
}

func (s *server) Ready(p *Peer) error { return nil }

func (s *server) HandleMessage(p *Peer, msg wire.Message) error {
	if m, ok := msg.(*wire.MsgGetData); ok {
		for range m.Inv {
			if err := p.WaitSendRoom(); err != nil {
				return err
			}
			p.Send(rawPayload{cmd: wire.CmdBlock, b: make([]byte, s.blockSize)})
			s.maxQueued = max(s.maxQueued, p.SendBacklog())
		}
	}
	return nil
}

// rawPayload is a message that is just bytes (what the server does with
// blocks it reads from disk).
type rawPayload struct {
	cmd string
	b   []byte
}

func (r rawPayload) Command() string                         { return r.cmd }
func (r rawPayload) AppendBinary(dst []byte) ([]byte, error) { return append(dst, r.b...), nil }
func (r rawPayload) Decode([]byte) error                     { return wire.ErrInvalid }

// memPair runs an inbound Peer with handler h on one end of an in-memory
// connection (inside a synctest bubble) and returns the raw other end.
func memPair(t *testing.T, cfg Config, h Handler) (*rawPeer, *Peer, <-chan error) {
	t.Helper()
	n := memnet.New()
	l, err := n.Host(netip.MustParseAddr("10.0.0.1")).Listen(t.Context(), ":8333")
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.Host(netip.MustParseAddr("10.0.0.2")).Dial(t.Context(), netip.MustParseAddrPort("10.0.0.1:8333"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	p := New(s, true, cfg, h)
	done, exited := make(chan error, 1), make(chan struct{})
	go func() { done <- p.Run(context.Background()); close(exited) }()
	t.Cleanup(func() { p.Close(nil); _ = c.Close(); _ = l.Close(); <-exited })
	return &rawPeer{t: t, conn: c, r: wire.NewReader(c, magic)}, p, done
}

// A peer that asks for more than its send buffer in one getdata, and reads
// slowly, is served all of it at the pace it reads and stays connected;
// the queue never holds much more than the buffer.
func TestGreedyPeerServedSlowly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(99, false)
		cfg.SendBuffer = 1 << 20
		srv := &server{blockSize: 900_000}
		r, p, done := memPair(t, cfg, srv)
		r.handshake(5)
		const asked = 100 // 90 MB
		r.send(&wire.MsgGetData{Inv: make([]wire.InvVect, asked)})
		got := 0
		for got < asked {
			// A slow reader: 64 KB every 50 ms (1.3 MB/s), so each block
			// takes longer to arrive than the write timeout's chunk.
			if err := r.conn.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			f, err := r.r.ReadFrame()
			if err != nil {
				t.Fatalf("after %d of %d blocks: %v", got, asked, err)
			}
			if f.Header.Command == wire.CmdBlock {
				got++
			}
			time.Sleep(700 * time.Millisecond)
		}
		select {
		case err := <-done:
			t.Fatalf("the greedy peer was dropped: %v", err)
		default:
		}
		if limit := cfg.SendBuffer + 900_000 + wire.FrameHeaderSize; srv.maxQueued > limit {
			t.Errorf("queued up to %d bytes, more than the buffer plus one block (%d)", srv.maxQueued, limit)
		}
		if st := p.Stats(); st.SendPauses == 0 || st.BytesSentPerMsg[wire.CmdBlock] < asked*900_000 {
			t.Errorf("stats %+v: no pause, or not every block counted", st)
		}
	})
}

// A peer that stops reading costs at most its buffer and is dropped once
// the write timeout passes without progress.
func TestNonReaderDroppedAfterWriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(99, false)
		cfg.SendBuffer = 1 << 20
		srv := &server{blockSize: 900_000}
		r, p, done := memPair(t, cfg, srv)
		r.handshake(5)
		r.expect(wire.CmdPing) // the handshake is over; from now on nothing is read
		start := time.Now()
		// 50,000 entries naming blocks: 45 GB if served.
		r.send(&wire.MsgGetData{Inv: make([]wire.InvVect, wire.MaxInvEntries)})
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Minute):
			t.Fatal("a peer that reads nothing was still connected after 10 minutes")
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("ended with %v, want a write timeout", err)
		}
		if waited := time.Since(start); waited < cfg.withDefaults().WriteTimeout {
			t.Errorf("dropped after %v, before the write timeout", waited)
		}
		if limit := cfg.SendBuffer + 900_000 + wire.FrameHeaderSize; srv.maxQueued > limit {
			t.Errorf("queued up to %d bytes, more than the buffer plus one block (%d)", srv.maxQueued, limit)
		}
		_ = p
	})
}

// What other goroutines push (announcements) while the reader is paused is
// bounded too: past the hard limit the peer is closed as too slow.
func TestHardLimitClosesSlowPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(99, false)
		cfg.SendBuffer = 1 << 20
		cfg.WriteTimeout = time.Hour
		r, p, done := memPair(t, cfg, newRecorder(t))
		r.handshake(5)
		r.expect(wire.CmdPing)
		inv := &wire.MsgInv{Inv: make([]wire.InvVect, wire.MaxInvEntries)} // 1.8 MB
		sent := 0
		for sent < 100 && p.Send(inv) {
			sent++
		}
		if err := <-done; !errors.Is(err, ErrSlowPeer) {
			t.Fatalf("ended with %v after %d invs, want ErrSlowPeer", err, sent)
		}
		if max := cfg.hardLimit()/1_800_000 + 2; sent > max {
			t.Errorf("%d invs of 1.8 MB queued before the close, want at most %d", sent, max)
		}
	})
}

// A cmpr whose inner command is unknown is dropped before decompressing
// (its data here is not even valid compressed data), and the peer stays.
func TestCmprUnknownInnerDroppedUndecoded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(99, true)
		r, p, done := memPair(t, cfg, newRecorder(t))
		r.send(&wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, Nonce: 5, Services: wire.SFNodeCompress})
		r.expect(wire.CmdVerack)
		r.send(&wire.MsgVerack{})
		r.send(&wire.MsgSendCmpr{Codecs: []wire.Codec{wire.CodecZstd}, MinSize: 1 << 30})
		r.send(&wire.MsgCmpr{Inner: "futurecmd", Length: 4_000_000, Codec: wire.CodecZstd, Data: bytes.Repeat([]byte{0xff}, 100)})
		r.send(&wire.MsgPing{Nonce: 42})
		for {
			m := r.expect(wire.CmdPong).(*wire.MsgPong)
			if m.Nonce == 42 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("peer ended: %v", err)
		default:
		}
		if got := p.Stats().BytesRecvPerMsg[otherCommand]; got == 0 {
			t.Errorf("the unknown inner command was not counted as %s: %v", otherCommand, p.Stats().BytesRecvPerMsg)
		}
	})
}

func TestBytesPerMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, p, _ := memPair(t, testConfig(99, false), newRecorder(t))
		r.handshake(5)
		r.send(&wire.MsgPing{Nonce: 1})
		r.expect(wire.CmdPong)
		r.write(wire.AppendRawFrame(nil, magic, "futurecmd", []byte("xyz")))
		r.send(&wire.MsgPing{Nonce: 2})
		r.expect(wire.CmdPong)
		st := p.Stats()
		if st.BytesRecvPerMsg[wire.CmdPing] != 2*(wire.FrameHeaderSize+8) || st.BytesSentPerMsg[wire.CmdPong] != 2*(wire.FrameHeaderSize+8) {
			t.Errorf("ping/pong bytes: recv %v sent %v", st.BytesRecvPerMsg, st.BytesSentPerMsg)
		}
		if st.BytesRecvPerMsg[otherCommand] != wire.FrameHeaderSize+3 || st.BytesRecvPerMsg["futurecmd"] != 0 {
			t.Errorf("unknown command bytes: %v", st.BytesRecvPerMsg)
		}
		var sum uint64
		for _, v := range st.BytesRecvPerMsg {
			sum += v
		}
		if sum != st.BytesRecv {
			t.Errorf("per-message bytes received add up to %d, total %d", sum, st.BytesRecv)
		}
	})
}

var _ net.Conn = (*memnet.Conn)(nil)
