package wire

// MsgVerack acknowledges the peer's version; the handshake is done when both sides have sent it. It has no payload.
type MsgVerack struct{}

// Command implements [Message].
func (*MsgVerack) Command() string { return CmdVerack }

// AppendBinary implements [Message].
func (*MsgVerack) AppendBinary(b []byte) ([]byte, error) { return b, nil }

// Decode implements [Message]; only an empty payload is accepted.
func (*MsgVerack) Decode(p []byte) error { return decodeEmpty(p, CmdVerack) }
