package wire

import "github.com/renga-p2p/renga/crypto/sha256d"

// MsgBlockTxn answers a getblocktxn with the requested transactions, in the
// order of the requested indexes (BIP152).
type MsgBlockTxn struct {
	BlockHash sha256d.Hash
	Txs       []Tx
}

// Command implements [Message].
func (*MsgBlockTxn) Command() string { return CmdBlockTxn }

// AppendBinary implements [Message].
func (m *MsgBlockTxn) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, m.BlockHash[:]...)
	b = AppendVarint(b, uint64(len(m.Txs)))
	for i := range m.Txs {
		b = m.Txs[i].appendTo(b, m.Txs[i].HasWitness())
	}
	return b, nil
}

// Decode implements [Message]. Like a block, it costs a few allocations in all.
func (m *MsgBlockTxn) Decode(p []byte) error {
	d := newDecoder(p)
	m.BlockHash = d.hash("blocktxn.blockhash")
	m.Txs = decodeTxList(&d, "blocktxn.txs")
	return d.finish("blocktxn")
}
