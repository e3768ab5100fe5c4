package capture

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// Kind says what a [Record] describes.
type Kind uint8

// Kinds of records.
const (
	KindMessage   Kind = iota // a frame whose message decoded
	KindUnknown               // a well-formed frame of a command the wire package does not know
	KindMalformed             // a bad frame header, checksum or payload, or bytes that are not frames
	KindBeacon                // a LAN discovery datagram
	KindGap                   // bytes of a TCP stream the capture does not have
)

func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindUnknown:
		return "unknown"
	case KindMalformed:
		return "malformed"
	case KindBeacon:
		return "beacon"
	case KindGap:
		return "gap"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Record is one decoded item of a capture: a message, a beacon, or a problem
// with the bytes (a malformed frame, a gap in a stream).
type Record struct {
	Time      time.Time
	Src, Dst  netip.AddrPort
	Proto     uint8 // ProtoTCP or ProtoUDP
	Direction Direction
	Kind      Kind
	Magic     wire.Magic // the frame's network (zero for gaps and junk)
	Command   string     // the frame's command, "beacon", or empty for gaps and junk
	Inner     string     // the command a cmpr frame wraps
	Size      int        // payload bytes; for a gap, the bytes missing; for junk, the bytes skipped
	Summary   string     // one line: the message's gist, or what is wrong
}

// label is the command column: the command, or the kind for records without one.
func (r *Record) label() string {
	switch {
	case r.Command != "":
		return r.Command
	case r.Kind == KindGap:
		return "[gap]"
	}
	return "[junk]"
}

// AppendText appends the record as one line for people, without a newline:
// time (in loc; nil means UTC), source → destination, direction, command, payload size,
// summary. Fixed column widths keep IPv4 captures aligned.
func (r *Record) AppendText(b []byte, loc *time.Location) []byte {
	if loc == nil {
		loc = time.UTC
	}
	b = r.Time.In(loc).AppendFormat(b, "2006-01-02 15:04:05.000000")
	b = fmt.Appendf(b, "  %-21s → %-21s  %-3s  %-12s %8d  ", r.Src, r.Dst, r.Direction, r.label(), r.Size)
	if r.Kind == KindMalformed || r.Kind == KindUnknown {
		b = append(b, "! "...)
	}
	return append(b, r.Summary...)
}

// jsonRecord is the shape of a record in JSON lines.
type jsonRecord struct {
	Time      string `json:"time"`
	Src       string `json:"src"`
	Dst       string `json:"dst"`
	Proto     string `json:"proto"`
	Direction string `json:"dir"`
	Kind      string `json:"kind"`
	Magic     string `json:"magic,omitempty"`
	Command   string `json:"command,omitempty"`
	Inner     string `json:"inner,omitempty"`
	Size      int    `json:"size"`
	Summary   string `json:"summary"`
}

// MarshalJSON gives the record as one JSON object with string fields for
// time (RFC 3339, nanoseconds, UTC), endpoints, proto, dir, kind, magic and
// command.
func (r Record) MarshalJSON() ([]byte, error) {
	j := jsonRecord{
		Time:      r.Time.UTC().Format(time.RFC3339Nano),
		Src:       r.Src.String(),
		Dst:       r.Dst.String(),
		Proto:     map[uint8]string{ProtoTCP: "tcp", ProtoUDP: "udp"}[r.Proto],
		Direction: r.Direction.String(),
		Kind:      r.Kind.String(),
		Command:   r.Command,
		Inner:     r.Inner,
		Size:      r.Size,
		Summary:   r.Summary,
	}
	if r.Magic != (wire.Magic{}) {
		j.Magic = r.Magic.String()
	}
	return json.Marshal(j)
}

// Filter selects records. The zero Filter selects every record.
type Filter struct {
	// Peers, when not empty: either endpoint must match one of them.
	Peers []PeerMatch
	// Commands, when not empty: the command (or a cmpr's inner command) must
	// be one of them. Gaps and junk, having no command, never match.
	Commands []string
	// Direction, when not DirUnknown, must be the record's direction.
	Direction Direction
}

// PeerMatch matches an endpoint by address prefix and, when Port is not 0, port.
type PeerMatch struct {
	Prefix netip.Prefix
	Port   uint16
}

// ParsePeerMatch parses an address ("10.0.0.2", "::1"), an address and port
// ("10.0.0.2:28333", "[::1]:18444") or a prefix ("10.0.0.0/8").
func ParsePeerMatch(s string) (PeerMatch, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a := ap.Addr().Unmap()
		return PeerMatch{Prefix: netip.PrefixFrom(a, a.BitLen()), Port: ap.Port()}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return PeerMatch{Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return PeerMatch{Prefix: p.Masked()}, nil
	}
	return PeerMatch{}, fmt.Errorf("capture: peer %q is not an address, address:port or prefix", s)
}

// Match reports whether ap matches.
func (m PeerMatch) Match(ap netip.AddrPort) bool {
	return m.Prefix.Contains(ap.Addr().Unmap()) && (m.Port == 0 || m.Port == ap.Port())
}

// Match reports whether the filter selects r.
func (f *Filter) Match(r *Record) bool {
	if f.Direction != DirUnknown && r.Direction != f.Direction {
		return false
	}
	if len(f.Commands) > 0 && !slices.Contains(f.Commands, r.Command) &&
		(r.Inner == "" || !slices.Contains(f.Commands, r.Inner)) {
		return false
	}
	if len(f.Peers) == 0 {
		return true
	}
	for _, m := range f.Peers {
		if m.Match(r.Src) || m.Match(r.Dst) {
			return true
		}
	}
	return false
}

// ParseMagic parses a network magic from 8 hex digits in wire order, e.g.
// "fabfb5da" for regtest.
func ParseMagic(s string) (wire.Magic, error) {
	s = strings.TrimPrefix(strings.ToLower(s), "0x")
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || len(s) != 8 {
		return wire.Magic{}, fmt.Errorf("capture: magic %q is not 8 hex digits", s)
	}
	return wire.Magic{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}, nil
}
