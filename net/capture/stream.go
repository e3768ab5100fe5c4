package capture

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// TCP reassembly. Each direction of a connection is a halfStream: bytes are
// delivered in sequence order to its frameParser; a segment ahead of the next
// expected byte waits (copied) until the hole before it fills; bytes already
// delivered are dropped (the first copy wins when a retransmission differs);
// a hole that does not fill — the stream's buffer bound is reached, the stream
// ends, the capture ends — is declared a gap and the parser resynchronises.

type connKey struct{ a, b netip.AddrPort } // a sorts before b

func makeConnKey(src, dst netip.AddrPort) (connKey, int) {
	if src.Compare(dst) <= 0 {
		return connKey{src, dst}, 0
	}
	return connKey{dst, src}, 1
}

type conn struct {
	key      connKey
	listener netip.AddrPort // the side that got the SYN; invalid when not seen
	half     [2]halfStream  // [0] carries a → b, [1] b → a
	lastUsed uint64
}

type halfStream struct {
	started      bool
	done         bool // ended (FIN reached, RST, or evicted); only a new SYN restarts it
	next         uint32
	pending      []pendingSeg // ahead of next, sorted by distance from next
	pendingBytes int
	fin          bool
	finSeq       uint32
	lastTime     time.Time
	lastDir      Direction
	parser       frameParser
}

type pendingSeg struct {
	seq     uint32
	data    []byte
	missing int // bytes after data that the capture did not keep
}

// maxPendingSegments bounds the out-of-order segments one direction holds.
const maxPendingSegments = 4096

// maxSeqJump is how far a segment may be from the next expected byte before
// it is taken as a new stream whose SYN the capture missed.
const maxSeqJump = 64 << 20

func (h *halfStream) held() int { return h.pendingBytes + len(h.parser.buf) }

func (d *Decoder) addSegment(h *halfStream, ctx *recCtx, seg Segment, out []Record) []Record {
	h.lastTime, h.lastDir = ctx.t, ctx.dir
	seq := seg.Seq
	if seg.Flags&TCPSyn != 0 {
		if !h.started || h.next != seq+1 {
			if h.started {
				out = d.finish(h, ctx, out) // an earlier connection on these ports
			}
			*h = halfStream{started: true, next: seq + 1, lastTime: ctx.t, lastDir: ctx.dir}
			h.parser.clean = true
		}
		seq++
	}
	if !h.started {
		// Joined mid-stream: the first byte need not start a frame.
		*h = halfStream{started: true, next: seq, lastTime: ctx.t, lastDir: ctx.dir}
		h.parser.seeking, h.parser.quiet = true, true
	}
	if h.done {
		return out // after the end: retransmitted FINs and stray ACKs
	}
	if rel := int32(seq - h.next); rel > maxSeqJump || rel < -maxSeqJump {
		out = d.finish(h, ctx, out)
		*h = halfStream{started: true, next: seq, lastTime: ctx.t, lastDir: ctx.dir}
		h.parser.seeking, h.parser.quiet = true, true
	}
	if seg.PayloadLen > 0 {
		out = d.accept(h, ctx, seq, seg.Payload, seg.PayloadLen-len(seg.Payload), out)
	}
	if seg.Flags&TCPFin != 0 && !h.fin {
		h.fin, h.finSeq = true, seq+uint32(seg.PayloadLen)
	}
	if seg.Flags&TCPRst != 0 || (h.fin && len(h.pending) == 0 && h.next == h.finSeq) {
		out = d.finish(h, ctx, out)
	}
	return out
}

// accept takes the bytes [seq, seq+len(data)+missing) of a segment.
func (d *Decoder) accept(h *halfStream, ctx *recCtx, seq uint32, data []byte, missing int, out []Record) []Record {
	end := seq + uint32(len(data)+missing)
	if int32(end-h.next) <= 0 {
		d.stats.Retransmitted++
		return out
	}
	if int32(seq-h.next) > 0 {
		d.stats.OutOfOrder++
		h.insert(pendingSeg{seq: seq, data: bytes.Clone(data), missing: missing})
		for len(h.pending) > 0 && (h.pendingBytes > d.cfg.MaxStreamBuffer || len(h.pending) > maxPendingSegments) {
			out = d.skipHole(h, ctx, out)
		}
		return out
	}
	out = d.deliver(h, ctx, seq, data, missing, out)
	return d.drain(h, ctx, out)
}

// deliver hands in-order bytes (seq ≤ next < their end) to the parser.
func (d *Decoder) deliver(h *halfStream, ctx *recCtx, seq uint32, data []byte, missing int, out []Record) []Record {
	end := seq + uint32(len(data)+missing)
	if skip := int(h.next - seq); skip > 0 {
		if skip <= len(data) {
			data = data[skip:]
		} else {
			missing -= skip - len(data)
			data = nil
		}
	}
	h.next = end
	out = h.parser.write(d, ctx, data, out)
	if missing > 0 {
		out = h.parser.gap(d, ctx, missing, out)
	}
	return out
}

// drain delivers the waiting segments that the stream has caught up with.
func (d *Decoder) drain(h *halfStream, ctx *recCtx, out []Record) []Record {
	for len(h.pending) > 0 && int32(h.pending[0].seq-h.next) <= 0 {
		s := h.pending[0]
		h.pending = slices.Delete(h.pending, 0, 1)
		h.pendingBytes -= len(s.data)
		if int32(s.seq+uint32(len(s.data)+s.missing)-h.next) <= 0 {
			d.stats.Retransmitted++
			continue
		}
		out = d.deliver(h, ctx, s.seq, s.data, s.missing, out)
	}
	return out
}

// insert adds a segment ahead of next, in order; a second copy of the same
// starting sequence number is dropped.
func (h *halfStream) insert(s pendingSeg) {
	dist := s.seq - h.next
	i, found := slices.BinarySearchFunc(h.pending, dist, func(p pendingSeg, dist uint32) int {
		return compareUint64(uint64(p.seq-h.next), uint64(dist))
	})
	if found {
		return
	}
	h.pending = slices.Insert(h.pending, i, s)
	h.pendingBytes += len(s.data)
}

// skipHole declares the hole before the first waiting segment a gap.
func (d *Decoder) skipHole(h *halfStream, ctx *recCtx, out []Record) []Record {
	if len(h.pending) == 0 {
		return out
	}
	n := int(h.pending[0].seq - h.next)
	out = h.parser.gap(d, ctx, n, out)
	h.next = h.pending[0].seq
	return d.drain(h, ctx, out)
}

// finish ends a direction: holes become gaps, a frame cut off is reported.
func (d *Decoder) finish(h *halfStream, ctx *recCtx, out []Record) []Record {
	if !h.started || h.done {
		return out
	}
	for len(h.pending) > 0 {
		out = d.skipHole(h, ctx, out)
	}
	if h.fin && int32(h.finSeq-h.next) > 0 {
		out = h.parser.gap(d, ctx, int(h.finSeq-h.next), out)
		h.next = h.finSeq
	}
	out = h.parser.end(d, ctx, out)
	h.done = true
	return out
}

// frameParser cuts one direction's reassembled bytes into frames.
type frameParser struct {
	buf     []byte // bytes not yet consumed
	magic   wire.Magic
	locked  bool // magic is this stream's, from a frame that decoded
	clean   bool // the stream began at its SYN, so its first byte starts a frame
	frames  int  // frames read so far
	seeking bool // looking for the next frame magic (after a gap or junk)
	quiet   bool // seeking after joining mid-stream or a gap: what is skipped is not junk
	junk    int  // bytes skipped while seeking
	skip    int  // bytes still to come of a frame already reported lost
}

func (p *frameParser) write(d *Decoder, ctx *recCtx, data []byte, out []Record) []Record {
	if p.skip > 0 {
		n := min(p.skip, len(data))
		p.skip -= n
		data = data[n:]
	}
	if len(data) == 0 {
		return out
	}
	p.buf = append(p.buf, data...)
	return p.parse(d, ctx, out)
}

func (p *frameParser) parse(d *Decoder, ctx *recCtx, out []Record) []Record {
	consumed := false
	for {
		if p.seeking {
			i := p.findMagic(d)
			if i < 0 {
				keep := min(len(p.buf), 3) // a magic may straddle this write and the next
				p.junk += len(p.buf) - keep
				p.buf = append(p.buf[:0], p.buf[len(p.buf)-keep:]...)
				return out
			}
			p.junk += i
			p.buf = p.buf[i:]
			out = p.endSeek(d, ctx, out)
		}
		if len(p.buf) < wire.FrameHeaderSize {
			break
		}
		hdr := (*[wire.FrameHeaderSize]byte)(p.buf)
		magic, ok, wait := p.frameMagic(d, hdr)
		if wait {
			break
		}
		if !ok {
			p.startSeek(1)
			continue
		}
		fh, err := wire.ParseFrameHeader(hdr, magic)
		if err != nil {
			rec := ctx.record(KindMalformed)
			rec.Magic, rec.Command = magic, printable(commandField(hdr[4:16]))
			rec.Summary = "bad frame header: " + err.Error()
			out = append(out, rec)
			d.stats.Malformed++
			p.startSeek(1)
			continue
		}
		need := wire.FrameHeaderSize + int(fh.Length)
		if len(p.buf) < need {
			break
		}
		out = append(out, d.message(ctx, fh, p.buf[wire.FrameHeaderSize:need]))
		p.magic, p.locked = magic, true
		p.frames++
		p.buf = p.buf[need:]
		consumed = true
	}
	switch {
	case len(p.buf) == 0 && cap(p.buf) > 64<<10:
		p.buf = nil // do not keep a block-sized buffer for a quiet stream
	case len(p.buf) == 0:
		p.buf = p.buf[:0]
	case consumed:
		p.buf = append([]byte(nil), p.buf...) // release what was consumed
	}
	return out
}

// frameMagic decides the magic of the frame header at the start of buf: the
// stream's own once known, else any candidate, else — for the first frame of
// a stream seen from its SYN — a new magic whose frame has a known command
// and a valid checksum (wait until the whole frame is there).
func (p *frameParser) frameMagic(d *Decoder, hdr *[wire.FrameHeaderSize]byte) (m wire.Magic, ok, wait bool) {
	m = wire.Magic(hdr[:4])
	if p.locked {
		return m, m == p.magic, false
	}
	if slices.Contains(d.magics, m) {
		return m, true, false
	}
	if !p.clean || p.frames > 0 || len(d.magics) >= maxMagics {
		return m, false, false
	}
	fh, err := wire.ParseFrameHeader(hdr, m)
	if err != nil {
		return m, false, false
	}
	if _, err := wire.NewMessage(fh.Command); err != nil {
		return m, false, false
	}
	need := wire.FrameHeaderSize + int(fh.Length)
	if len(p.buf) < need {
		return m, false, true
	}
	if wire.Checksum(p.buf[wire.FrameHeaderSize:need]) != fh.Checksum {
		return m, false, false
	}
	d.learn(m)
	return m, true, false
}

// findMagic returns the index of the earliest magic in buf, or -1.
func (p *frameParser) findMagic(d *Decoder) int {
	if p.locked {
		return bytes.Index(p.buf, p.magic[:])
	}
	best := -1
	for _, m := range d.magics {
		if i := bytes.Index(p.buf, m[:]); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	return best
}

func (p *frameParser) startSeek(n int) {
	p.buf = p.buf[n:]
	p.junk += n
	p.seeking = true
}

func (p *frameParser) endSeek(d *Decoder, ctx *recCtx, out []Record) []Record {
	p.seeking = false
	if p.junk > 0 && !p.quiet {
		out = append(out, p.junkRecord(ctx, p.junk))
		d.stats.JunkBytes += p.junk
		d.stats.Malformed++
	}
	p.junk, p.quiet = 0, false
	return out
}

func (p *frameParser) junkRecord(ctx *recCtx, n int) Record {
	rec := ctx.record(KindMalformed)
	rec.Size = n
	rec.Summary = fmt.Sprintf("skipped %d bytes that are not Bitcoin frames", n)
	return rec
}

// pendingHeader returns the header of the partial frame at the start of buf.
func (p *frameParser) pendingHeader(d *Decoder) (wire.FrameHeader, bool) {
	if p.seeking || len(p.buf) < wire.FrameHeaderSize {
		return wire.FrameHeader{}, false
	}
	hdr := (*[wire.FrameHeaderSize]byte)(p.buf)
	m := wire.Magic(hdr[:4])
	if (p.locked && m != p.magic) || (!p.locked && !slices.Contains(d.magics, m)) {
		return wire.FrameHeader{}, false
	}
	fh, err := wire.ParseFrameHeader(hdr, m)
	return fh, err == nil
}

// gap reports n bytes missing from the stream. Inside a frame whose header
// arrived, the frame is reported lost and the parser skips exactly to its end
// when the gap does not reach past it; otherwise it resynchronises on the next
// frame magic.
func (p *frameParser) gap(d *Decoder, ctx *recCtx, n int, out []Record) []Record {
	d.stats.Gaps++
	d.stats.GapBytes += n
	if p.skip > 0 {
		if n <= p.skip {
			p.skip -= n
			return out
		}
		n -= p.skip
		p.skip = 0
		p.seeking = true
	}
	rec := ctx.record(KindGap)
	rec.Size = n
	rec.Summary = fmt.Sprintf("%d bytes missing from the capture", n)
	if fh, ok := p.pendingHeader(d); ok {
		need := wire.FrameHeaderSize + int(fh.Length)
		rec.Magic, rec.Command = fh.Magic, fh.Command
		rec.Summary += fmt.Sprintf("; %s frame of %d bytes lost", fh.Command, fh.Length)
		if len(p.buf)+n <= need {
			p.skip = need - len(p.buf) - n
			p.buf = p.buf[:0]
			return append(out, rec)
		}
	}
	if p.seeking && p.junk > 0 && !p.quiet {
		out = append(out, p.junkRecord(ctx, p.junk))
		d.stats.JunkBytes += p.junk
	}
	// Bytes up to the next magic are the rest of a frame lost in the gap,
	// which its record reports: skipping them is not junk.
	p.buf = p.buf[:0]
	p.seeking, p.quiet, p.junk = true, true, 0
	return append(out, rec)
}

// drop gives up the partial frame held (to respect MaxBuffer): it is reported
// lost and its remaining bytes are skipped.
func (p *frameParser) drop(d *Decoder, ctx *recCtx, out []Record) []Record {
	if len(p.buf) == 0 {
		return out
	}
	rec := ctx.record(KindGap)
	if fh, ok := p.pendingHeader(d); ok {
		p.skip = wire.FrameHeaderSize + int(fh.Length) - len(p.buf)
		rec.Magic, rec.Command, rec.Size = fh.Magic, fh.Command, int(fh.Length)
		rec.Summary = fmt.Sprintf("%s frame of %d bytes not decoded: decoder memory limit reached", fh.Command, fh.Length)
	} else {
		rec.Size = len(p.buf)
		rec.Summary = fmt.Sprintf("%d bytes dropped: decoder memory limit reached", len(p.buf))
		p.seeking = true
	}
	d.stats.FramesShed++
	p.buf = nil
	return append(out, rec)
}

// end reports what is left when a stream ends: a frame cut off, or junk.
func (p *frameParser) end(d *Decoder, ctx *recCtx, out []Record) []Record {
	switch {
	case p.seeking:
		if n := p.junk + len(p.buf); n > 0 && !p.quiet {
			out = append(out, p.junkRecord(ctx, n))
			d.stats.JunkBytes += n
			d.stats.Malformed++
		}
	case len(p.buf) > 0:
		rec := ctx.record(KindGap)
		if fh, ok := p.pendingHeader(d); ok {
			rec.Magic, rec.Command = fh.Magic, fh.Command
			rec.Size = wire.FrameHeaderSize + int(fh.Length) - len(p.buf)
			rec.Summary = fmt.Sprintf("stream ends inside a %s frame: %d of %d bytes", fh.Command, len(p.buf), wire.FrameHeaderSize+int(fh.Length))
		} else {
			rec.Size = len(p.buf)
			rec.Summary = fmt.Sprintf("stream ends with %d bytes that are not a whole frame header", len(p.buf))
		}
		out = append(out, rec)
		d.stats.Gaps++
	}
	p.buf, p.junk, p.seeking = nil, 0, false
	return out
}
