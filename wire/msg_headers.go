package wire

import "fmt"

// MsgHeaders carries up to [MaxHeaders] block headers, each followed on the wire
// by a transaction count that must be zero.
type MsgHeaders struct {
	Headers []Header
}

// Command implements [Message].
func (*MsgHeaders) Command() string { return CmdHeaders }

// AppendBinary implements [Message].
func (m *MsgHeaders) AppendBinary(b []byte) ([]byte, error) {
	if len(m.Headers) > MaxHeaders {
		return b, fmt.Errorf("headers: %w: %d headers, limit %d", ErrTooMany, len(m.Headers), MaxHeaders)
	}
	b = AppendVarint(b, uint64(len(m.Headers)))
	for i := range m.Headers {
		var p [HeaderSize]byte
		m.Headers[i].Put(&p)
		b = append(append(b, p[:]...), 0)
	}
	return b, nil
}

// Decode implements [Message].
func (m *MsgHeaders) Decode(p []byte) error {
	d := newDecoder(p)
	n := d.count("headers.count", MaxHeaders, HeaderSize+1)
	m.Headers = nil
	if n > 0 {
		m.Headers = make([]Header, n)
	}
	// count has checked that every entry is present: read them from one slice.
	start := d.off
	all := d.bytes("headers", n*(HeaderSize+1))
	for i := range m.Headers {
		e := all[i*(HeaderSize+1) : (i+1)*(HeaderSize+1)]
		m.Headers[i].SetBytes((*[HeaderSize]byte)(e))
		if e[HeaderSize] != 0 {
			// Headers carry a transaction count, which must be zero.
			d.off = start + i*(HeaderSize+1) + HeaderSize
			d.fault("headers.txcount", ErrInvalid)
			break
		}
	}
	return d.finish("headers")
}
