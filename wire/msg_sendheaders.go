package wire

// MsgSendHeaders asks for new blocks to be announced with headers rather than inv (BIP130). It has no payload.
type MsgSendHeaders struct{}

// Command implements [Message].
func (*MsgSendHeaders) Command() string { return CmdSendHeaders }

// AppendBinary implements [Message].
func (*MsgSendHeaders) AppendBinary(b []byte) ([]byte, error) { return b, nil }

// Decode implements [Message]; only an empty payload is accepted.
func (*MsgSendHeaders) Decode(p []byte) error { return decodeEmpty(p, CmdSendHeaders) }
