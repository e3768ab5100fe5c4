package wire

// MsgFeeFilter asks the peer not to announce transactions paying less than
// FeeRate satoshis per 1,000 virtual bytes (BIP133).
type MsgFeeFilter struct {
	FeeRate int64
}

// Command implements [Message].
func (*MsgFeeFilter) Command() string { return CmdFeeFilter }

// AppendBinary implements [Message].
func (m *MsgFeeFilter) AppendBinary(b []byte) ([]byte, error) {
	return appendU64(b, uint64(m.FeeRate)), nil
}

// Decode implements [Message].
func (m *MsgFeeFilter) Decode(p []byte) error {
	d := newDecoder(p)
	m.FeeRate = int64(d.u64("feefilter.feerate"))
	return d.finish("feefilter")
}
