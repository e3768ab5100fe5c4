package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Errors.
var (
	ErrNotFound     = errors.New("store: not found")
	ErrCorrupt      = errors.New("store: corrupt record")
	ErrWrongNetwork = errors.New("store: data of another network")
)

// BlockPos says where a block body is: file number, offset of the block's
// first byte, and its length. A zero Size means "no body stored".
type BlockPos struct {
	File   uint32
	Offset uint32
	Size   uint32
}

// Coin is an unspent transaction output.
type Coin struct {
	Value    int64
	Script   []byte
	Height   int32
	Coinbase bool
}

// AppendBinary appends the coin's record.
func (c *Coin) AppendBinary(b []byte) ([]byte, error) {
	code := uint64(c.Height) << 1
	if c.Coinbase {
		code |= 1
	}
	b = binary.AppendUvarint(b, code)
	b = binary.AppendUvarint(b, uint64(c.Value))
	return append(b, c.Script...), nil
}

// decodeCoin parses a coin record; the script is copied (the caller's buffer
// belongs to Pebble).
func decodeCoin(p []byte) (Coin, error) {
	code, n := binary.Uvarint(p)
	if n <= 0 || code>>1 > 1<<31-1 {
		return Coin{}, fmt.Errorf("%w: coin height", ErrCorrupt)
	}
	p = p[n:]
	value, n := binary.Uvarint(p)
	if n <= 0 || value > 1<<63-1 {
		return Coin{}, fmt.Errorf("%w: coin value", ErrCorrupt)
	}
	return Coin{
		Value:    int64(value),
		Script:   append([]byte(nil), p[n:]...),
		Height:   int32(code >> 1),
		Coinbase: code&1 != 0,
	}, nil
}

// IndexEntry is what the store keeps of each block header ever accepted.
type IndexEntry struct {
	Header wire.Header
	Height int32
	Status uint8  // package chain's flags
	Seq    uint64 // order of arrival, for ties between equal work
	Pos    BlockPos
}

const indexEntrySize = wire.HeaderSize + 4 + 1 + 8 + 12

// AppendBinary appends the entry's record.
func (e *IndexEntry) AppendBinary(b []byte) ([]byte, error) {
	b, _ = e.Header.AppendBinary(b)
	b = binary.BigEndian.AppendUint32(b, uint32(e.Height))
	b = append(b, e.Status)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint32(b, e.Pos.File)
	b = binary.BigEndian.AppendUint32(b, e.Pos.Offset)
	return binary.BigEndian.AppendUint32(b, e.Pos.Size), nil
}

func decodeIndexEntry(p []byte) (IndexEntry, error) {
	if len(p) != indexEntrySize {
		return IndexEntry{}, fmt.Errorf("%w: index entry of %d bytes", ErrCorrupt, len(p))
	}
	var e IndexEntry
	e.Header.SetBytes((*[wire.HeaderSize]byte)(p))
	p = p[wire.HeaderSize:]
	e.Height = int32(binary.BigEndian.Uint32(p))
	e.Status = p[4]
	e.Seq = binary.BigEndian.Uint64(p[5:])
	e.Pos = BlockPos{
		File:   binary.BigEndian.Uint32(p[13:]),
		Offset: binary.BigEndian.Uint32(p[17:]),
		Size:   binary.BigEndian.Uint32(p[21:]),
	}
	return e, nil
}

// SpentCoin is a coin a block spent, with its outpoint, so that disconnecting
// the block can restore it.
type SpentCoin struct {
	OutPoint wire.OutPoint
	Coin     Coin
}

// TxUndo is one transaction's part of an undo record: the outputs it created
// (to delete) and the coins it spent (to restore), in input order.
type TxUndo struct {
	TxID    sha256d.Hash
	Outputs uint32
	Spent   []SpentCoin
}

// Undo is what disconnecting a block needs, without reading the block: per
// transaction, in block order, what it created and what it spent. Disconnect
// walks it backwards, so an output created and spent inside the block is
// deleted, not restored. Keeping the created outputs here lets a node roll back
// a block whose body is lost.
type Undo struct {
	Txs []TxUndo
}

// AppendBinary appends the undo record:
// uvarint(n) then per transaction txid | uvarint(outputs) | uvarint(spent)
// and per spent coin txid | uvarint(index) | uvarint(len) | coin record.
func (u *Undo) AppendBinary(b []byte) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(u.Txs)))
	var coin []byte
	for i := range u.Txs {
		t := &u.Txs[i]
		b = append(b, t.TxID[:]...)
		b = binary.AppendUvarint(b, uint64(t.Outputs))
		b = binary.AppendUvarint(b, uint64(len(t.Spent)))
		for j := range t.Spent {
			s := &t.Spent[j]
			b = append(b, s.OutPoint.Hash[:]...)
			b = binary.AppendUvarint(b, uint64(s.OutPoint.Index))
			coin, _ = s.Coin.AppendBinary(coin[:0])
			b = binary.AppendUvarint(b, uint64(len(coin)))
			b = append(b, coin...)
		}
	}
	return b, nil
}

// undoReader decodes an undo record, remembering the first problem.
type undoReader struct {
	p   []byte
	err error
}

func (r *undoReader) uvarint(what string, max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.p)
	if n <= 0 || v > max {
		r.err = fmt.Errorf("%w: undo %s", ErrCorrupt, what)
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *undoReader) hash(what string) (h sha256d.Hash) {
	if r.err == nil && len(r.p) < 32 {
		r.err = fmt.Errorf("%w: undo %s", ErrCorrupt, what)
	}
	if r.err != nil {
		return h
	}
	h = sha256d.Hash(r.p[:32])
	r.p = r.p[32:]
	return h
}

func decodeUndo(p []byte) (Undo, error) {
	r := undoReader{p: p}
	// Every transaction takes at least 34 bytes and every coin 35: bound the
	// counts by the bytes present before allocating.
	n := r.uvarint("transaction count", uint64(len(p)/34))
	u := Undo{Txs: make([]TxUndo, n)}
	for i := range u.Txs {
		t := &u.Txs[i]
		t.TxID = r.hash("txid")
		t.Outputs = uint32(r.uvarint("output count", 1<<32-1))
		spent := r.uvarint("spent count", uint64(len(r.p)/35))
		if spent > 0 {
			t.Spent = make([]SpentCoin, spent)
		}
		for j := range t.Spent {
			s := &t.Spent[j]
			s.OutPoint.Hash = r.hash("spent outpoint")
			s.OutPoint.Index = uint32(r.uvarint("spent index", 1<<32-1))
			size := r.uvarint("coin length", uint64(len(r.p)))
			if r.err != nil {
				break
			}
			coin, err := decodeCoin(r.p[:size])
			if err != nil {
				return Undo{}, err
			}
			s.Coin = coin
			r.p = r.p[size:]
		}
		if r.err != nil {
			return Undo{}, r.err
		}
	}
	if r.err == nil && len(r.p) != 0 {
		r.err = fmt.Errorf("%w: undo has %d trailing bytes", ErrCorrupt, len(r.p))
	}
	return u, r.err
}
