package peer

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// writeLoop sends queued messages and pings until the peer closes.
func (p *Peer) writeLoop() {
	ping := time.NewTicker(p.cfg.PingInterval)
	defer ping.Stop()
	var buf, cbuf []byte
	for {
		select {
		case <-p.done:
			return
		case msg := <-p.sendq:
			var err error
			buf, cbuf, err = p.write(msg, buf[:0], cbuf[:0])
			if err != nil {
				p.Close(err)
				return
			}
		case <-ping.C:
			if err := p.ping(&buf, &cbuf); err != nil {
				p.Close(err)
				return
			}
		case <-p.pingNow:
			// What was queued before the handshake completed (our verack
			// among it) goes first: a ping must not overtake it.
			for len(p.sendq) > 0 {
				var err error
				if buf, cbuf, err = p.write(<-p.sendq, buf[:0], cbuf[:0]); err != nil {
					p.Close(err)
					return
				}
			}
			if err := p.ping(&buf, &cbuf); err != nil {
				p.Close(err)
				return
			}
		}
	}
}

// ping sends a ping with a fresh nonce, unless the handshake is not done or
// a ping is already out; an unanswered ping older than PingTimeout ends the
// connection.
func (p *Peer) ping(buf, cbuf *[]byte) error {
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
	rand.Read(b[:])
	nonce := binary.LittleEndian.Uint64(b[:])
	p.pingNonce.Store(nonce)
	p.pingSent.Store(p.now().UnixNano())
	var err error
	*buf, *cbuf, err = p.write(&wire.MsgPing{Nonce: nonce}, (*buf)[:0], (*cbuf)[:0])
	return err
}

// write encodes msg as a frame (compressed if negotiated and worth it) and
// writes it with a deadline. It returns its buffers for reuse.
func (p *Peer) write(msg wire.Message, buf, cbuf []byte) ([]byte, []byte, error) {
	frame, err := wire.AppendFrame(buf, p.cfg.Magic, msg)
	if err != nil {
		return buf, cbuf, err
	}
	cmd := msg.Command()
	if c := p.peerCodecs.Load(); c != nil && cmd != wire.CmdSendCmpr {
		payload := frame[wire.FrameHeaderSize:]
		if uint32(len(payload)) >= c.MinSize {
			if compressed, ok := p.compress(cbuf, c, cmd, payload); ok {
				p.compressSent.Add(uint64(len(frame) - len(compressed)))
				frame, cbuf, cmd = compressed, compressed, wire.CmdCmpr
			}
		}
	}
	if err := p.conn.SetWriteDeadline(p.now().Add(p.cfg.WriteTimeout)); err != nil {
		return buf, cbuf, err
	}
	if _, err := p.conn.Write(frame); err != nil {
		return buf, cbuf, err
	}
	p.bytesSent.Add(uint64(len(frame)))
	p.msgsSent.Add(1)
	if p.debug {
		p.log.Debug("sent", "command", cmd, "bytes", len(frame))
	}
	if p.cfg.Tap != nil {
		p.cfg.Tap.Sent(p.now(), frame)
	}
	return frame[:0], cbuf[:0], nil
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
