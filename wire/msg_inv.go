package wire

// MsgInv announces transactions and blocks the sender has: at most [MaxInvEntries] inventory vectors.
type MsgInv struct {
	Inv []InvVect
}

// Command implements [Message].
func (*MsgInv) Command() string { return CmdInv }

// AppendBinary implements [Message].
func (m *MsgInv) AppendBinary(b []byte) ([]byte, error) {
	return appendInvList(b, "inv", m.Inv)
}

// Decode implements [Message].
func (m *MsgInv) Decode(p []byte) (err error) {
	m.Inv, err = decodeInvList(p, "inv")
	return err
}
