package wire

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/dchest/siphash"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// ShortIDKey is the key of a compact block's short transaction ids
// (BIP152): the first 16 bytes of the single SHA-256 of the block header
// and the compact block's nonce, as two little-endian SipHash-2-4 keys.
type ShortIDKey struct{ k0, k1 uint64 }

// NewShortIDKey derives the short id key of a compact block.
func NewShortIDKey(h *Header, nonce uint64) ShortIDKey {
	var buf [HeaderSize + 8]byte
	hb := h.Bytes()
	copy(buf[:], hb[:])
	binary.LittleEndian.PutUint64(buf[HeaderSize:], nonce)
	sum := sha256.Sum256(buf[:])
	return ShortIDKey{k0: binary.LittleEndian.Uint64(sum[0:8]), k1: binary.LittleEndian.Uint64(sum[8:16])}
}

// ShortID is the short id of a transaction with this wtxid (version 2
// compact blocks name transactions by wtxid): SipHash-2-4 of the wtxid,
// its 6 low bytes, little-endian.
func (k ShortIDKey) ShortID(wtxid sha256d.Hash) ShortID {
	v := siphash.Hash(k.k0, k.k1, wtxid[:])
	var id ShortID
	for i := range id {
		id[i] = byte(v >> (8 * i))
	}
	return id
}

// NewCmpctBlock makes the version 2 compact block of b with this nonce:
// the coinbase prefilled (the receiver cannot have it), every other
// transaction by short id. It fails (ErrTooMany) for a block of more than
// MaxCompactIndex transactions.
func NewCmpctBlock(b *Block, nonce uint64) (*MsgCmpctBlock, error) {
	if len(b.Txs) > MaxCompactIndex || len(b.Txs) == 0 {
		return nil, ErrTooMany
	}
	m := &MsgCmpctBlock{Header: b.Header, Nonce: nonce, Prefilled: []PrefilledTx{{Index: 0, Tx: b.Txs[0]}},
		ShortIDs: make([]ShortID, 0, len(b.Txs)-1)}
	key := NewShortIDKey(&b.Header, nonce)
	for i := 1; i < len(b.Txs); i++ {
		m.ShortIDs = append(m.ShortIDs, key.ShortID(b.Txs[i].WTxID()))
	}
	return m, nil
}
