package wire

// MsgSendAddrV2 asks for addresses as addrv2 (BIP155); sent only before verack. It has no payload.
type MsgSendAddrV2 struct{}

// Command implements [Message].
func (*MsgSendAddrV2) Command() string { return CmdSendAddrV2 }

// AppendBinary implements [Message].
func (*MsgSendAddrV2) AppendBinary(b []byte) ([]byte, error) { return b, nil }

// Decode implements [Message]; only an empty payload is accepted.
func (*MsgSendAddrV2) Decode(p []byte) error { return decodeEmpty(p, CmdSendAddrV2) }
