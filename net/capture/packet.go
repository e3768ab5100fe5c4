package capture

import (
	"errors"
	"fmt"
	"time"
)

// LinkType is a capture file's link-layer header type (the LINKTYPE_ values of
// the pcap and pcapng specifications, which both formats share).
type LinkType uint16

// The link types this package reads. LinkRaw is also what [Recorder] writes.
const (
	LinkNull      LinkType = 0   // BSD loopback: 4-byte address family in the capturing host's byte order
	LinkEthernet  LinkType = 1   // Ethernet II (also what Linux gives for lo)
	LinkRaw       LinkType = 101 // raw IPv4 or IPv6, told apart by the version nibble
	LinkLoop      LinkType = 108 // OpenBSD loopback: 4-byte address family, big-endian
	LinkLinuxSLL  LinkType = 113 // Linux "cooked" capture, version 1
	LinkIPv4      LinkType = 228 // raw IPv4 only
	LinkIPv6      LinkType = 229 // raw IPv6 only
	LinkLinuxSLL2 LinkType = 276 // Linux "cooked" capture, version 2

	// Some systems wrote DLT_RAW's platform value instead of LINKTYPE_RAW.
	linkRawBSD     LinkType = 12
	linkRawOpenBSD LinkType = 14
)

func (l LinkType) String() string {
	switch l {
	case LinkNull:
		return "null"
	case LinkEthernet:
		return "ethernet"
	case LinkRaw, linkRawBSD, linkRawOpenBSD:
		return "raw"
	case LinkLoop:
		return "loop"
	case LinkLinuxSLL:
		return "linux-sll"
	case LinkIPv4:
		return "ipv4"
	case LinkIPv6:
		return "ipv6"
	case LinkLinuxSLL2:
		return "linux-sll2"
	}
	return fmt.Sprintf("linktype(%d)", uint16(l))
}

// Direction says which way a packet or message went, from the point of view of
// the node whose traffic it is.
type Direction uint8

// Directions. DirUnknown is the zero value: the capture did not say.
const (
	DirUnknown Direction = iota
	DirIn                // received by the node
	DirOut               // sent by the node
)

func (d Direction) String() string {
	switch d {
	case DirIn:
		return "in"
	case DirOut:
		return "out"
	}
	return "?"
}

// ParseDirection parses "in" or "out".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "in":
		return DirIn, nil
	case "out":
		return DirOut, nil
	}
	return DirUnknown, fmt.Errorf("capture: direction %q is neither in nor out", s)
}

// Packet is one captured packet as a file holds it.
type Packet struct {
	Time      time.Time
	LinkType  LinkType
	Data      []byte    // the captured bytes; a Reader reuses the buffer on the next call
	Length    int       // the packet's length on the wire; more than len(Data) when the capture cut it
	Direction Direction // pcapng's epb_flags inbound/outbound; DirUnknown when not recorded
	Comment   string    // pcapng's opt_comment, if any
}

// Errors of capture files. Every problem with a file's bytes is a [*FileError]
// wrapping [ErrFormat];
// a file that ends inside a header or a packet also wraps [ErrTruncated], so a
// capture cut short by a killed writer can be told apart and what came before
// it used. Errors from the underlying reader or writer pass through.
var (
	ErrFormat    = errors.New("capture: bad capture file")
	ErrTruncated = errors.New("capture: file ends early")
)

// Errors of packets, from [ParsePacket]. ErrUnsupported is a packet this
// package does not decode (not IP, not TCP or UDP, a fragment, an unknown link
// type): not a fault, simply not Renga's. ErrBadPacket is a packet whose headers
// contradict themselves or are cut short.
var (
	ErrUnsupported = errors.New("capture: packet not decoded")
	ErrBadPacket   = errors.New("capture: malformed packet")
)

// FileError describes what is wrong with a capture file's bytes, and where.
// It unwraps to [ErrFormat], and also to [ErrTruncated] when the file ends
// inside a record.
type FileError struct {
	Format    string // "pcap", "pcapng", or "" before the format is known
	Offset    int64  // byte offset of the header, block or field at fault
	Reason    string
	Truncated bool
}

func (e *FileError) Error() string {
	prefix := "capture: "
	if e.Format != "" {
		prefix += e.Format + ": "
	}
	if e.Truncated {
		return prefix + fmt.Sprintf("%s at byte %d cut short: the file ends early", e.Reason, e.Offset)
	}
	return prefix + fmt.Sprintf("at byte %d: %s", e.Offset, e.Reason)
}

// Unwrap returns ErrFormat, and ErrTruncated for a truncated file.
func (e *FileError) Unwrap() []error {
	if e.Truncated {
		return []error{ErrFormat, ErrTruncated}
	}
	return []error{ErrFormat}
}

// formatError reports a problem with a capture file's bytes at an offset.
func formatError(format string, off int64, reason string, args ...any) error {
	return &FileError{Format: format, Offset: off, Reason: fmt.Sprintf(reason, args...)}
}

// truncatedError reports a file that ends inside something it promised.
func truncatedError(format string, off int64, what string) error {
	return &FileError{Format: format, Offset: off, Reason: what, Truncated: true}
}
