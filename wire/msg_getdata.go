package wire

// MsgGetData asks for the objects an inv announced: at most [MaxInvEntries] inventory vectors.
type MsgGetData struct {
	Inv []InvVect
}

// Command implements [Message].
func (*MsgGetData) Command() string { return CmdGetData }

// AppendBinary implements [Message].
func (m *MsgGetData) AppendBinary(b []byte) ([]byte, error) {
	return appendInvList(b, "getdata", m.Inv)
}

// Decode implements [Message].
func (m *MsgGetData) Decode(p []byte) (err error) {
	m.Inv, err = decodeInvList(p, "getdata")
	return err
}
