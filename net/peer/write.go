package peer

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// sendQueue is the frames waiting for the writer, counted in bytes.
type sendQueue struct {
	mu     sync.Mutex
	frames []outFrame
	bytes  int
	// ready is signalled when a frame is pushed; drained when frames are
	// taken (the reader may be waiting for room).
	ready, drained chan struct{}
}

type outFrame struct {
	cmd   string
	frame []byte
}

func newSendQueue() sendQueue {
	return sendQueue{ready: make(chan struct{}, 1), drained: make(chan struct{}, 1)}
}

// push appends a frame and returns the bytes now queued.
func (q *sendQueue) push(cmd string, frame []byte) int {
	q.mu.Lock()
	q.frames = append(q.frames, outFrame{cmd, frame})
	q.bytes += len(frame)
	n := q.bytes
	q.mu.Unlock()
	signal(q.ready)
	return n
}

// take removes and returns every queued frame (nil if none); the caller
// reports each one written with done, which frees its bytes.
func (q *sendQueue) take(into []outFrame) []outFrame {
	q.mu.Lock()
	into = append(into, q.frames...)
	clear(q.frames)
	q.frames = q.frames[:0]
	q.mu.Unlock()
	return into
}

// done frees n written bytes.
func (q *sendQueue) done(n int) {
	q.mu.Lock()
	q.bytes -= n
	q.mu.Unlock()
	signal(q.drained)
}

func (q *sendQueue) backlog() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// writeChunk is the most written under one deadline: a write that makes
// progress, however slowly, is never timed out; one that makes none for
// WriteTimeout is.
const writeChunk = 64 << 10

// writeLoop sends queued frames, and pings, until the peer closes.
func (p *Peer) writeLoop() {
	ping := time.NewTicker(p.cfg.PingInterval)
	defer ping.Stop()
	var batch []outFrame
	var cbuf []byte
	for {
		select {
		case <-p.done:
			return
		case <-p.sendq.ready:
			batch = p.sendq.take(batch[:0])
			for i := range batch {
				var err error
				if cbuf, err = p.write(batch[i], cbuf); err != nil {
					p.Close(err)
					return
				}
				batch[i] = outFrame{} // let the frame go
			}
		case <-ping.C:
			if err := p.ping(); err != nil {
				p.Close(err)
				return
			}
		}
	}
}

// ping queues a ping with a fresh nonce, unless the handshake is not done
// or a ping is already out; an unanswered ping older than PingTimeout ends
// the connection. Queued like any message, a ping never overtakes what was
// queued before it (our verack, right after the handshake).
func (p *Peer) ping() error {
	if !p.handshaken.Load() {
		return nil
	}
	if sent := p.pingSent.Load(); sent != 0 {
		if p.now().Sub(time.Unix(0, sent)) > p.cfg.PingTimeout {
			return fmt.Errorf("%w: no pong for %v", ErrPingTimeout, p.cfg.PingTimeout)
		}
		return nil // one ping at a time
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	nonce := binary.LittleEndian.Uint64(b[:])
	p.pingNonce.Store(nonce)
	p.pingSent.Store(p.now().UnixNano())
	p.enqueue(&wire.MsgPing{Nonce: nonce})
	return nil
}

// write writes one frame (compressed if negotiated and worth it), in chunks
// with a deadline each. It frees the frame's bytes in the queue and returns
// the compression buffer for reuse.
func (p *Peer) write(f outFrame, cbuf []byte) ([]byte, error) {
	defer p.sendq.done(len(f.frame))
	frame, cmd := f.frame, f.cmd
	if c := p.peerCodecs.Load(); c != nil && cmd != wire.CmdSendCmpr {
		payload := frame[wire.FrameHeaderSize:]
		if uint32(len(payload)) >= c.MinSize {
			if compressed, ok := p.compress(cbuf[:0], c, cmd, payload); ok {
				p.compressSent.Add(uint64(len(frame) - len(compressed)))
				frame, cbuf = compressed, compressed
			}
		}
	}
	for rest := frame; len(rest) > 0; {
		n := min(len(rest), writeChunk)
		if err := p.conn.SetWriteDeadline(p.now().Add(p.cfg.WriteTimeout)); err != nil {
			return cbuf, err
		}
		if _, err := p.conn.Write(rest[:n]); err != nil {
			return cbuf, err
		}
		rest = rest[n:]
	}
	p.bytesSent.Add(uint64(len(frame)))
	p.msgsSent.Add(1)
	p.perMsg.sent(cmd, len(frame))
	if p.debug {
		if len(frame) != len(f.frame) {
			p.log.Debug("sent", "command", wire.CmdCmpr, "inner", cmd, "bytes", len(frame))
		} else {
			p.log.Debug("sent", "command", cmd, "bytes", len(frame))
		}
	}
	if p.cfg.Tap != nil {
		p.cfg.Tap.Sent(p.now(), frame)
	}
	return cbuf, nil
}

// compress wraps payload in a cmpr frame with the first codec both sides
// know, if that makes it smaller.
func (p *Peer) compress(dst []byte, accepted *wire.MsgSendCmpr, cmd string, payload []byte) ([]byte, bool) {
	for _, codec := range accepted.Codecs {
		if !slices.Contains(p.cfg.Codecs.Supported(), codec) {
			continue
		}
		data, err := p.cfg.Codecs.Compress(nil, codec, payload)
		if err != nil || len(data)+wire.CommandSize+10 >= len(payload) {
			return nil, false // not worth it
		}
		m := &wire.MsgCmpr{Inner: cmd, Length: uint32(len(payload)), Codec: codec, Data: data}
		frame, err := wire.AppendFrame(dst, p.cfg.Magic, m)
		return frame, err == nil
	}
	return nil, false
}

// perMessage counts bytes per command each way (getpeerinfo's
// bytessent_per_msg and bytesrecv_per_msg). Commands are the package's
// known ones or "*other*", so the maps stay small whatever a peer sends.
type perMessage struct {
	mu      sync.Mutex
	out, in map[string]uint64
}

// otherCommand is where unknown commands are counted, as in bitcoind.
const otherCommand = "*other*"

// knownCommands is wire's command list as a set (built once, never
// changed).
var knownCommands = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range wire.Commands() {
		m[c] = true
	}
	return m
}()

func countKey(cmd string) string {
	if !knownCommands[cmd] {
		return otherCommand
	}
	return cmd
}

func (m *perMessage) add(dir *map[string]uint64, cmd string, n int) {
	key := countKey(cmd)
	m.mu.Lock()
	if *dir == nil {
		*dir = map[string]uint64{}
	}
	(*dir)[key] += uint64(n)
	m.mu.Unlock()
}

func (m *perMessage) sent(cmd string, n int)     { m.add(&m.out, cmd, n) }
func (m *perMessage) received(cmd string, n int) { m.add(&m.in, cmd, n) }

func (m *perMessage) snapshot() (sent, recv map[string]uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sent, recv = make(map[string]uint64, len(m.out)), make(map[string]uint64, len(m.in))
	for k, v := range m.out {
		sent[k] = v
	}
	for k, v := range m.in {
		recv[k] = v
	}
	return sent, recv
}
