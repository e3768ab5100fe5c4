package wire

// MsgPing keeps the connection alive and measures latency; the peer answers with a pong carrying the same nonce (BIP31).
type MsgPing struct {
	Nonce uint64
}

// Command implements [Message].
func (*MsgPing) Command() string { return CmdPing }

// AppendBinary implements [Message].
func (m *MsgPing) AppendBinary(b []byte) ([]byte, error) { return appendU64(b, m.Nonce), nil }

// Decode implements [Message].
func (m *MsgPing) Decode(p []byte) error {
	d := newDecoder(p)
	m.Nonce = d.u64("ping.nonce")
	return d.finish("ping")
}
