package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// The classic pcap format: a 24-byte file header, then per packet a 16-byte
// record header and the captured bytes. The magic number, written in the
// writer's byte order, tells the reader both that order and whether the second
// timestamp field counts microseconds or nanoseconds.
const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	pcapHeaderSize = 24
	pcapRecordSize = 16
)

// pcapMagic recognises a classic pcap magic in either byte order.
func pcapMagic(b []byte) (order binary.ByteOrder, nano bool, ok bool) {
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		switch o.Uint32(b) {
		case pcapMagicMicro:
			return o, false, true
		case pcapMagicNano:
			return o, true, true
		}
	}
	return nil, false, false
}

type pcapState struct {
	order    binary.ByteOrder
	nano     bool
	linkType LinkType
	snaplen  uint32
}

func (r *Reader) startPcap() error {
	h, err := r.readMore(pcapHeaderSize, "file header")
	if err != nil {
		return err
	}
	order, nano, _ := pcapMagic(h)
	if major := order.Uint16(h[4:]); major != 2 {
		return formatError("pcap", 4, "version %d.%d, want 2.x", major, order.Uint16(h[6:]))
	}
	// The link type is the low 16 bits; the high bits may carry FCS information.
	r.pcap = pcapState{order: order, nano: nano, linkType: LinkType(order.Uint32(h[20:])), snaplen: order.Uint32(h[16:])}
	return nil
}

func (r *Reader) nextPcap() (Packet, error) {
	start := r.off
	h, err := r.read(pcapRecordSize, "packet record header")
	if err != nil {
		return Packet{}, err
	}
	o := r.pcap.order
	sec, frac := o.Uint32(h[0:]), o.Uint32(h[4:])
	capLen, origLen := o.Uint32(h[8:]), o.Uint32(h[12:])
	if !r.pcap.nano {
		if frac >= 1e6 {
			return Packet{}, formatError("pcap", start+4, "microseconds field %d is not below 1000000", frac)
		}
		frac *= 1000
	} else if frac >= 1e9 {
		return Packet{}, formatError("pcap", start+4, "nanoseconds field %d is not below 1000000000", frac)
	}
	if capLen > MaxPacketSize {
		return Packet{}, formatError("pcap", start+8, "packet of %d captured bytes, limit %d", capLen, MaxPacketSize)
	}
	data, err := r.readMore(int(capLen), fmt.Sprintf("packet of %d bytes", capLen))
	if err != nil {
		return Packet{}, err
	}
	return Packet{
		Time:     time.Unix(int64(sec), int64(frac)),
		LinkType: r.pcap.linkType,
		Data:     data,
		Length:   int(max(origLen, capLen)),
	}, nil
}

// PcapOptions configures a [PcapWriter]. The zero value writes little-endian
// Ethernet with microsecond timestamps and a 256 KiB snapshot length.
type PcapOptions struct {
	LinkType   LinkType
	Snaplen    uint32 // 0 means 262144
	Nanosecond bool   // nanosecond timestamps (magic a1b23c4d) instead of microseconds
	BigEndian  bool   // big-endian instead of little-endian
}

func (o PcapOptions) withDefaults() PcapOptions {
	if o.Snaplen == 0 {
		o.Snaplen = 262144
	}
	return o
}

// PcapWriter writes a classic pcap file. It is not safe for concurrent use.
type PcapWriter struct {
	w     io.Writer
	opts  PcapOptions
	order binary.AppendByteOrder
	buf   []byte
}

// NewPcapWriter writes the file header to w.
func NewPcapWriter(w io.Writer, opts PcapOptions) (*PcapWriter, error) {
	opts = opts.withDefaults()
	o := appendOrder(opts.BigEndian)
	magic := uint32(pcapMagicMicro)
	if opts.Nanosecond {
		magic = pcapMagicNano
	}
	h := o.AppendUint32(nil, magic)
	h = o.AppendUint16(h, 2)
	h = o.AppendUint16(h, 4)
	h = o.AppendUint32(h, 0) // thiszone: always UTC
	h = o.AppendUint32(h, 0) // sigfigs: always 0
	h = o.AppendUint32(h, opts.Snaplen)
	h = o.AppendUint32(h, uint32(opts.LinkType))
	if _, err := w.Write(h); err != nil {
		return nil, err
	}
	return &PcapWriter{w: w, opts: opts, order: o}, nil
}

// WritePacket writes one packet record, cutting Data to the snapshot length.
// Only Time, Data and Length are used: the format has no comments or
// directions, and one link type for the whole file.
func (pw *PcapWriter) WritePacket(p Packet) error {
	data := p.Data
	if uint32(len(data)) > pw.opts.Snaplen {
		data = data[:pw.opts.Snaplen]
	}
	o := pw.order
	frac := uint32(p.Time.Nanosecond())
	if !pw.opts.Nanosecond {
		frac /= 1000
	}
	b := o.AppendUint32(pw.buf[:0], uint32(p.Time.Unix()))
	b = o.AppendUint32(b, frac)
	b = o.AppendUint32(b, uint32(len(data)))
	b = o.AppendUint32(b, uint32(max(p.Length, len(p.Data))))
	b = append(b, data...)
	pw.buf = b
	_, err := pw.w.Write(b)
	return err
}

func appendOrder(bigEndian bool) binary.AppendByteOrder {
	if bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}
