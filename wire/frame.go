package wire

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// Magic is the 4-byte network identifier that starts every frame.
type Magic [4]byte

// String returns the magic as 8 hex digits in wire order, e.g. "f9beb4d9".
func (m Magic) String() string { return hex.EncodeToString(m[:]) }

// Checksum returns the frame checksum of a payload: the first four bytes of its SHA-256d.
func Checksum(payload []byte) [4]byte {
	h := sha256d.Sum(payload)
	return [4]byte(h[:4])
}

// FrameHeader is the 24-byte header in front of every payload.
type FrameHeader struct {
	Magic    Magic
	Command  string // without the NUL padding
	Length   uint32
	Checksum [4]byte
}

// ParseFrameHeader checks a frame header against magic: the magic itself, the
// command's charset (printable ASCII, then only NUL padding), and the length,
// both against [MaxMessageSize] and against the largest payload the command can
// have. It does all of this before a single payload byte is read. Known commands
// come back as constant strings, so parsing them does not allocate.
func ParseFrameHeader(p *[FrameHeaderSize]byte, magic Magic) (FrameHeader, error) {
	h := FrameHeader{
		Magic:    Magic(p[0:4]),
		Length:   binary.LittleEndian.Uint32(p[16:20]),
		Checksum: [4]byte(p[20:24]),
	}
	if h.Magic != magic {
		return h, malformed("frame.magic", 0, ErrBadMagic)
	}
	n, bad := commandLength((*[CommandSize]byte)(p[4:]))
	if bad >= 0 {
		return h, malformed("frame.command", 4+bad, ErrBadCommand)
	}
	raw := p[4 : 4+n]
	max := MaxMessageSize
	if c := lookupCommand(raw); c != nil {
		h.Command, max = c.name, c.maxPayload
	} else {
		h.Command = string(raw)
	}
	if h.Length > uint32(max) {
		return h, malformed("frame.length", 16, fmt.Errorf("%w: %s payload of %d bytes, limit %d",
			ErrOversize, h.Command, h.Length, max))
	}
	return h, nil
}

// commandLength returns the length of a NUL-padded command field, or the index of
// the first byte that breaks the rule: printable ASCII, then only NULs. (An empty
// command passes, as in Bitcoin Core, and is simply unknown.)
func commandLength(raw *[CommandSize]byte) (n, bad int) {
	for n < CommandSize && raw[n] != 0 {
		if raw[n] < 0x20 || raw[n] > 0x7e {
			return n, n
		}
		n++
	}
	for i := n; i < CommandSize; i++ {
		if raw[i] != 0 {
			return n, i
		}
	}
	return n, -1
}

// PutFrameHeader writes a frame header for a payload of the given command.
func PutFrameHeader(p *[FrameHeaderSize]byte, magic Magic, cmd string, payload []byte) {
	copy(p[0:4], magic[:])
	clear(p[4 : 4+CommandSize])
	copy(p[4:4+CommandSize], cmd)
	binary.LittleEndian.PutUint32(p[16:20], uint32(len(payload)))
	sum := Checksum(payload)
	copy(p[20:24], sum[:])
}

// AppendFrame appends msg as a complete frame (header and payload) to dst.
func AppendFrame(dst []byte, magic Magic, msg Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, FrameHeaderSize)...)
	dst, err := msg.AppendBinary(dst)
	if err != nil {
		return dst[:start], fmt.Errorf("wire: encode %s: %w", msg.Command(), err)
	}
	payload := dst[start+FrameHeaderSize:]
	if max := MaxPayload(msg.Command()); len(payload) > max {
		return dst[:start], fmt.Errorf("wire: encode %s: %w: %d bytes, limit %d",
			msg.Command(), ErrOversize, len(payload), max)
	}
	PutFrameHeader((*[FrameHeaderSize]byte)(dst[start:]), magic, msg.Command(), payload)
	return dst, nil
}

// Append appends the header as it stands, its checksum included (not
// computed again: for a frame as it was received, whose checksum was
// verified on reading).
func (h *FrameHeader) Append(dst []byte) []byte {
	var p [FrameHeaderSize]byte
	copy(p[0:4], h.Magic[:])
	copy(p[4:4+CommandSize], h.Command)
	binary.LittleEndian.PutUint32(p[16:20], h.Length)
	copy(p[20:24], h.Checksum[:])
	return append(dst, p[:]...)
}

// AppendRawFrame appends a frame carrying an already-encoded payload.
func AppendRawFrame(dst []byte, magic Magic, cmd string, payload []byte) []byte {
	var h [FrameHeaderSize]byte
	PutFrameHeader(&h, magic, cmd, payload)
	return append(append(dst, h[:]...), payload...)
}

// WriteMessage writes msg as one frame with a single Write call.
func WriteMessage(w io.Writer, magic Magic, msg Message) error {
	frame, err := AppendFrame(nil, magic, msg)
	if err != nil {
		return err
	}
	_, err = w.Write(frame)
	return err
}

// Frame is one message as it came off the wire: checked, not yet decoded.
type Frame struct {
	Header  FrameHeader
	Payload []byte
}

// Reader reads frames from a stream for one network. It is not safe for
// concurrent use; a connection has one reader goroutine.
type Reader struct {
	r     io.Reader
	magic Magic
	hdr   [FrameHeaderSize]byte
}

// NewReader returns a Reader of frames with the given magic. Wrap a socket in a
// bufio.Reader first: the Reader makes two reads per frame.
func NewReader(r io.Reader, magic Magic) *Reader { return &Reader{r: r, magic: magic} }

// ReadFrame reads one frame and verifies its header and checksum.
//
// A clean end of stream before a frame is io.EOF; a stream cut inside a frame is
// io.ErrUnexpectedEOF; both are the connection's doing and do not wrap
// [ErrMalformed]. A bad header wraps ErrMalformed and leaves the stream where it
// is (the caller should disconnect: there is no way to resynchronise). A checksum
// mismatch wraps [ErrChecksum] and ErrMalformed, with the frame consumed, so the
// caller may drop it and carry on.
func (r *Reader) ReadFrame() (Frame, error) {
	h, err := r.readHeader()
	if err != nil {
		return Frame{Header: h}, err
	}
	payload, err := readPayload(r.r, int(h.Length))
	if err != nil {
		return Frame{Header: h}, err
	}
	if Checksum(payload) != h.Checksum {
		return Frame{Header: h, Payload: payload}, malformed("frame.checksum", 20, ErrChecksum)
	}
	return Frame{Header: h, Payload: payload}, nil
}

// ReadMessage reads and decodes one message. A frame with a command this package
// does not know is skipped without buffering its payload and reported as
// [ErrUnknownCommand], so the caller can carry on. Other errors are as for
// [Reader.ReadFrame] and [Message.Decode]; the message aliases a fresh buffer.
func (r *Reader) ReadMessage() (Message, error) {
	h, err := r.readHeader()
	if err != nil {
		return nil, err
	}
	c := lookupCommand([]byte(h.Command))
	if c == nil {
		if _, err := io.CopyN(io.Discard, r.r, int64(h.Length)); err != nil {
			return nil, noEOF(err)
		}
		return nil, &UnknownCommandError{Command: h.Command}
	}
	payload, err := readPayload(r.r, int(h.Length))
	if err != nil {
		return nil, err
	}
	if Checksum(payload) != h.Checksum {
		return nil, malformed("frame.checksum", 20, ErrChecksum)
	}
	msg := c.new()
	if err := msg.Decode(payload); err != nil {
		return nil, fmt.Errorf("wire: %s: %w", h.Command, err)
	}
	return msg, nil
}

func (r *Reader) readHeader() (FrameHeader, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return FrameHeader{}, err
	}
	return ParseFrameHeader(&r.hdr, r.magic)
}

// firstChunk is how much of a payload is allocated before any of it has
// arrived (Bitcoin Core grows its receive buffer in steps of the same size).
// Only when that much has come is the rest allocated, so a peer that announces
// 4,000,000 bytes and stalls costs 256 KiB, not 4 MB, while an honest large
// payload is copied once, at most 256 KiB of it.
const firstChunk = 256 << 10

func readPayload(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, min(n, firstChunk))
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, noEOF(err)
	}
	if n == len(buf) {
		return buf, nil
	}
	full := make([]byte, n)
	copy(full, buf)
	if _, err := io.ReadFull(r, full[len(buf):]); err != nil {
		return nil, noEOF(err)
	}
	return full, nil
}

// noEOF turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
