package wire

// MsgWtxidRelay announces transactions by wtxid (BIP339); sent only before verack. It has no payload.
type MsgWtxidRelay struct{}

// Command implements [Message].
func (*MsgWtxidRelay) Command() string { return CmdWtxidRelay }

// AppendBinary implements [Message].
func (*MsgWtxidRelay) AppendBinary(b []byte) ([]byte, error) { return b, nil }

// Decode implements [Message]; only an empty payload is accepted.
func (*MsgWtxidRelay) Decode(p []byte) error { return decodeEmpty(p, CmdWtxidRelay) }
