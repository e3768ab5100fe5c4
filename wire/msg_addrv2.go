package wire

import "fmt"

// MsgAddrV2 relays peer addresses of any BIP155 network, at most [MaxAddrs].
type MsgAddrV2 struct {
	Addrs []AddrV2
}

// Command implements [Message].
func (*MsgAddrV2) Command() string { return CmdAddrV2 }

// minAddrV2Size: time, services, network, empty address, port.
const minAddrV2Size = 4 + 1 + 1 + 1 + 2

// maxAddrV2Payload bounds an addrv2 payload before it is read.
const maxAddrV2Payload = 3 + MaxAddrs*(4+9+1+3+MaxAddrV2Size+2)

// AppendBinary implements [Message].
func (m *MsgAddrV2) AppendBinary(b []byte) ([]byte, error) {
	if len(m.Addrs) > MaxAddrs {
		return b, fmt.Errorf("addrv2: %w: %d entries, limit %d", ErrTooMany, len(m.Addrs), MaxAddrs)
	}
	b = AppendVarint(b, uint64(len(m.Addrs)))
	for i := range m.Addrs {
		if len(m.Addrs[i].Addr) > MaxAddrV2Size {
			return b, fmt.Errorf("addrv2: %w: address of %d bytes", ErrTooMany, len(m.Addrs[i].Addr))
		}
		b = m.Addrs[i].appendTo(b)
	}
	return b, nil
}

// Decode implements [Message].
func (m *MsgAddrV2) Decode(p []byte) error {
	d := newDecoder(p)
	n := d.count("addrv2.count", MaxAddrs, minAddrV2Size)
	m.Addrs = nil
	if n > 0 {
		m.Addrs = make([]AddrV2, n)
	}
	for i := range m.Addrs {
		m.Addrs[i].decode(&d)
	}
	return d.finish("addrv2")
}
