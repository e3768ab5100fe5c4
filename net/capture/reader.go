package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// Limits that keep a hostile or corrupt file from costing memory: no block or
// packet record may claim more than this, whatever its length field says.
const (
	// MaxPacketSize bounds one packet's captured bytes (Wireshark's own limit
	// is 256 KiB; loopback segments with offloads reach 64 KiB).
	MaxPacketSize = 1 << 20
	// maxBlockSize bounds a pcapng block: a packet plus generous options.
	maxBlockSize = MaxPacketSize + 64<<10
)

// Reader reads packets from a pcap or pcapng file, whichever it is given. It is
// not safe for concurrent use. The Data of each [Packet] is valid until the next
// call to Next.
type Reader struct {
	r      *bufio.Reader
	off    int64 // bytes consumed so far, for error messages
	buf    []byte
	format string // "pcap" or "pcapng"

	pcap   pcapState
	pcapng pcapngState
}

// NewReader reads the file header and returns a Reader of its packets. Its
// error wraps [ErrFormat] when r holds neither format.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{r: bufio.NewReaderSize(r, 64<<10)}
	head, err := rd.r.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			if len(head) == 0 {
				return nil, &FileError{Reason: "file header", Truncated: true}
			}
			return nil, truncatedError("", 0, "file header")
		}
		return nil, err
	}
	switch {
	case binary.LittleEndian.Uint32(head) == pcapngSHBType:
		rd.format = "pcapng"
		err = rd.startPcapng()
	default:
		if _, _, ok := pcapMagic(head); !ok {
			return nil, formatError("", 0, "magic %x is neither pcap nor pcapng", head)
		}
		rd.format = "pcap"
		err = rd.startPcap()
	}
	if err != nil {
		return nil, err
	}
	return rd, nil
}

// Format returns "pcap" or "pcapng".
func (r *Reader) Format() string { return r.format }

// Next returns the next packet, or io.EOF after the last one. An error wrapping
// [ErrFormat] stops the file; what came before it was good.
func (r *Reader) Next() (Packet, error) {
	if r.format == "pcap" {
		return r.nextPcap()
	}
	return r.nextPcapng()
}

// read returns the next n bytes in the Reader's scratch buffer, advancing the
// offset. A clean end of file before the first byte is io.EOF; an end after
// some of them is a truncation naming what.
func (r *Reader) read(n int, what string) ([]byte, error) {
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	got, err := io.ReadFull(r.r, b)
	start := r.off
	r.off += int64(got)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, io.EOF):
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, truncatedError(r.format, start, what)
	}
	return nil, err
}

// readMore is read for a record already begun: any end of file is a truncation.
func (r *Reader) readMore(n int, what string) ([]byte, error) {
	start := r.off
	b, err := r.read(n, what)
	if errors.Is(err, io.EOF) {
		return nil, truncatedError(r.format, start, what)
	}
	return b, err
}
