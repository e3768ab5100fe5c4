package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// messageFormat names the format in a [FileError].
const messageFormat = "message capture"

// errNotMessageCapture: a path holds no message-capture file.
var errNotMessageCapture = errors.New("capture: no message-capture files (msgs_sent.dat, msgs_recv.dat)")

// MessageRecord is one message of a Bitcoin Core message-capture file.
type MessageRecord struct {
	Time      time.Time
	Peer      netip.AddrPort // from the directory name; zero when it is not an address (or unknown)
	Direction Direction      // DirOut from msgs_sent, DirIn from msgs_recv
	Command   string
	Payload   []byte // valid until the next call to Next
}

// MessageReader reads the records of one message-capture file. It is not
// safe for concurrent use. Whatever the file says, a record's payload is
// at most wire.MaxMessageSize bytes (what Core itself accepts), so a corrupt
// length costs at most that.
type MessageReader struct {
	r       *bufio.Reader
	off     int64
	buf     []byte
	head    messageHead
	pending bool // head is read, its payload is not
}

type messageHead struct {
	off    int64 // where the record starts
	micros int64
	cmd    string
	n      int
}

// NewMessageReader returns a reader of the records in r.
func NewMessageReader(r io.Reader) *MessageReader {
	return &MessageReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next record (Time, Command and Payload; Peer and
// Direction are the caller's to know), or io.EOF after the last one. A
// problem with the bytes is a [*FileError] wrapping [ErrFormat] (and
// [ErrTruncated] for a file that ends inside a record, as one being written
// does); what came before it was good.
func (r *MessageReader) Next() (MessageRecord, error) {
	h, err := r.peek()
	if err != nil {
		return MessageRecord{}, err
	}
	p, err := r.payload()
	if err != nil {
		return MessageRecord{}, err
	}
	return MessageRecord{Time: time.UnixMicro(h.micros), Command: h.cmd, Payload: p}, nil
}

// peek reads the next record's header, if not already read.
func (r *MessageReader) peek() (messageHead, error) {
	if r.pending {
		return r.head, nil
	}
	var b [messageRecordHeader]byte
	n, err := io.ReadFull(r.r, b[:])
	start := r.off
	r.off += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		return messageHead{}, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return messageHead{}, truncatedError(messageFormat, start, "record header")
	case err != nil:
		return messageHead{}, err
	}
	h := messageHead{off: start, micros: int64(binary.LittleEndian.Uint64(b[0:8])),
		cmd: commandField(b[8 : 8+wire.CommandSize]), n: int(binary.LittleEndian.Uint32(b[8+wire.CommandSize:]))}
	if h.n > wire.MaxMessageSize {
		return messageHead{}, formatError(messageFormat, start, "%s record of %d bytes, over the %d-byte message limit",
			printable(h.cmd), h.n, wire.MaxMessageSize)
	}
	r.head, r.pending = h, true
	return h, nil
}

// payload reads the payload of the record peek read, into the reader's buffer.
func (r *MessageReader) payload() ([]byte, error) {
	h := r.head
	r.pending = false
	if cap(r.buf) < h.n {
		r.buf = make([]byte, h.n) // at most wire.MaxMessageSize: peek checked
	}
	b := r.buf[:h.n]
	n, err := io.ReadFull(r.r, b)
	r.off += int64(n)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, truncatedError(messageFormat, h.off, fmt.Sprintf("%s record of %d bytes", printable(h.cmd), h.n))
	case err != nil:
		return nil, err
	}
	return b, nil
}

// MessageFile is one message-capture file: its path, the peer its directory
// names and the direction its name says.
type MessageFile struct {
	Path      string
	Peer      netip.AddrPort // zero when the directory name is not an address
	Direction Direction
}

// messageFileDirection applies Core's parser's rule: a file whose name has
// "recv" in it holds messages received, any other messages sent.
func messageFileDirection(name string) Direction {
	if strings.Contains(strings.TrimSuffix(name, filepath.Ext(name)), "recv") {
		return DirIn
	}
	return DirOut
}

// FindMessageFiles lists the message-capture files at path: path itself if
// it is a file, else every .dat file below it whose name says "sent" or
// "recv" (a data directory, its message_capture directory or one peer's
// directory all work), sorted by path. Each file's peer is its directory's
// name parsed by [ParseMessageCaptureName].
func FindMessageFiles(path string) ([]MessageFile, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	file := func(p string) MessageFile {
		peer, _ := ParseMessageCaptureName(filepath.Base(filepath.Dir(p)))
		return MessageFile{Path: p, Peer: peer, Direction: messageFileDirection(filepath.Base(p))}
	}
	if !info.IsDir() {
		return []MessageFile{file(path)}, nil
	}
	var files []MessageFile
	err = filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(name, ".dat") &&
			(strings.Contains(name, "sent") || strings.Contains(name, "recv")) {
			files = append(files, file(p))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in %s", errNotMessageCapture, path)
	}
	slices.SortFunc(files, func(a, b MessageFile) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// MessageCaptureReader reads a whole message capture (every file
// [FindMessageFiles] finds) as one sequence in time order, as Core's parser
// sorts it; records of equal time come in the files' order. It holds one
// open file and one header per file, and one payload at a time. It is not
// safe for concurrent use.
type MessageCaptureReader struct {
	files []*messageSource
	errs  []error
}

type messageSource struct {
	MessageFile
	f    *os.File
	r    *MessageReader
	done bool
}

// OpenMessageCapture opens the message-capture files at path (see
// [FindMessageFiles]).
func OpenMessageCapture(path string) (*MessageCaptureReader, error) {
	found, err := FindMessageFiles(path)
	if err != nil {
		return nil, err
	}
	r := &MessageCaptureReader{}
	for _, mf := range found {
		f, err := os.Open(mf.Path)
		if err != nil {
			return nil, errors.Join(err, r.Close())
		}
		r.files = append(r.files, &messageSource{MessageFile: mf, f: f, r: NewMessageReader(f)})
	}
	return r, nil
}

// Files returns the files being read.
func (r *MessageCaptureReader) Files() []MessageFile {
	out := make([]MessageFile, len(r.files))
	for i, s := range r.files {
		out[i] = s.MessageFile
	}
	return out
}

// Next returns the earliest record not yet returned, with its file's peer
// and direction, or io.EOF when every file is done. A file whose bytes go
// wrong (a [*FileError]) ends there and the others go on; [Err] reports it.
// Other errors (reading the disk) are returned.
func (r *MessageCaptureReader) Next() (MessageRecord, error) {
	for {
		var best *messageSource
		var bestHead messageHead
		for _, s := range r.files {
			if s.done {
				continue
			}
			h, err := s.r.peek()
			if err != nil {
				if err := r.stop(s, err); err != nil {
					return MessageRecord{}, err
				}
				continue
			}
			if best == nil || h.micros < bestHead.micros {
				best, bestHead = s, h
			}
		}
		if best == nil {
			return MessageRecord{}, io.EOF
		}
		p, err := best.r.payload()
		if err != nil {
			if err := r.stop(best, err); err != nil {
				return MessageRecord{}, err
			}
			continue
		}
		return MessageRecord{Time: time.UnixMicro(bestHead.micros), Peer: best.Peer, Direction: best.Direction,
			Command: bestHead.cmd, Payload: p}, nil
	}
}

// stop ends a source at err: kept if it is about the file's bytes, else
// returned.
func (r *MessageCaptureReader) stop(s *messageSource, err error) error {
	s.done = true
	if errors.Is(err, io.EOF) {
		return nil
	}
	if errors.Is(err, ErrFormat) {
		r.errs = append(r.errs, fmt.Errorf("%s: %w", s.Path, err))
		return nil
	}
	return fmt.Errorf("%s: %w", s.Path, err)
}

// Err returns the problems found in the files' bytes so far, joined; each
// wraps [ErrFormat] (and [ErrTruncated] for a file that ends inside a record).
func (r *MessageCaptureReader) Err() error { return errors.Join(r.errs...) }

// Close closes the files.
func (r *MessageCaptureReader) Close() error {
	var errs []error
	for _, s := range r.files {
		errs = append(errs, s.f.Close())
	}
	r.files = nil
	return errors.Join(errs...)
}
