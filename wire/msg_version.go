package wire

import "fmt"

// MsgVersion opens a connection: each side states its protocol version, services
// and best height. Renga requires every field through the BIP37 relay flag, which
// every peer speaking protocol 70001 or later sends.
type MsgVersion struct {
	ProtocolVersion int32
	Services        uint64
	Timestamp       int64 // seconds since the Unix epoch
	AddrRecv        NetAddr
	AddrFrom        NetAddr
	Nonce           uint64 // detects connections to self
	UserAgent       string // BIP14, at most MaxUserAgent bytes
	StartHeight     int32
	Relay           bool // BIP37: whether to announce transactions
}

// Command implements [Message].
func (*MsgVersion) Command() string { return CmdVersion }

// AppendBinary implements [Message].
func (m *MsgVersion) AppendBinary(b []byte) ([]byte, error) {
	if len(m.UserAgent) > MaxUserAgent {
		return b, fmt.Errorf("version: %w: user agent of %d bytes", ErrTooMany, len(m.UserAgent))
	}
	b = appendU32(b, uint32(m.ProtocolVersion))
	b = appendU64(b, m.Services)
	b = appendU64(b, uint64(m.Timestamp))
	b = m.AddrRecv.appendTo(b)
	b = m.AddrFrom.appendTo(b)
	b = appendU64(b, m.Nonce)
	b = appendVarString(b, m.UserAgent)
	b = appendU32(b, uint32(m.StartHeight))
	return appendBool(b, m.Relay), nil
}

// Decode implements [Message].
func (m *MsgVersion) Decode(p []byte) error {
	d := newDecoder(p)
	m.ProtocolVersion = int32(d.u32("version.protocol"))
	m.Services = d.u64("version.services")
	m.Timestamp = int64(d.u64("version.timestamp"))
	m.AddrRecv.decode(&d, "version.addr_recv")
	m.AddrFrom.decode(&d, "version.addr_from")
	m.Nonce = d.u64("version.nonce")
	m.UserAgent = d.varString("version.user_agent", MaxUserAgent)
	m.StartHeight = int32(d.u32("version.start_height"))
	m.Relay = d.boolean("version.relay")
	return d.finish("version")
}
