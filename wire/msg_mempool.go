package wire

// MsgMempool asks for an inv of the peer's mempool (BIP35). It has no payload.
type MsgMempool struct{}

// Command implements [Message].
func (*MsgMempool) Command() string { return CmdMempool }

// AppendBinary implements [Message].
func (*MsgMempool) AppendBinary(b []byte) ([]byte, error) { return b, nil }

// Decode implements [Message]; only an empty payload is accepted.
func (*MsgMempool) Decode(p []byte) error { return decodeEmpty(p, CmdMempool) }
