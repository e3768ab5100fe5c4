package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// pcapng (draft-ietf-opsawg-pcapng): a file is a sequence of blocks, each
//
//	type uint32 | total length uint32 | body, padded to 4 bytes | total length uint32
//
// in the byte order announced by the Section Header Block that starts each
// section. The reader understands the Section Header (SHB), Interface
// Description (IDB), Enhanced Packet (EPB), Simple Packet (SPB) and obsolete
// Packet (PB) blocks and skips every other type; the writer writes SHB, IDB
// and EPB.
const (
	pcapngSHBType = 0x0a0d0d0a // a palindrome: the same in both byte orders
	pcapngIDBType = 0x00000001
	pcapngPBType  = 0x00000002 // obsolete Packet Block
	pcapngSPBType = 0x00000003
	pcapngEPBType = 0x00000006

	pcapngByteOrderMagic = 0x1a2b3c4d

	optEndOfOpt   = 0
	optComment    = 1
	optShbUserApp = 4
	optIfName     = 2
	optIfTsresol  = 9
	optIfTsoffset = 14
	optEpbFlags   = 2
)

type pcapngIface struct {
	linkType LinkType
	snaplen  uint32
	// Timestamps count units of 10^-resol seconds, or 2^-resol when pow2.
	resol    uint8
	pow2     bool
	tsOffset int64 // seconds added to every timestamp
}

type pcapngState struct {
	order  binary.ByteOrder
	ifaces []pcapngIface
}

func (r *Reader) startPcapng() error {
	// The first block must be a Section Header; nextPcapng reads it like any other.
	_, err := r.nextPcapngBlock(true)
	return err
}

func (r *Reader) nextPcapng() (Packet, error) {
	for {
		p, err := r.nextPcapngBlock(false)
		if err != nil || p.Data != nil {
			return p, err
		}
	}
}

// nextPcapngBlock reads one block and returns a packet if it was one (Data
// non-nil), or an empty Packet for a block that carries none.
func (r *Reader) nextPcapngBlock(first bool) (Packet, error) {
	start := r.off
	h, err := r.read(8, "block header")
	if err != nil {
		return Packet{}, err
	}
	typ := binary.LittleEndian.Uint32(h) // an SHB reads the same either way
	if typ == pcapngSHBType {
		lenBytes := [4]byte(h[4:8])
		bom, err := r.readMore(4, "section header")
		if err != nil {
			return Packet{}, err
		}
		switch {
		case binary.LittleEndian.Uint32(bom) == pcapngByteOrderMagic:
			r.pcapng.order = binary.LittleEndian
		case binary.BigEndian.Uint32(bom) == pcapngByteOrderMagic:
			r.pcapng.order = binary.BigEndian
		default:
			return Packet{}, formatError("pcapng", start+8, "section header byte-order magic %x", bom)
		}
		r.pcapng.ifaces = r.pcapng.ifaces[:0]
		total := r.pcapng.order.Uint32(lenBytes[:])
		body, err := r.blockBody(start, total, 4)
		if err != nil {
			return Packet{}, err
		}
		if len(body) < 12 {
			return Packet{}, formatError("pcapng", start, "section header of %d bytes", total)
		}
		if major := r.pcapng.order.Uint16(body); major != 1 {
			return Packet{}, formatError("pcapng", start+12, "version %d, want 1", major)
		}
		return Packet{}, nil
	}
	if first {
		return Packet{}, formatError("pcapng", start, "first block has type %#x, not a section header", typ)
	}
	o := r.pcapng.order
	typ = o.Uint32(h)
	body, err := r.blockBody(start, o.Uint32(h[4:]), 0)
	if err != nil {
		return Packet{}, err
	}
	switch typ {
	case pcapngIDBType:
		return Packet{}, r.readIDB(start, body)
	case pcapngEPBType, pcapngPBType:
		return r.readEPB(start, typ, body)
	case pcapngSPBType:
		return r.readSPB(start, body)
	}
	return Packet{}, nil // a block type this reader does not need: skipped
}

// blockBody checks a block's total length, reads the rest of the block and
// returns its body (after the header and the already read bytes, before the
// trailing length).
func (r *Reader) blockBody(start int64, total uint32, already int) ([]byte, error) {
	if total < uint32(12+already) || total%4 != 0 || total > maxBlockSize {
		return nil, formatError("pcapng", start+4, "block total length %d (must be a multiple of 4 from %d to %d)", total, 12+already, maxBlockSize)
	}
	rest, err := r.readMore(int(total)-8-already, fmt.Sprintf("block of %d bytes", total))
	if err != nil {
		return nil, err
	}
	body, trailer := rest[:len(rest)-4], r.pcapng.order.Uint32(rest[len(rest)-4:])
	if trailer != total {
		return nil, formatError("pcapng", r.off-4, "block trailer says %d bytes, header %d", trailer, total)
	}
	return body, nil
}

func (r *Reader) readIDB(start int64, body []byte) error {
	o := r.pcapng.order
	if len(body) < 8 {
		return formatError("pcapng", start, "interface description of %d bytes", len(body)+12)
	}
	if len(r.pcapng.ifaces) >= 1<<16 {
		return formatError("pcapng", start, "more than 65536 interfaces")
	}
	ifc := pcapngIface{linkType: LinkType(o.Uint16(body)), snaplen: o.Uint32(body[4:]), resol: 6}
	err := r.options(start+16, body[8:], func(code uint16, v []byte) error {
		switch code {
		case optIfTsresol:
			if len(v) != 1 {
				return fmt.Errorf("if_tsresol of %d bytes", len(v))
			}
			ifc.pow2, ifc.resol = v[0]&0x80 != 0, v[0]&0x7f
			if (ifc.pow2 && ifc.resol > 63) || (!ifc.pow2 && ifc.resol > 19) {
				return fmt.Errorf("if_tsresol %#x out of range", v[0])
			}
		case optIfTsoffset:
			if len(v) != 8 {
				return fmt.Errorf("if_tsoffset of %d bytes", len(v))
			}
			ifc.tsOffset = int64(o.Uint64(v))
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.pcapng.ifaces = append(r.pcapng.ifaces, ifc)
	return nil
}

func (r *Reader) readEPB(start int64, typ uint32, body []byte) (Packet, error) {
	o := r.pcapng.order
	if len(body) < 20 {
		return Packet{}, formatError("pcapng", start, "packet block of %d bytes", len(body)+12)
	}
	var ifIndex uint32
	if typ == pcapngPBType {
		ifIndex = uint32(o.Uint16(body)) // then a 16-bit drop count
	} else {
		ifIndex = o.Uint32(body)
	}
	ts := uint64(o.Uint32(body[4:]))<<32 | uint64(o.Uint32(body[8:]))
	capLen, origLen := o.Uint32(body[12:]), o.Uint32(body[16:])
	if int(ifIndex) >= len(r.pcapng.ifaces) {
		return Packet{}, formatError("pcapng", start+8, "packet on interface %d, but %d described", ifIndex, len(r.pcapng.ifaces))
	}
	if uint64(capLen) > uint64(len(body)-20) {
		return Packet{}, formatError("pcapng", start+20, "captured length %d beyond the block's %d bytes", capLen, len(body)-20)
	}
	ifc := &r.pcapng.ifaces[ifIndex]
	p := Packet{
		Time:     ifc.time(ts),
		LinkType: ifc.linkType,
		Data:     body[20 : 20+capLen],
		Length:   int(max(origLen, capLen)),
	}
	optStart := 20 + int(capLen+3)&^3
	if optStart > len(body) {
		optStart = len(body)
	}
	err := r.options(start+8+int64(optStart), body[optStart:], func(code uint16, v []byte) error {
		switch code {
		case optComment:
			p.Comment = string(v)
		case optEpbFlags:
			if typ == pcapngEPBType && len(v) == 4 {
				switch o.Uint32(v) & 3 {
				case 1:
					p.Direction = DirIn
				case 2:
					p.Direction = DirOut
				}
			}
		}
		return nil
	})
	return p, err
}

func (r *Reader) readSPB(start int64, body []byte) (Packet, error) {
	if len(r.pcapng.ifaces) == 0 {
		return Packet{}, formatError("pcapng", start, "simple packet block before any interface description")
	}
	if len(body) < 4 {
		return Packet{}, formatError("pcapng", start, "simple packet block of %d bytes", len(body)+12)
	}
	ifc := &r.pcapng.ifaces[0]
	origLen := r.pcapng.order.Uint32(body)
	capLen := min(uint64(origLen), uint64(len(body)-4))
	if ifc.snaplen != 0 {
		capLen = min(capLen, uint64(ifc.snaplen))
	}
	// A simple packet has no timestamp: it gets the zero time.
	return Packet{LinkType: ifc.linkType, Data: body[4 : 4+capLen], Length: int(max(uint64(origLen), capLen))}, nil
}

// options walks a block's options, calling f with each code and value until
// opt_endofopt or the end. An option running past the block is malformed.
func (r *Reader) options(off int64, b []byte, f func(code uint16, v []byte) error) error {
	o := r.pcapng.order
	for i := 0; len(b)-i >= 4; {
		code, n := o.Uint16(b[i:]), int(o.Uint16(b[i+2:]))
		if code == optEndOfOpt {
			return nil
		}
		if n > len(b)-i-4 {
			return formatError("pcapng", off+int64(i), "option %d of %d bytes runs past its block", code, n)
		}
		if err := f(code, b[i+4:i+4+n]); err != nil {
			return formatError("pcapng", off+int64(i), "%v", err)
		}
		i += 4 + (n+3)&^3
	}
	return nil
}

// time converts a timestamp in the interface's units to a time.
func (ifc *pcapngIface) time(ts uint64) time.Time {
	var sec, nsec uint64
	switch {
	case ifc.pow2:
		sec = ts >> ifc.resol
		frac := ts & (1<<ifc.resol - 1)
		hi, lo := bits.Mul64(frac, 1e9)
		nsec, _ = bits.Div64(hi, lo, 1<<ifc.resol) // frac < 2^resol, so no overflow
		if ifc.resol == 0 {
			nsec = 0
		}
	default:
		unit := pow10(ifc.resol)
		sec, nsec = ts/unit, ts%unit
		if ifc.resol <= 9 {
			nsec *= pow10(9 - ifc.resol)
		} else {
			nsec /= pow10(ifc.resol - 9)
		}
	}
	return time.Unix(int64(sec)+ifc.tsOffset, int64(nsec))
}

func pow10(n uint8) uint64 {
	v := uint64(1)
	for range n {
		v *= 10
	}
	return v
}

// PcapngOptions configures a [PcapngWriter]. The zero value writes
// little-endian with no application name.
type PcapngOptions struct {
	Application string // shb_userappl, e.g. "renga v0.1"
	BigEndian   bool   // big-endian instead of little-endian
}

// Interface describes one capture interface of a pcapng file.
type Interface struct {
	LinkType LinkType
	Name     string // if_name; may be empty
	Snaplen  uint32 // 0: no limit
}

// PcapngWriter writes a pcapng file: one section, nanosecond timestamps. It is
// not safe for concurrent use. Each block goes to the underlying writer in one
// Write call.
type PcapngWriter struct {
	w      io.Writer
	order  binary.AppendByteOrder
	ifaces []Interface
	buf    []byte // the block body being built
	out    []byte // the whole block
	flags  [4]byte
}

// NewPcapngWriter writes the section header block to w.
func NewPcapngWriter(w io.Writer, opts PcapngOptions) (*PcapngWriter, error) {
	pw := &PcapngWriter{w: w, order: appendOrder(opts.BigEndian)}
	b := pw.order.AppendUint32(nil, pcapngByteOrderMagic)
	b = pw.order.AppendUint16(b, 1)
	b = pw.order.AppendUint16(b, 0)
	b = pw.order.AppendUint64(b, ^uint64(0)) // section length: not given
	if opts.Application != "" {
		b = pw.appendOption(b, optShbUserApp, []byte(opts.Application))
		b = pw.appendOption(b, optEndOfOpt, nil)
	}
	return pw, pw.writeBlock(pcapngSHBType, b)
}

// AddInterface writes an interface description block and returns the
// interface's index for WritePacket.
func (pw *PcapngWriter) AddInterface(ifc Interface) (int, error) {
	b := pw.order.AppendUint16(nil, uint16(ifc.LinkType))
	b = pw.order.AppendUint16(b, 0)
	b = pw.order.AppendUint32(b, ifc.Snaplen)
	if ifc.Name != "" {
		b = pw.appendOption(b, optIfName, []byte(ifc.Name))
	}
	b = pw.appendOption(b, optIfTsresol, []byte{9}) // nanoseconds
	b = pw.appendOption(b, optEndOfOpt, nil)
	if err := pw.writeBlock(pcapngIDBType, b); err != nil {
		return 0, err
	}
	pw.ifaces = append(pw.ifaces, ifc)
	return len(pw.ifaces) - 1, nil
}

// WritePacket writes an enhanced packet block on interface iface: p's Time,
// Data (cut to the interface's snapshot length), Length, and, when set, its
// Comment (opt_comment) and Direction (epb_flags).
func (pw *PcapngWriter) WritePacket(iface int, p Packet) error {
	if iface < 0 || iface >= len(pw.ifaces) {
		return fmt.Errorf("capture: pcapng: no interface %d", iface)
	}
	data := p.Data
	if s := pw.ifaces[iface].Snaplen; s != 0 && uint32(len(data)) > s {
		data = data[:s]
	}
	o := pw.order
	ts := uint64(p.Time.UnixNano())
	b := o.AppendUint32(pw.buf[:0], uint32(iface))
	b = o.AppendUint32(b, uint32(ts>>32))
	b = o.AppendUint32(b, uint32(ts))
	b = o.AppendUint32(b, uint32(len(data)))
	b = o.AppendUint32(b, uint32(max(p.Length, len(p.Data))))
	b = append(b, data...)
	b = pad4(b)
	hasOpts := false
	if p.Comment != "" {
		b = pw.appendOption(b, optComment, []byte(p.Comment))
		hasOpts = true
	}
	if p.Direction != DirUnknown {
		flags := uint32(1) // inbound
		if p.Direction == DirOut {
			flags = 2
		}
		b = pw.appendOption(b, optEpbFlags, o.AppendUint32(pw.flags[:0], flags))
		hasOpts = true
	}
	if hasOpts {
		b = pw.appendOption(b, optEndOfOpt, nil)
	}
	pw.buf = b
	return pw.writeBlock(pcapngEPBType, b)
}

func (pw *PcapngWriter) appendOption(b []byte, code uint16, v []byte) []byte {
	b = pw.order.AppendUint16(b, code)
	b = pw.order.AppendUint16(b, uint16(len(v)))
	return pad4(append(b, v...))
}

// writeBlock frames a body as a block and writes it with one Write call.
func (pw *PcapngWriter) writeBlock(typ uint32, body []byte) error {
	total := uint32(12 + len(body))
	out := pw.order.AppendUint32(pw.out[:0], typ)
	out = pw.order.AppendUint32(out, total)
	out = append(out, body...)
	out = pw.order.AppendUint32(out, total)
	pw.out = out
	_, err := pw.w.Write(out)
	return err
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
