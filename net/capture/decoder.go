package capture

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/wire"
)

// Renga's and Bitcoin's default ports.
const (
	PortDevnet    = 28333 // devnet P2P (TCP)
	PortDiscovery = 28334 // devnet LAN discovery (UDP)
	PortRegtest   = 18444
	PortMainnet   = 8333
)

// DefaultPorts returns the ports whose traffic is Renga's unless told
// otherwise: devnet, discovery, regtest and mainnet.
func DefaultPorts() []uint16 {
	return []uint16{PortDevnet, PortDiscovery, PortRegtest, PortMainnet}
}

// KnownMagics returns the network magics a Decoder always tries: those of
// every network package chain defines (devnet, regtest, mainnet). Others can
// be given in DecoderConfig.Magics or are learned from the capture.
func KnownMagics() []wire.Magic {
	var m []wire.Magic
	for _, p := range chain.Networks {
		m = append(m, p.Magic)
	}
	return m
}

// DecoderConfig configures a [Decoder]. The zero value decodes every network
// package chain defines, on the default ports within the default memory bounds.
type DecoderConfig struct {
	// Magics are networks to decode besides those package chain defines. A
	// stream on a Renga port whose first frame has another magic but a known
	// command and a valid checksum teaches the decoder that magic; so does a
	// discovery beacon.
	Magics []wire.Magic
	// Ports are Renga's TCP and UDP ports: streams on them are decoded even
	// when they do not begin with a frame, and datagrams to them are read as
	// beacons. Other streams are decoded only if they begin with a known
	// magic. nil means DefaultPorts().
	Ports []uint16
	// MaxStreams bounds the TCP connections followed at once; when full, the
	// least recently active one is closed out. 0 means 4096.
	MaxStreams int
	// MaxStreamBuffer bounds the out-of-order bytes held for one direction of
	// a stream (beyond it the hole is declared a gap). 0 means 8 MiB.
	MaxStreamBuffer int
	// MaxBuffer bounds all bytes held, out-of-order data and partial frames
	// of every stream together; beyond it the largest holders give up theirs
	// (reported as lost frames). 0 means 256 MiB.
	MaxBuffer int
}

func (c DecoderConfig) withDefaults() DecoderConfig {
	if c.Ports == nil {
		c.Ports = DefaultPorts()
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 4096
	}
	if c.MaxStreamBuffer <= 0 {
		c.MaxStreamBuffer = 8 << 20
	}
	if c.MaxBuffer <= 0 {
		c.MaxBuffer = 256 << 20
	}
	return c
}

// maxMagics bounds the magics a decoder tries, learned ones included.
const maxMagics = 16

// Stats counts what a Decoder has seen.
type Stats struct {
	Packets        int // packets fed
	Ignored        int // not TCP or UDP, or not Renga's traffic
	BadPackets     int // headers cut short or inconsistent
	Messages       int // frames decoded into messages
	Decompressed   int // of them, cmpr frames decompressed into the message they carry
	Unknown        int // well-formed frames of unknown commands
	Malformed      int // bad frames, checksums and payloads, and runs of junk
	Beacons        int // discovery datagrams decoded
	Gaps           int // holes in TCP streams
	GapBytes       int // bytes missing in those holes
	JunkBytes      int // bytes skipped that were not frames
	Retransmitted  int // segments whose bytes had all been seen
	OutOfOrder     int // segments that arrived before the bytes preceding them
	StreamsEvicted int // connections closed out early to respect MaxStreams
	FramesShed     int // partial frames dropped to respect MaxBuffer
}

// Decoder turns captured packets into [Record]s: it reassembles each TCP
// stream, cuts it into Bitcoin frames, decodes them with the wire package, and
// decodes discovery datagrams. It is not safe for concurrent use. Its memory
// is bounded by DecoderConfig, whatever the capture holds.
type Decoder struct {
	cfg      DecoderConfig
	magics   []wire.Magic
	conns    map[connKey]*conn
	tick     uint64 // packets seen, to find the least recently active stream
	buffered int    // bytes held by every stream together
	stats    Stats
	inflate  decompressor
}

// NewDecoder returns a Decoder.
func NewDecoder(cfg DecoderConfig) *Decoder {
	d := &Decoder{cfg: cfg.withDefaults(), conns: make(map[connKey]*conn), inflate: decompressor{concurrency: 1}}
	for _, m := range append(KnownMagics(), cfg.Magics...) {
		d.learn(m)
	}
	return d
}

// Stats returns the counts so far.
func (d *Decoder) Stats() Stats { return d.stats }

// Magics returns the magics the decoder tries, learned ones included.
func (d *Decoder) Magics() []wire.Magic { return slices.Clone(d.magics) }

func (d *Decoder) learn(m wire.Magic) {
	if !slices.Contains(d.magics, m) && len(d.magics) < maxMagics {
		d.magics = append(d.magics, m)
	}
}

func (d *Decoder) isPort(p uint16) bool { return slices.Contains(d.cfg.Ports, p) }

// Feed decodes one packet and appends the records it completes to out. A
// record of a TCP message comes with the packet that carries its last byte.
func (d *Decoder) Feed(p Packet, out []Record) []Record {
	d.stats.Packets++
	seg, err := ParsePacket(p.LinkType, p.Data)
	switch {
	case errors.Is(err, ErrBadPacket):
		d.stats.BadPackets++
		return out
	case err != nil:
		d.stats.Ignored++
		return out
	}
	if seg.Proto == ProtoUDP {
		return d.datagram(p, seg, out)
	}
	return d.segment(p, seg, out)
}

// Flush closes out every stream (the capture has ended): holes still open
// become gaps, frames cut off are reported. Records come stream by stream.
func (d *Decoder) Flush(out []Record) []Record {
	conns := make([]*conn, 0, len(d.conns))
	for _, c := range d.conns {
		conns = append(conns, c)
	}
	slices.SortFunc(conns, func(a, b *conn) int { return compareUint64(a.lastUsed, b.lastUsed) })
	for _, c := range conns {
		out = d.closeConn(c, out)
	}
	return out
}

func compareUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// looksLikeBeacon checks the beacon's fixed identifier after its length prefix.
func looksLikeBeacon(p []byte) bool { return len(p) >= 6 && string(p[2:6]) == "rnga" }

func (d *Decoder) datagram(p Packet, seg Segment, out []Record) []Record {
	if !looksLikeBeacon(seg.Payload) && !d.isPort(seg.Dst.Port()) {
		d.stats.Ignored++
		return out
	}
	rec := Record{Time: p.Time, Src: seg.Src, Dst: seg.Dst, Proto: ProtoUDP, Direction: p.Direction,
		Command: "beacon", Size: seg.PayloadLen}
	b, err := wire.DecodeBeacon(seg.Payload, nil)
	switch {
	case len(seg.Payload) < seg.PayloadLen:
		rec.Kind, rec.Summary = KindMalformed, fmt.Sprintf("datagram cut by the capture: %d of %d bytes", len(seg.Payload), seg.PayloadLen)
		d.stats.Malformed++
	case err != nil:
		rec.Kind, rec.Summary = KindMalformed, err.Error()
		d.stats.Malformed++
	default:
		rec.Kind, rec.Magic = KindBeacon, b.Magic
		rec.Summary = beaconSummary(&b, wire.BeaconSigned(seg.Payload))
		d.learn(b.Magic)
		d.stats.Beacons++
	}
	return append(out, rec)
}

// recCtx is what every record from one packet shares.
type recCtx struct {
	t        time.Time
	src, dst netip.AddrPort
	dir      Direction
}

func (c *recCtx) record(k Kind) Record {
	return Record{Time: c.t, Src: c.src, Dst: c.dst, Proto: ProtoTCP, Direction: c.dir, Kind: k}
}

func (d *Decoder) segment(p Packet, seg Segment, out []Record) []Record {
	key, side := makeConnKey(seg.Src, seg.Dst)
	c := d.conns[key]
	if c == nil {
		if !d.isPort(seg.Src.Port()) && !d.isPort(seg.Dst.Port()) && d.magicAt(seg.Payload) < 0 {
			d.stats.Ignored++
			return out
		}
		if len(d.conns) >= d.cfg.MaxStreams {
			out = d.evictOldest(out)
		}
		c = &conn{key: key}
		d.conns[key] = c
	}
	d.tick++
	c.lastUsed = d.tick
	if seg.Flags&TCPSyn != 0 {
		if seg.Flags&TCPAck == 0 {
			c.listener = seg.Dst
		} else {
			c.listener = seg.Src
		}
	}
	ctx := recCtx{t: p.Time, src: seg.Src, dst: seg.Dst, dir: p.Direction}
	if ctx.dir == DirUnknown {
		ctx.dir = DirOut
		if seg.Dst == d.listener(c) {
			ctx.dir = DirIn
		}
	}
	h := &c.half[side]
	before := h.held()
	out = d.addSegment(h, &ctx, seg, out)
	d.buffered += h.held() - before
	if c.half[0].done && c.half[1].done {
		delete(d.conns, key)
	}
	if d.buffered > d.cfg.MaxBuffer {
		out = d.shed(&ctx, out)
	}
	return out
}

// listener returns the side that accepted the connection: the one that got
// the SYN, or else the one on a Renga port, or else the lower port. Without a
// direction in the capture, messages to it count as "in".
func (d *Decoder) listener(c *conn) netip.AddrPort {
	if c.listener.IsValid() {
		return c.listener
	}
	a, b := c.key.a, c.key.b
	switch pa, pb := d.isPort(a.Port()), d.isPort(b.Port()); {
	case pa && !pb:
		return a
	case pb && !pa:
		return b
	case b.Port() < a.Port():
		return b
	}
	return a
}

// magicAt returns the index of the first candidate magic at the start of p,
// or -1.
func (d *Decoder) magicAt(p []byte) int {
	for i, m := range d.magics {
		if bytes.HasPrefix(p, m[:]) {
			return i
		}
	}
	return -1
}

// evictOldest closes out the least recently active connection.
func (d *Decoder) evictOldest(out []Record) []Record {
	var oldest *conn
	for _, c := range d.conns {
		if oldest == nil || c.lastUsed < oldest.lastUsed {
			oldest = c
		}
	}
	if oldest != nil {
		d.stats.StreamsEvicted++
		out = d.closeConn(oldest, out)
	}
	return out
}

func (d *Decoder) closeConn(c *conn, out []Record) []Record {
	for side := range c.half {
		h := &c.half[side]
		src, dst := c.key.a, c.key.b
		if side == 1 {
			src, dst = dst, src
		}
		ctx := recCtx{t: h.lastTime, src: src, dst: dst, dir: h.lastDir}
		before := h.held()
		out = d.finish(h, &ctx, out)
		d.buffered += h.held() - before
	}
	delete(d.conns, c.key)
	return out
}

// shed brings the bytes held back under MaxBuffer: the stream holding most
// gives up its out-of-order data (as gaps) and its partial frame.
func (d *Decoder) shed(ctx *recCtx, out []Record) []Record {
	for d.buffered > d.cfg.MaxBuffer {
		var worst *halfStream
		for _, c := range d.conns {
			for i := range c.half {
				if h := &c.half[i]; worst == nil || h.held() > worst.held() {
					worst = h
				}
			}
		}
		if worst == nil || worst.held() == 0 {
			return out
		}
		before := worst.held()
		for len(worst.pending) > 0 {
			out = d.skipHole(worst, ctx, out)
		}
		out = worst.parser.drop(d, ctx, out)
		d.buffered += worst.held() - before
	}
	return out
}

// message decodes one complete frame into a record.
func (d *Decoder) message(ctx *recCtx, fh wire.FrameHeader, payload []byte) Record {
	rec := ctx.record(KindMessage)
	rec.Magic = fh.Magic
	if wire.Checksum(payload) != fh.Checksum {
		rec.Command, rec.Size = fh.Command, len(payload)
		if rec.Command == wire.CmdCmpr && len(payload) >= wire.CommandSize {
			rec.Inner = printable(commandField(payload[:wire.CommandSize]))
		}
		rec.Kind, rec.Summary = KindMalformed, "checksum mismatch"
		d.stats.Malformed++
		return rec
	}
	d.payload(&rec, fh.Command, payload)
	return rec
}

// Message decodes one record of a Bitcoin Core message-capture file (see
// [MessageCaptureReader]) as the Decoder decodes a frame: the same summary, a
// cmpr decompressed and shown as what it carries. The record has no magic,
// and the node's own end is unknown (the zero AddrPort): Src for a message
// sent, Dst for one received.
func (d *Decoder) Message(m MessageRecord) Record {
	rec := Record{Time: m.Time, Proto: ProtoTCP, Direction: m.Direction, Kind: KindMessage}
	if m.Direction == DirIn {
		rec.Src = m.Peer
	} else {
		rec.Dst = m.Peer
	}
	d.payload(&rec, printable(m.Command), m.Payload)
	return rec
}

// payload decodes the payload of a message of command cmd into rec:
// command, size, kind and summary.
func (d *Decoder) payload(rec *Record, cmd string, payload []byte) {
	rec.Command, rec.Size = cmd, len(payload)
	msg, err := wire.DecodeMessage(cmd, payload)
	switch {
	case errors.Is(err, wire.ErrUnknownCommand):
		rec.Kind, rec.Summary = KindUnknown, "unknown command"
		d.stats.Unknown++
		return
	case err != nil:
		if cmd == wire.CmdCmpr && len(payload) >= wire.CommandSize {
			rec.Inner = printable(commandField(payload[:wire.CommandSize]))
		}
		rec.Kind, rec.Summary = KindMalformed, err.Error()
		d.stats.Malformed++
		return
	}
	c, ok := msg.(*wire.MsgCmpr)
	if !ok {
		rec.Summary = summarize(msg)
		d.stats.Messages++
		return
	}
	// A cmpr is shown as the message it carries, as if sent plain. An
	// inner command nobody knows is not decompressed (as net/peer drops
	// it unread): a few bytes declaring megabytes of it cost nothing.
	rec.Inner = c.Inner
	if _, err := wire.NewMessage(c.Inner); err != nil {
		rec.Kind, rec.Summary = KindUnknown, summarize(c)+": unknown inner command"
		d.stats.Unknown++
		return
	}
	plain, err := d.inflate.decompress(c)
	if err != nil {
		rec.Kind, rec.Summary = KindMalformed, summarize(c)+": "+err.Error()
		d.stats.Malformed++
		return
	}
	rec.Inner, rec.Codec, rec.Compressed = "", c.Codec, len(payload)
	d.stats.Decompressed++
	d.payload(rec, c.Inner, plain) // c.Inner is not cmpr: the envelope's decoding refuses a nested one
}

// printable returns s if it is printable ASCII, else a quoted form.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}
