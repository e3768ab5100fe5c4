package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// InvType says what an inventory vector names.
type InvType uint32

// Inventory types. The witness flag (BIP144) asks for the witness serialization.
const (
	InvError         InvType = 0
	InvTx            InvType = 1
	InvBlock         InvType = 2
	InvFilteredBlock InvType = 3
	InvCmpctBlock    InvType = 4 // BIP152
	InvWTx           InvType = 5 // BIP339: hash is a wtxid
	InvWitnessFlag   InvType = 1 << 30
	InvWitnessTx             = InvTx | InvWitnessFlag
	InvWitnessBlock          = InvBlock | InvWitnessFlag
)

func (t InvType) String() string {
	switch t {
	case InvError:
		return "error"
	case InvTx:
		return "tx"
	case InvBlock:
		return "block"
	case InvFilteredBlock:
		return "filtered_block"
	case InvCmpctBlock:
		return "cmpct_block"
	case InvWTx:
		return "wtx"
	case InvWitnessTx:
		return "witness_tx"
	case InvWitnessBlock:
		return "witness_block"
	}
	return fmt.Sprintf("inv_type(%#x)", uint32(t))
}

// InvVect names one object: a transaction or a block, by hash.
type InvVect struct {
	Type InvType
	Hash sha256d.Hash
}

// The inv, getdata and notfound messages share one body: a bounded list of
// inventory vectors.

func appendInvList(b []byte, field string, list []InvVect) ([]byte, error) {
	if len(list) > MaxInvEntries {
		return b, fmt.Errorf("%s: %w: %d entries, limit %d", field, ErrTooMany, len(list), MaxInvEntries)
	}
	b = AppendVarint(b, uint64(len(list)))
	for i := range list {
		b = appendU32(b, uint32(list[i].Type))
		b = append(b, list[i].Hash[:]...)
	}
	return b, nil
}

func decodeInvList(p []byte, field string) ([]InvVect, error) {
	d := newDecoder(p)
	n := d.count(field, MaxInvEntries, invVectSize)
	var list []InvVect
	if n > 0 {
		list = make([]InvVect, n)
	}
	// count has checked that every entry is present: read them from one slice.
	all := d.bytes(field, n*invVectSize)
	for i := range list {
		e := all[i*invVectSize : (i+1)*invVectSize]
		list[i].Type = InvType(binary.LittleEndian.Uint32(e))
		copy(list[i].Hash[:], e[4:])
	}
	return list, d.finish(field)
}
