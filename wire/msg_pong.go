package wire

// MsgPong answers a ping with its nonce.
type MsgPong struct {
	Nonce uint64
}

// Command implements [Message].
func (*MsgPong) Command() string { return CmdPong }

// AppendBinary implements [Message].
func (m *MsgPong) AppendBinary(b []byte) ([]byte, error) { return appendU64(b, m.Nonce), nil }

// Decode implements [Message].
func (m *MsgPong) Decode(p []byte) error {
	d := newDecoder(p)
	m.Nonce = d.u64("pong.nonce")
	return d.finish("pong")
}
