package wire

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// A compact block made of a regtest block with a segwit transaction, as
// another implementation (Elements, via rust-bitcoin's tests) makes it:
// the short id is of the wtxid.
const (
	bip152Block   = "000000206c750a364035aefd5f81508a08769975116d9195312ee4520dceac39e1fdc62c4dc67473b8e354358c1e610afeaff7410858bd45df43e2940f8a62bd3d5e3ac943c2975cffff7f200000000002020000000001010000000000000000000000000000000000000000000000000000000000000000ffffffff04016b0101ffffffff020006062a0100000001510000000000000000266a24aa21a9ed4a3d9f3343dafcc0d6f6d4310f2ee5ce273ed34edca6c75db3a73e7f368734200120000000000000000000000000000000000000000000000000000000000000000000000000020000000001021fc20ba2bd745507b8e00679e3b362558f9457db374ca28ffa5243f4c23a4d5f00000000171600147c9dea14ffbcaec4b575e03f05ceb7a81cd3fcbffdffffff915d689be87b43337f42e26033df59807b768223368f189a023d0242d837768900000000171600147c9dea14ffbcaec4b575e03f05ceb7a81cd3fcbffdffffff0200cdf5050000000017a9146803c72d9154a6a20f404bed6d3dcee07986235a8700e1f5050000000017a9144e6a4c7cb5b5562904843bdf816342f4db9f5797870247304402205e9bf6e70eb0e4b495bf483fd8e6e02da64900f290ef8aaa64bb32600d973c450220670896f5d0e5f33473e5f399ab680cc1d25c2d2afd15abd722f04978f28be887012103e4e4d9312b2261af508b367d8ba9be4f01b61d6d6e78bec499845b4f410bcf2702473044022045ac80596a6ac9c8c572f94708709adaf106677221122e08daf8b9741a04f66a022003ccd52a3b78f8fd08058fc04fc0cffa5f4c196c84eae9e37e2a85babe731b57012103e4e4d9312b2261af508b367d8ba9be4f01b61d6d6e78bec499845b4f410bcf276a000000"
	bip152Compact = "000000206c750a364035aefd5f81508a08769975116d9195312ee4520dceac39e1fdc62c4dc67473b8e354358c1e610afeaff7410858bd45df43e2940f8a62bd3d5e3ac943c2975cffff7f2000000000a4df3c3744da89fa010a6979e971450100020000000001010000000000000000000000000000000000000000000000000000000000000000ffffffff04016b0101ffffffff020006062a0100000001510000000000000000266a24aa21a9ed4a3d9f3343dafcc0d6f6d4310f2ee5ce273ed34edca6c75db3a73e7f368734200120000000000000000000000000000000000000000000000000000000000000000000000000"
	bip152Nonce   = 18053200567810711460
)

func TestCompactBlockVector(t *testing.T) {
	raw, _ := hex.DecodeString(bip152Block)
	var b Block
	if err := b.Decode(raw); err != nil {
		t.Fatal(err)
	}
	m, err := NewCmpctBlock(&b, bip152Nonce)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(bip152Compact)
	if !bytes.Equal(got, want) {
		t.Fatalf("compact block\n got %x\nwant %x", got, want)
	}
	// The short id names the wtxid, not the txid.
	key := NewShortIDKey(&b.Header, bip152Nonce)
	if key.ShortID(b.Txs[1].TxID()) == m.ShortIDs[0] {
		t.Fatal("the short id is the txid's: version 2 short ids are of the wtxid")
	}
}

func TestShortIDDependsOnNonceAndHeader(t *testing.T) {
	h := Header{Version: 4, Time: 1}
	id := NewShortIDKey(&h, 1).ShortID([32]byte{9})
	if NewShortIDKey(&h, 2).ShortID([32]byte{9}) == id {
		t.Error("another nonce, the same short id")
	}
	h.Time = 2
	if NewShortIDKey(&h, 1).ShortID([32]byte{9}) == id {
		t.Error("another header, the same short id")
	}
}
