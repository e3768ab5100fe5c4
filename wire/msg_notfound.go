package wire

// MsgNotFound answers a getdata for objects the sender does not have: at most [MaxInvEntries] inventory vectors.
type MsgNotFound struct {
	Inv []InvVect
}

// Command implements [Message].
func (*MsgNotFound) Command() string { return CmdNotFound }

// AppendBinary implements [Message].
func (m *MsgNotFound) AppendBinary(b []byte) ([]byte, error) {
	return appendInvList(b, "notfound", m.Inv)
}

// Decode implements [Message].
func (m *MsgNotFound) Decode(p []byte) (err error) {
	m.Inv, err = decodeInvList(p, "notfound")
	return err
}
