package wire

import (
	"fmt"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// MsgGetBlockTxn asks for the transactions of a compact block the receiver could
// not rebuild, by index in the block (BIP152).
type MsgGetBlockTxn struct {
	BlockHash sha256d.Hash
	Indexes   []uint16 // strictly increasing
}

// Command implements [Message].
func (*MsgGetBlockTxn) Command() string { return CmdGetBlockTxn }

// AppendBinary implements [Message].
func (m *MsgGetBlockTxn) AppendBinary(b []byte) ([]byte, error) {
	if len(m.Indexes) > MaxCompactIndex+1 {
		return b, fmt.Errorf("getblocktxn: %w: %d indexes", ErrTooMany, len(m.Indexes))
	}
	b = append(b, m.BlockHash[:]...)
	b = AppendVarint(b, uint64(len(m.Indexes)))
	prev := -1
	for _, idx := range m.Indexes {
		var err error
		if b, err = appendDiffIndex(b, "getblocktxn.indexes", idx, &prev); err != nil {
			return b, err
		}
	}
	return b, nil
}

// Decode implements [Message].
func (m *MsgGetBlockTxn) Decode(p []byte) error {
	d := newDecoder(p)
	m.BlockHash = d.hash("getblocktxn.blockhash")
	n := d.count("getblocktxn.indexes", MaxCompactIndex+1, 1)
	m.Indexes = nil
	if n > 0 {
		m.Indexes = make([]uint16, n)
	}
	var shift uint32
	for i := range m.Indexes {
		m.Indexes[i] = d.diffIndex("getblocktxn.indexes", &shift)
	}
	return d.finish("getblocktxn")
}
