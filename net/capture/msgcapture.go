package capture

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// Bitcoin Core's message-capture layout (-capturemessages; src/net.cpp
// CaptureMessageToFile, read by contrib/message-capture): under a data
// directory, message_capture/<addr>_<port>/msgs_sent.dat and msgs_recv.dat,
// each a sequence of records
//
//	time uint64 LE (µs since 1970) | command[12], NUL-padded | length uint32 LE | payload
//
// The directory is the peer's address and port as Core prints them
// ("10.0.0.2:18444", "[fe80::1]:18444") with every ':' replaced by '_',
// since Windows folder names cannot hold a colon.
const (
	MessageCaptureDir = "message_capture"
	MessagesSentFile  = "msgs_sent.dat"
	MessagesRecvFile  = "msgs_recv.dat"

	messageRecordHeader = 8 + wire.CommandSize + 4
)

// MessageCaptureName is the directory name Core gives a peer's files: the
// address and port with ':' replaced by '_' ("10.0.0.2_18444",
// "[fe80__1]_18444"). An IPv4-mapped IPv6 address is written as IPv4, as
// Core holds it; a zone that could not be a file name is left out.
func MessageCaptureName(peer netip.AddrPort) string {
	a := peer.Addr().Unmap()
	if strings.ContainsAny(a.Zone(), `/\`) {
		a = a.WithZone("")
	}
	s := netip.AddrPortFrom(a, peer.Port()).String()
	return strings.ReplaceAll(s, ":", "_")
}

// ParseMessageCaptureName parses a directory name of [MessageCaptureName]'s
// form back into the peer's address and port. Names of peers Core reaches
// by other networks (Tor, I2P) are not addresses and do not parse.
func ParseMessageCaptureName(name string) (netip.AddrPort, bool) {
	i := strings.LastIndexByte(name, '_')
	if i < 0 {
		return netip.AddrPort{}, false
	}
	host, portText := name[:i], name[i+1:]
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	v6 := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
	if v6 {
		host = strings.ReplaceAll(host[1:len(host)-1], "_", ":")
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Is4() == v6 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(port)), true
}

// MessageCaptureConfig configures a [MessageCapture]. The zero value is ready
// to use.
type MessageCaptureConfig struct {
	// Logger receives the first error writing the files; nil means none is
	// logged ([MessageCapture.Err] and Close still return it).
	Logger *slog.Logger
}

// MessageCapture writes Bitcoin Core's per-peer message-capture files under a
// data directory, one [MessageConn] per connection. Nothing is created on
// disk until a connection records its first message, so a node may make one
// whether or not capture is on and switch connections on at run time
// ([MessageConn.SetEnabled]). Its methods are safe for concurrent use; a nil
// *MessageCapture records nothing.
//
// A write error stops all recording: it is kept, logged once, and returned
// by Err and Close (the node's traffic is never held up by its capture).
type MessageCapture struct {
	root    string // <dir>/message_capture
	log     *slog.Logger
	inflate decompressor

	stopped atomic.Bool // closed or failed: what writers check without the lock

	mu     sync.Mutex
	files  map[string]*messageFile // open files by path, shared by connections to one address
	err    error
	closed bool
}

// NewMessageCapture returns a MessageCapture writing under
// dir/message_capture (Core writes under its network's data directory).
func NewMessageCapture(dir string, cfg MessageCaptureConfig) *MessageCapture {
	return &MessageCapture{root: filepath.Join(dir, MessageCaptureDir), log: cfg.Logger,
		files: make(map[string]*messageFile)}
}

// Dir returns the directory the peers' directories go in.
func (m *MessageCapture) Dir() string {
	if m == nil {
		return ""
	}
	return m.root
}

// Conn returns the tap of one connection to remote, recording from the start
// if enabled. A nil MessageCapture or an invalid remote address gives a nil
// *MessageConn, whose methods do nothing.
func (m *MessageCapture) Conn(remote netip.AddrPort, enabled bool) *MessageConn {
	if m == nil || !remote.IsValid() {
		return nil
	}
	c := &MessageConn{m: m, peer: remote, dir: filepath.Join(m.root, MessageCaptureName(remote))}
	c.sent.name, c.recv.name = MessagesSentFile, MessagesRecvFile
	c.enabled.Store(enabled)
	return c
}

// Err returns the first error writing the files, if any: recording stopped there.
func (m *MessageCapture) Err() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Close stops recording, closes every file still open and returns the first
// error writing or closing them.
func (m *MessageCapture) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.stopped.Store(true)
	for path, f := range m.files {
		delete(m.files, path)
		m.keep(f.close())
	}
	return m.err
}

// keep records err as the first error, logging it. m.mu is held.
func (m *MessageCapture) keep(err error) {
	if err == nil || m.err != nil {
		return
	}
	m.err = fmt.Errorf("capture: message capture: %w", err)
	m.stopped.Store(true)
	if m.log != nil {
		m.log.Error("message capture stopped", "dir", m.root, "err", err)
	}
}

func (m *MessageCapture) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keep(err)
}

// open returns the file of s, opening it (and creating its directory) on
// first use; nil when recording has stopped.
func (m *MessageCapture) open(c *MessageConn, s *messageSide) *messageFile {
	if m.stopped.Load() {
		return nil
	}
	if f := s.f.Load(); f != nil {
		return f // closed under the writer's feet, it writes nothing
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.err != nil || s.closed {
		return nil
	}
	if f := s.f.Load(); f != nil {
		return f
	}
	path := filepath.Join(c.dir, s.name)
	f := m.files[path]
	if f == nil {
		// Appending, as Core does: a peer that reconnects from the same
		// address continues its files.
		err := os.MkdirAll(c.dir, 0o755)
		var file *os.File
		if err == nil {
			file, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
		}
		if err != nil {
			m.keep(err)
			return nil
		}
		f = &messageFile{f: file}
		m.files[path] = f
	}
	f.refs++
	s.f.Store(f)
	return f
}

// release gives back s's file, closing it when no connection uses it.
func (m *MessageCapture) release(c *MessageConn, s *messageSide) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.closed = true
	f := s.f.Swap(nil)
	if f == nil {
		return
	}
	if f.refs--; f.refs > 0 {
		return
	}
	path := filepath.Join(c.dir, s.name)
	if m.files[path] == f {
		delete(m.files, path)
	}
	m.keep(f.close())
}

// messageFile is one open .dat file; connections to the same address (one
// closing while the next begins) share it, so records never interleave.
type messageFile struct {
	refs int // under MessageCapture.mu

	mu     sync.Mutex
	f      *os.File
	closed bool
	buf    [4096]byte // a small record goes out in one write
}

// write appends one record.
func (f *messageFile) write(t time.Time, cmd string, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	h := f.buf[:messageRecordHeader]
	binary.LittleEndian.PutUint64(h[0:8], uint64(t.UnixMicro()))
	clear(h[8 : 8+wire.CommandSize])
	copy(h[8:8+wire.CommandSize], cmd)
	binary.LittleEndian.PutUint32(h[8+wire.CommandSize:], uint32(len(payload)))
	if len(h)+len(payload) <= len(f.buf) {
		n := copy(f.buf[len(h):], payload)
		_, err := f.f.Write(f.buf[:len(h)+n])
		return err
	}
	if _, err := f.f.Write(h); err != nil {
		return err
	}
	_, err := f.f.Write(payload)
	return err
}

func (f *messageFile) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	return f.f.Close()
}

// messageSide is one direction of a connection. MessageCapture.mu guards
// closed and the setting of f; a writer loads f without the lock.
type messageSide struct {
	name   string
	f      atomic.Pointer[messageFile]
	closed bool
}

// MessageConn records one connection's messages in Core's message-capture
// files: the tap of a connection, with the methods of net/peer's Tap. Its
// methods are safe for concurrent use (a peer's read and write loops call
// Received and Sent) and do nothing on a nil MessageConn or after Close.
//
// A record holds a command and a payload, not a frame: a cmpr frame is
// recorded as the message it carries, decompressed (its declared length is
// the limit), since Core's tools do not know cmpr; one that does not
// decompress is recorded as the cmpr it is.
type MessageConn struct {
	m          *MessageCapture
	peer       netip.AddrPort
	dir        string
	enabled    atomic.Bool
	sent, recv messageSide
}

// Peer returns the address the connection's files are named after.
func (c *MessageConn) Peer() netip.AddrPort {
	if c == nil {
		return netip.AddrPort{}
	}
	return c.peer
}

// SetEnabled switches recording on or off from now on; it costs an atomic
// store, and a disabled connection costs an atomic load per frame.
func (c *MessageConn) SetEnabled(on bool) {
	if c != nil {
		c.enabled.Store(on)
	}
}

// Enabled reports whether the connection is being recorded.
func (c *MessageConn) Enabled() bool { return c != nil && c.enabled.Load() }

// Sent records a frame the node sent at t: one whole wire frame, header and
// payload, as written to the socket.
func (c *MessageConn) Sent(t time.Time, frame []byte) {
	if c != nil {
		c.frame(t, &c.sent, frame)
	}
}

// Received records a frame the node received at t, as read.
func (c *MessageConn) Received(t time.Time, frame []byte) {
	if c != nil {
		c.frame(t, &c.recv, frame)
	}
}

func (c *MessageConn) frame(t time.Time, s *messageSide, frame []byte) {
	if !c.enabled.Load() || len(frame) < wire.FrameHeaderSize {
		return
	}
	f := c.m.open(c, s)
	if f == nil {
		return
	}
	cmd, payload := commandField(frame[4:16]), frame[wire.FrameHeaderSize:]
	if cmd == wire.CmdCmpr {
		cmd, payload = c.m.uncompressed(payload)
	}
	if err := f.write(t, cmd, payload); err != nil {
		c.m.fail(err)
	}
}

// uncompressed returns the command and payload a cmpr payload carries, or
// cmpr and the payload itself when it does not decompress.
func (m *MessageCapture) uncompressed(payload []byte) (string, []byte) {
	var c wire.MsgCmpr
	if c.Decode(payload) != nil {
		return wire.CmdCmpr, payload
	}
	plain, err := m.inflate.decompress(&c)
	if err != nil {
		return wire.CmdCmpr, payload
	}
	return c.Inner, plain
}

// Close ends the connection's recording and closes its files (t is unused:
// Core's files mark no end).
func (c *MessageConn) Close(t time.Time) {
	if c == nil {
		return
	}
	c.m.release(c, &c.sent)
	c.m.release(c, &c.recv)
}

// Tap is what a connection's capture is given: every frame sent and
// received, whole, and the end (net/peer's Tap has the same methods, so a
// [*Conn], a [*MessageConn] or a [MultiTap] can be given to a peer). Its
// methods must not block.
type Tap interface {
	Sent(t time.Time, frame []byte)
	Received(t time.Time, frame []byte)
	Close(t time.Time)
}

// MultiTap returns a Tap that hands every call to each of taps in turn, for a
// connection recorded both as pcapng and as message capture. Nil taps (a nil
// interface, a nil *Conn or *MessageConn) are left out; with none left it
// returns nil, and with one, that one.
func MultiTap(taps ...Tap) Tap {
	var live multiTap
	for _, t := range taps {
		switch v := t.(type) {
		case nil:
			continue
		case *Conn:
			if v == nil {
				continue
			}
		case *MessageConn:
			if v == nil {
				continue
			}
		}
		live = append(live, t)
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		return live[0]
	}
	return live
}

type multiTap []Tap

func (m multiTap) Sent(t time.Time, frame []byte) {
	for _, tap := range m {
		tap.Sent(t, frame)
	}
}

func (m multiTap) Received(t time.Time, frame []byte) {
	for _, tap := range m {
		tap.Received(t, frame)
	}
}

func (m multiTap) Close(t time.Time) {
	for _, tap := range m {
		tap.Close(t)
	}
}
