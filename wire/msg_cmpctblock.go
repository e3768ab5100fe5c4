package wire

import "fmt"

// ShortID is a BIP152 short transaction id: 6 bytes of a SipHash of the wtxid.
type ShortID [6]byte

// PrefilledTx is a transaction sent in full inside a compact block, with its
// index in the block.
type PrefilledTx struct {
	Index uint16
	Tx    Tx
}

// MsgCmpctBlock is a BIP152 compact block: the header, a nonce for the short ids,
// a short id per transaction the receiver probably has, and the transactions it
// probably lacks (at least the coinbase). Short ids and prefilled transactions
// together number at most 65,535.
type MsgCmpctBlock struct {
	Header    Header
	Nonce     uint64
	ShortIDs  []ShortID
	Prefilled []PrefilledTx
}

// Command implements [Message].
func (*MsgCmpctBlock) Command() string { return CmdCmpctBlock }

// AppendBinary implements [Message].
func (m *MsgCmpctBlock) AppendBinary(b []byte) ([]byte, error) {
	if len(m.ShortIDs)+len(m.Prefilled) > MaxCompactIndex {
		return b, fmt.Errorf("cmpctblock: %w: %d transactions", ErrTooMany, len(m.ShortIDs)+len(m.Prefilled))
	}
	b, _ = m.Header.AppendBinary(b)
	b = appendU64(b, m.Nonce)
	b = AppendVarint(b, uint64(len(m.ShortIDs)))
	for i := range m.ShortIDs {
		b = append(b, m.ShortIDs[i][:]...)
	}
	b = AppendVarint(b, uint64(len(m.Prefilled)))
	prev := -1
	for i := range m.Prefilled {
		var err error
		if b, err = appendDiffIndex(b, "cmpctblock.prefilled", m.Prefilled[i].Index, &prev); err != nil {
			return b, err
		}
		b = m.Prefilled[i].Tx.appendTo(b, m.Prefilled[i].Tx.HasWitness())
	}
	return b, nil
}

// Decode implements [Message].
func (m *MsgCmpctBlock) Decode(p []byte) error {
	d := newDecoder(p)
	m.Header.decode(&d)
	m.Nonce = d.u64("cmpctblock.nonce")
	n := d.count("cmpctblock.shortids", MaxCompactIndex, len(ShortID{}))
	m.ShortIDs = nil
	if n > 0 {
		m.ShortIDs = make([]ShortID, n)
	}
	for i := range m.ShortIDs {
		if s := d.bytes("cmpctblock.shortids", len(ShortID{})); s != nil {
			m.ShortIDs[i] = ShortID(s)
		}
	}
	n = d.count("cmpctblock.prefilled", MaxCompactIndex, 1+minTxSize)
	m.Prefilled = nil
	if n > 0 {
		m.Prefilled = make([]PrefilledTx, n)
	}
	var shift uint32
	for i := range m.Prefilled {
		m.Prefilled[i].Index = d.diffIndex("cmpctblock.prefilled.index", &shift)
		a := newTxArena(&d, 1)
		decodeTx(&d, &m.Prefilled[i].Tx, &a)
	}
	if len(m.ShortIDs)+len(m.Prefilled) > MaxCompactIndex && d.ok() {
		d.fault("cmpctblock", fmt.Errorf("%w: %d transactions", ErrTooMany, len(m.ShortIDs)+len(m.Prefilled)))
	}
	return d.finish("cmpctblock")
}
