package wire

// MsgGetAddr asks the peer for addresses it knows. It has no payload.
type MsgGetAddr struct{}

// Command implements [Message].
func (*MsgGetAddr) Command() string { return CmdGetAddr }

// AppendBinary implements [Message].
func (*MsgGetAddr) AppendBinary(b []byte) ([]byte, error) { return b, nil }

// Decode implements [Message]; only an empty payload is accepted.
func (*MsgGetAddr) Decode(p []byte) error { return decodeEmpty(p, CmdGetAddr) }
