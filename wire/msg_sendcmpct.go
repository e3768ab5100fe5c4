package wire

// MsgSendCmpct negotiates BIP152 compact blocks: the version the sender speaks
// (1, or 2 for witness serialization) and whether it wants new blocks pushed as
// cmpctblock without an inv first (high-bandwidth mode).
type MsgSendCmpct struct {
	Announce bool
	Version  uint64
}

// Command implements [Message].
func (*MsgSendCmpct) Command() string { return CmdSendCmpct }

// AppendBinary implements [Message].
func (m *MsgSendCmpct) AppendBinary(b []byte) ([]byte, error) {
	return appendU64(appendBool(b, m.Announce), m.Version), nil
}

// Decode implements [Message].
func (m *MsgSendCmpct) Decode(p []byte) error {
	d := newDecoder(p)
	m.Announce = d.boolean("sendcmpct.announce")
	m.Version = d.u64("sendcmpct.version")
	return d.finish("sendcmpct")
}
