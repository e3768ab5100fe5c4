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
	Magic     wire.Magic // the frame's network (zero for gaps and junk, and in message-capture files)
	// Command is the message's command, "beacon", or empty for gaps and
	// junk. A cmpr frame that decompressed is reported as the message it
	// carries, as if it had been sent plain: Command is the inner command
	// and Codec and Compressed say how it travelled.
	Command string
	Inner   string     // the command a cmpr frame declares, when it was not decompressed
	Codec   wire.Codec // the codec of a message that came in a cmpr frame; 0 for one sent plain
	// Compressed is the cmpr frame's payload bytes for a message that came
	// compressed (Size is then the decompressed payload's).
	Compressed int
	Size       int    // payload bytes; for a gap, the bytes missing; for junk, the bytes skipped
	Summary    string // one line: the message's gist, or what is wrong
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
// time (in loc; nil means UTC), source → destination ("-" for an end the
// capture does not name, such as the node's own address in a message-capture
// file), direction, command, payload size, summary. A message that came in a
// cmpr frame is shown as sent plain, its summary marked "[cmpr CODEC N B]"
// with the compressed size. Fixed column widths keep IPv4 captures aligned.
func (r *Record) AppendText(b []byte, loc *time.Location) []byte {
	if loc == nil {
		loc = time.UTC
	}
	b = r.Time.In(loc).AppendFormat(b, "2006-01-02 15:04:05.000000")
	b = fmt.Appendf(b, "  %-21s → %-21s  %-3s  %-12s %8d  ", endpoint(r.Src), endpoint(r.Dst), r.Direction, r.label(), r.Size)
	if r.Kind == KindMalformed || r.Kind == KindUnknown {
		b = append(b, "! "...)
	}
	if r.Codec != 0 {
		b = fmt.Appendf(b, "[cmpr %s %d B] ", r.Codec, r.Compressed)
	}
	return append(b, r.Summary...)
}

// endpoint is an address for people: "-" when the capture does not say.
func endpoint(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return "-"
	}
	return ap.String()
}

// jsonRecord is the shape of a record in JSON lines.
type jsonRecord struct {
	Time       string `json:"time"`
	Src        string `json:"src"`
	Dst        string `json:"dst"`
	Proto      string `json:"proto"`
	Direction  string `json:"dir"`
	Kind       string `json:"kind"`
	Magic      string `json:"magic,omitempty"`
	Command    string `json:"command,omitempty"`
	Inner      string `json:"inner,omitempty"`
	Codec      string `json:"cmpr,omitempty"`
	Compressed int    `json:"cmpr_size,omitempty"`
	Size       int    `json:"size"`
	Summary    string `json:"summary"`
}

// MarshalJSON gives the record as one JSON object with string fields for
// time (RFC 3339, nanoseconds, UTC), endpoints ("" for an end the capture
// does not name), proto, dir, kind, magic and command; a message that came
// in a cmpr frame also has "cmpr" (the codec) and "cmpr_size".
func (r Record) MarshalJSON() ([]byte, error) {
	j := jsonRecord{
		Time:       r.Time.UTC().Format(time.RFC3339Nano),
		Src:        jsonEndpoint(r.Src),
		Dst:        jsonEndpoint(r.Dst),
		Proto:      map[uint8]string{ProtoTCP: "tcp", ProtoUDP: "udp"}[r.Proto],
		Direction:  r.Direction.String(),
		Kind:       r.Kind.String(),
		Command:    r.Command,
		Inner:      r.Inner,
		Compressed: r.Compressed,
		Size:       r.Size,
		Summary:    r.Summary,
	}
	if r.Magic != (wire.Magic{}) {
		j.Magic = r.Magic.String()
	}
	if r.Codec != 0 {
		j.Codec = r.Codec.String()
	}
	return json.Marshal(j)
}

func jsonEndpoint(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return ap.String()
}

// Filter selects records. The zero Filter selects every record.
type Filter struct {
	// Peers, when not empty: either endpoint must match one of them.
	Peers []PeerMatch
	// Commands, when not empty: the command must be one of them. A message
	// that came in a cmpr frame matches both its own command and "cmpr", as
	// does a cmpr that was not decompressed by its inner command. Gaps and
	// junk, having no command, never match.
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
		(r.Inner == "" || !slices.Contains(f.Commands, r.Inner)) &&
		(r.Codec == 0 || !slices.Contains(f.Commands, wire.CmdCmpr)) {
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
