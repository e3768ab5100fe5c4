package capture

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// RecorderConfig configures a [Recorder]. The zero value records everything
// with 1460-byte segments.
type RecorderConfig struct {
	// Peers, when not empty, limits recording to connections whose remote
	// address is in one of these prefixes (a single address is a /32 or
	// /128), and to datagrams with either end in one.
	Peers []netip.Prefix
	// Commands, when not empty, limits recording to frames of these commands;
	// a cmpr frame also matches its inner command, and "beacon" selects the
	// discovery datagrams. Sequence numbers stay continuous over what is
	// recorded, so the capture still reassembles.
	Commands []string
	// MSS is the largest TCP payload per synthesized segment; 0 means 1460
	// (Ethernet's MTU less the IPv4 and TCP headers).
	MSS int
	// Application names the writer in the file's section header; "" means "renga".
	Application string
	// Logger receives the first write error; nil means none is logged (Close
	// still returns it).
	Logger *slog.Logger
}

func (c RecorderConfig) withDefaults() RecorderConfig {
	if c.MSS <= 0 {
		c.MSS = 1460
	}
	c.MSS = min(c.MSS, 65535-60-60) // IP and TCP headers with options must fit too
	if c.Application == "" {
		c.Application = "renga"
	}
	return c
}

// The window the synthesized connections advertise: 65535 scaled by 2^8, so
// that a 4 MB block in flight never looks like a full window to Wireshark.
const (
	recorderWindow      = 65535
	recorderWindowShift = 8
)

// Recorder writes a node's own traffic as a pcapng file: every frame the node
// sends or receives on a connection as synthesized TCP segments, and discovery
// datagrams as UDP. Its methods are safe for concurrent use; a nil *Recorder
// records nothing, so a node without --capture can call it unconditionally.
type Recorder struct {
	cfg RecorderConfig
	out io.Writer

	mu     sync.Mutex
	png    *PcapngWriter
	batch  batch // blocks of the current call, written to out in one Write
	err    error // the first write error; recording stops there
	closed bool
	ipID   uint16
	nconn  uint64
	pkt    []byte // scratch for the packet being synthesized
	chunk  []byte // scratch for a segment's payload
}

// batch is an io.Writer that collects what the PcapngWriter writes.
type batch struct{ b []byte }

func (b *batch) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }

// NewRecorder writes the pcapng section header and interface description to
// w and returns a Recorder writing there. The caller keeps ownership of w:
// [Recorder.Close] does not close it.
func NewRecorder(w io.Writer, cfg RecorderConfig) (*Recorder, error) {
	r := &Recorder{cfg: cfg.withDefaults(), out: w}
	png, err := NewPcapngWriter(&r.batch, PcapngOptions{Application: r.cfg.Application})
	if err != nil {
		return nil, err
	}
	if _, err := png.AddInterface(Interface{LinkType: LinkRaw, Name: "renga"}); err != nil {
		return nil, err
	}
	r.png = png
	if err := r.flush(); err != nil {
		return nil, fmt.Errorf("capture: write header: %w", err)
	}
	return r, nil
}

// Conn starts recording a connection at t: it writes the TCP handshake, with
// the remote side opening it when inbound. Frames are then recorded with the
// returned Conn's Sent and Received. A connection to a peer outside
// RecorderConfig.Peers, or on a nil or closed Recorder, gives a Conn that
// records nothing (possibly nil; its methods accept a nil receiver).
func (r *Recorder) Conn(t time.Time, local, remote netip.AddrPort, inbound bool) *Conn {
	if r == nil || !r.peerAllowed(remote.Addr()) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.err != nil {
		return nil
	}
	r.nconn++
	c := &Conn{r: r, local: local, remote: remote}
	c.localSeq = isn(local, remote, r.nconn)
	c.remoteSeq = isn(remote, local, r.nconn)
	synOpts := []byte{2, 4, byte(r.cfg.MSS >> 8), byte(r.cfg.MSS), 1, 3, 3, recorderWindowShift}
	from, to := local, remote
	fromSeq, toSeq := &c.localSeq, &c.remoteSeq
	dirFrom, dirTo := DirOut, DirIn
	if inbound {
		from, to, fromSeq, toSeq, dirFrom, dirTo = to, from, toSeq, fromSeq, dirTo, dirFrom
	}
	comment := fmt.Sprintf("connection %s %s", map[bool]string{false: "to", true: "from"}[inbound], remote)
	r.segment(t, dirFrom, from, to, tcpFields{seq: *fromSeq, flags: TCPSyn, window: recorderWindow, options: synOpts}, nil, comment)
	*fromSeq++
	r.segment(t, dirTo, to, from, tcpFields{seq: *toSeq, ack: *fromSeq, flags: TCPSyn | TCPAck, window: recorderWindow, options: synOpts}, nil, "")
	*toSeq++
	r.segment(t, dirFrom, from, to, tcpFields{seq: *fromSeq, ack: *toSeq, flags: TCPAck, window: recorderWindow}, nil, "")
	r.flushLocked()
	return c
}

// isn derives a connection's initial sequence number from its endpoints and
// ordinal, so that a recording is reproducible.
func isn(from, to netip.AddrPort, n uint64) uint32 {
	h := fnv.New32a()
	_, _ = fmt.Fprintf(h, "%s>%s#%d", from, to, n) // a hash never fails to write
	return h.Sum32()
}

// Datagram records one UDP datagram at t, sent (DirOut) or received (DirIn) by
// the node; discovery beacons are recorded this way.
func (r *Recorder) Datagram(t time.Time, dir Direction, src, dst netip.AddrPort, payload []byte) {
	if r == nil || (!r.peerAllowed(src.Addr()) && !r.peerAllowed(dst.Addr())) {
		return
	}
	if len(r.cfg.Commands) > 0 && !slices.Contains(r.cfg.Commands, "beacon") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.err != nil {
		return
	}
	r.ipID++
	pkt := appendUDPPacket(nil, src, dst, r.ipID, payload)
	what := "datagram"
	if looksLikeBeacon(payload) {
		what = "beacon"
	}
	r.write(Packet{Time: t, Data: pkt, Length: len(pkt), Direction: dir,
		Comment: fmt.Sprintf("%s %s %s → %s, %d bytes", dir, what, src, dst, len(payload))})
	r.flushLocked()
}

// Close stops recording and returns the first error writing the file, if any.
// Connections still open are left without a FIN. It does not close the
// io.Writer given to NewRecorder.
func (r *Recorder) Close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return r.err
}

// Err returns the first error writing the file, if any: recording stopped there.
func (r *Recorder) Err() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Recorder) peerAllowed(a netip.Addr) bool {
	if len(r.cfg.Peers) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range r.cfg.Peers {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// commandAllowed applies RecorderConfig.Commands to a frame.
func (r *Recorder) commandAllowed(cmd, inner string) bool {
	return len(r.cfg.Commands) == 0 || slices.Contains(r.cfg.Commands, cmd) ||
		(inner != "" && slices.Contains(r.cfg.Commands, inner))
}

// segment writes one synthesized TCP segment. r.mu is held.
func (r *Recorder) segment(t time.Time, dir Direction, src, dst netip.AddrPort, h tcpFields, payload []byte, comment string) {
	r.ipID++
	r.pkt = appendTCPPacket(r.pkt[:0], src, dst, r.ipID, h, payload)
	r.write(Packet{Time: t, Data: r.pkt, Length: len(r.pkt), Direction: dir, Comment: comment})
}

func (r *Recorder) write(p Packet) {
	if r.err == nil {
		r.err = r.png.WritePacket(0, p)
	}
}

// flushLocked writes the blocks collected by this call. r.mu is held.
func (r *Recorder) flushLocked() {
	if err := r.flush(); err != nil && r.err == nil {
		r.err = fmt.Errorf("capture: recorder: %w", err)
		if r.cfg.Logger != nil {
			r.cfg.Logger.Error("packet capture stopped", "err", err)
		}
	}
}

func (r *Recorder) flush() error {
	if len(r.batch.b) == 0 {
		return nil
	}
	_, err := r.out.Write(r.batch.b)
	r.batch.b = r.batch.b[:0]
	return err
}

// Conn records one connection's frames. Its methods are safe for concurrent
// use (a peer's read and write loops call Received and Sent) and do nothing on
// a nil Conn or after Close.
type Conn struct {
	r             *Recorder
	local, remote netip.AddrPort
	// Next sequence numbers of each direction (r.mu guards them).
	localSeq, remoteSeq uint32
	closed              bool
}

// Sent records a frame the node sent at t: one whole wire frame, header and
// payload, exactly as written to the socket.
func (c *Conn) Sent(t time.Time, frame []byte) { c.frame(t, DirOut, frame, nil) }

// Received records a frame the node received at t, exactly as read.
func (c *Conn) Received(t time.Time, frame []byte) { c.frame(t, DirIn, frame, nil) }

// ReceivedFrame records a frame the node received at t, for a read loop that
// has a [wire.Frame] rather than its bytes: the header is rebuilt exactly as
// it was on the wire (wire.ParseFrameHeader accepts only a NUL-padded command,
// so the rebuilt bytes are the ones read), without copying the payload.
func (c *Conn) ReceivedFrame(t time.Time, f wire.Frame) {
	var h [wire.FrameHeaderSize]byte
	copy(h[0:4], f.Header.Magic[:])
	copy(h[4:4+wire.CommandSize], f.Header.Command)
	binary.LittleEndian.PutUint32(h[16:20], f.Header.Length)
	copy(h[20:24], f.Header.Checksum[:])
	c.frame(t, DirIn, h[:], f.Payload)
}

// frame records the frame head+body (body may be empty) in one direction.
func (c *Conn) frame(t time.Time, dir Direction, head, body []byte) {
	size := len(head) + len(body)
	if c == nil || size == 0 {
		return
	}
	r := c.r
	cmd, inner := frameCommand(head, body)
	if !r.commandAllowed(cmd, inner) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.closed || r.closed || r.err != nil {
		return
	}
	src, dst, seq, ack := c.local, c.remote, &c.localSeq, c.remoteSeq
	if dir == DirIn {
		src, dst, seq, ack = c.remote, c.local, &c.remoteSeq, c.localSeq
	}
	nseg := max(1, (size+r.cfg.MSS-1)/r.cfg.MSS)
	name := cmd
	if inner != "" {
		name += "(" + inner + ")"
	}
	comment := fmt.Sprintf("%s %s peer=%s", dir, name, c.remote)
	if nseg > 1 {
		comment += fmt.Sprintf(" (%d segments)", nseg)
	}
	for i := 0; i < nseg; i++ {
		from, to := i*r.cfg.MSS, min((i+1)*r.cfg.MSS, size)
		r.chunk = appendRange(appendRange(r.chunk[:0], head, from, to), body, from-len(head), to-len(head))
		flags := uint8(TCPAck)
		if i == nseg-1 {
			flags |= TCPPsh
		}
		r.segment(t, dir, src, dst, tcpFields{seq: *seq, ack: ack, flags: flags, window: recorderWindow}, r.chunk, comment)
		*seq += uint32(len(r.chunk))
		comment = ""
	}
	r.flushLocked()
}

// appendRange appends the part of b within [from, to), offsets relative to
// b's start (negative or past the end clipped).
func appendRange(dst, b []byte, from, to int) []byte {
	from, to = max(from, 0), min(to, len(b))
	if from >= to {
		return dst
	}
	return append(dst, b[from:to]...)
}

// Close records the end of the connection at t: a FIN each way, the node's
// first, and the last ACK.
func (c *Conn) Close(t time.Time) {
	if c == nil {
		return
	}
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.closed || r.closed || r.err != nil {
		return
	}
	c.closed = true
	r.segment(t, DirOut, c.local, c.remote, tcpFields{seq: c.localSeq, ack: c.remoteSeq, flags: TCPFin | TCPAck, window: recorderWindow}, nil, "close")
	c.localSeq++
	r.segment(t, DirIn, c.remote, c.local, tcpFields{seq: c.remoteSeq, ack: c.localSeq, flags: TCPFin | TCPAck, window: recorderWindow}, nil, "")
	c.remoteSeq++
	r.segment(t, DirOut, c.local, c.remote, tcpFields{seq: c.localSeq, ack: c.remoteSeq, flags: TCPAck, window: recorderWindow}, nil, "")
	r.flushLocked()
}

// frameCommand returns the command of the frame head+body, and a cmpr
// frame's inner command, as far as the bytes allow (empty when they do not).
func frameCommand(head, body []byte) (cmd, inner string) {
	var b [wire.FrameHeaderSize + wire.CommandSize]byte
	n := copy(b[:], head)
	n += copy(b[n:], body)
	if n < wire.FrameHeaderSize {
		return "", ""
	}
	cmd = commandField(b[4:16])
	if cmd == wire.CmdCmpr && n == len(b) {
		inner = commandField(b[24:36])
	}
	return cmd, inner
}

// commandField reads a NUL-padded command, stopping at the first NUL.
func commandField(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\x00")
	return s
}
