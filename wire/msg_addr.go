package wire

import "fmt"

// MsgAddr relays known peer addresses, at most [MaxAddrs] of them.
type MsgAddr struct {
	Addrs []TimedAddr
}

// Command implements [Message].
func (*MsgAddr) Command() string { return CmdAddr }

// AppendBinary implements [Message].
func (m *MsgAddr) AppendBinary(b []byte) ([]byte, error) {
	if len(m.Addrs) > MaxAddrs {
		return b, fmt.Errorf("addr: %w: %d entries, limit %d", ErrTooMany, len(m.Addrs), MaxAddrs)
	}
	b = AppendVarint(b, uint64(len(m.Addrs)))
	for i := range m.Addrs {
		b = appendU32(b, m.Addrs[i].Time)
		b = m.Addrs[i].appendTo(b)
	}
	return b, nil
}

// Decode implements [Message].
func (m *MsgAddr) Decode(p []byte) error {
	d := newDecoder(p)
	n := d.count("addr.count", MaxAddrs, 4+netAddrSize)
	m.Addrs = nil
	if n > 0 {
		m.Addrs = make([]TimedAddr, n)
	}
	for i := range m.Addrs {
		m.Addrs[i].Time = d.u32("addr.time")
		m.Addrs[i].decode(&d, "addr.addr")
	}
	return d.finish("addr")
}
