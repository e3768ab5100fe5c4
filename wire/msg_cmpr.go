package wire

import "fmt"

// MsgCmpr is Renga's compressed envelope for another message, used only between
// peers that exchanged sendcmpr. Wire form:
//
//	inner command[12], NUL-padded | varint uncompressed length | codec byte | compressed bytes
//
// Decoding checks the envelope only: the inner command's charset, that it is not
// cmpr itself, and that the declared length is within the inner command's limit
// (at most [MaxMessageSize]), so that a decompressor can stop at that length and
// no compression bomb gets further. Decompressing is the peer layer's job.
type MsgCmpr struct {
	Inner  string // command of the wrapped message
	Length uint32 // size of the wrapped payload once decompressed
	Codec  Codec
	Data   []byte // compressed payload (aliases the frame)
}

// Command implements [Message].
func (*MsgCmpr) Command() string { return CmdCmpr }

func (m *MsgCmpr) check() error {
	var raw [CommandSize]byte
	if len(m.Inner) > CommandSize {
		return fmt.Errorf("cmpr: %w: inner command %q", ErrBadCommand, m.Inner)
	}
	copy(raw[:], m.Inner)
	if n, bad := commandLength(&raw); bad >= 0 || n == 0 || m.Inner == CmdCmpr {
		return fmt.Errorf("cmpr: %w: inner command %q", ErrBadCommand, m.Inner)
	}
	if max := MaxPayload(m.Inner); int(m.Length) > max {
		return fmt.Errorf("cmpr: %w: %s of %d bytes, limit %d", ErrOversize, m.Inner, m.Length, max)
	}
	return nil
}

// AppendBinary implements [Message].
func (m *MsgCmpr) AppendBinary(b []byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return b, err
	}
	var raw [CommandSize]byte
	copy(raw[:], m.Inner)
	b = append(b, raw[:]...)
	b = AppendVarint(b, uint64(m.Length))
	b = append(b, byte(m.Codec))
	return append(b, m.Data...), nil
}

// Decode implements [Message].
func (m *MsgCmpr) Decode(p []byte) error {
	d := newDecoder(p)
	m.Inner = ""
	if raw := d.bytes("cmpr.command", CommandSize); raw != nil {
		n, bad := commandLength((*[CommandSize]byte)(raw))
		m.Inner = string(raw[:n])
		if c := lookupCommand(raw[:n]); c != nil {
			m.Inner = c.name // a constant: no allocation
		}
		if bad >= 0 || n == 0 || m.Inner == CmdCmpr {
			d.off = max(bad, 0)
			d.fault("cmpr.command", ErrBadCommand)
		}
	}
	start := d.off
	length := d.varint("cmpr.length")
	if max := MaxPayload(m.Inner); length > uint64(max) && d.ok() {
		d.off = start
		d.fault("cmpr.length", fmt.Errorf("%w: %s of %d bytes, limit %d", ErrOversize, m.Inner, length, max))
	}
	m.Length = uint32(length)
	m.Codec = Codec(d.u8("cmpr.codec"))
	m.Data = d.bytes("cmpr.data", d.left())
	return d.finish("cmpr")
}
