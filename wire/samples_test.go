package wire

import (
	"net/netip"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// sampleTx is a two-input witness transaction with every field set.
func sampleTx() *Tx {
	return &Tx{
		Version: 2,
		Inputs: []TxIn{
			{
				PrevOut:   OutPoint{Hash: sha256d.Sum([]byte("prev0")), Index: 1},
				ScriptSig: []byte{0x47, 0x30, 0x44, 0x02, 0x20},
				Sequence:  0xfffffffe,
				Witness:   NewWitness([]byte{0x30, 0x45, 0x02}, []byte{0x02, 0x79, 0xbe}),
			},
			{
				PrevOut:  OutPoint{Hash: sha256d.Sum([]byte("prev1")), Index: 0},
				Sequence: 0xffffffff,
			},
		},
		Outputs: []TxOut{
			{Value: 1_2345_6789, ScriptPubKey: []byte{0x76, 0xa9, 0x14, 1, 2, 3, 0x88, 0xac}},
			{Value: 0, ScriptPubKey: []byte{0x6a}},
		},
		LockTime: 800_000,
	}
}

// sampleLegacyTx is a one-input transaction without witness.
func sampleLegacyTx() *Tx {
	return &Tx{
		Version:  1,
		Inputs:   []TxIn{{PrevOut: OutPoint{Hash: sha256d.Sum([]byte("p")), Index: 7}, ScriptSig: []byte{1, 2, 3}, Sequence: 0xffffffff}},
		Outputs:  []TxOut{{Value: 5000, ScriptPubKey: []byte{0x51}}},
		LockTime: 0,
	}
}

func sampleHeader(n byte) Header {
	return Header{
		Version:    0x20000000,
		PrevBlock:  sha256d.Sum([]byte{n}),
		MerkleRoot: sha256d.Sum([]byte{n, n}),
		Time:       1_700_000_000 + uint32(n),
		Bits:       0x1d00ffff,
		Nonce:      uint32(n) * 7919,
	}
}

func sampleBlock() *Block {
	b := &Block{Header: sampleHeader(1), Txs: []Tx{*sampleLegacyTx(), *sampleTx()}}
	ids := b.TxIDs(nil)
	b.Header.MerkleRoot, _ = MerkleRoot(ids)
	return b
}

// sampleMessages returns one message of every command with non-trivial content.
// A test checks that it covers every command the package knows.
func sampleMessages() []Message {
	v4 := netip.MustParseAddrPort("192.0.2.7:8333")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:18444")
	return []Message{
		&MsgVersion{
			ProtocolVersion: ProtocolVersion,
			Services:        SFNodeNetwork | SFNodeWitness | SFNodeCompress,
			Timestamp:       1_700_000_000,
			AddrRecv:        NetAddr{Services: SFNodeNetwork, Addr: v4},
			AddrFrom:        NetAddr{Services: SFNodeNetwork | SFNodeWitness, Addr: v6},
			Nonce:           0x0123456789abcdef,
			UserAgent:       "/renga:0.1.0/",
			StartHeight:     574200,
			Relay:           true,
		},
		&MsgVerack{},
		&MsgPing{Nonce: 42},
		&MsgPong{Nonce: 42},
		&MsgGetAddr{},
		&MsgAddr{Addrs: []TimedAddr{{Time: 1_700_000_000, NetAddr: NetAddr{Services: 9, Addr: v4}}, {Time: 5, NetAddr: NetAddr{Addr: v6}}}},
		&MsgAddrV2{Addrs: []AddrV2{
			NewAddrV2(1_700_000_000, 1033, v4),
			NewAddrV2(7, 1<<40, v6),
			{Time: 9, Services: 1, Network: NetTorV3, Addr: make([]byte, 32), Port: 9050},
			{Time: 9, Services: 1, Network: 77, Addr: []byte{1, 2, 3}, Port: 1},
		}},
		&MsgSendAddrV2{},
		&MsgInv{Inv: []InvVect{{Type: InvTx, Hash: sha256d.Sum([]byte("a"))}, {Type: InvWitnessBlock, Hash: sha256d.Sum([]byte("b"))}}},
		&MsgGetData{Inv: []InvVect{{Type: InvWTx, Hash: sha256d.Sum([]byte("c"))}}},
		&MsgNotFound{Inv: []InvVect{{Type: InvBlock, Hash: sha256d.Sum([]byte("d"))}}},
		&MsgGetHeaders{Version: ProtocolVersion, Locator: []sha256d.Hash{sha256d.Sum([]byte("e")), sha256d.Sum([]byte("f"))}},
		&MsgGetBlocks{Version: ProtocolVersion, Locator: []sha256d.Hash{sha256d.Sum([]byte("g"))}, Stop: sha256d.Sum([]byte("h"))},
		&MsgHeaders{Headers: []Header{sampleHeader(1), sampleHeader(2), sampleHeader(3)}},
		sampleBlock(),
		sampleTx(),
		&MsgSendHeaders{},
		&MsgMempool{},
		&MsgFeeFilter{FeeRate: 1000},
		&MsgWtxidRelay{},
		&MsgReject{Message: CmdTx, Code: RejectInsufficientFee, Reason: "min relay fee not met", Hash: sha256d.Sum([]byte("i"))},
		&MsgSendCmpct{Announce: true, Version: 2},
		&MsgCmpctBlock{
			Header:    sampleHeader(4),
			Nonce:     99,
			ShortIDs:  []ShortID{{1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1}},
			Prefilled: []PrefilledTx{{Index: 0, Tx: *sampleLegacyTx()}, {Index: 3, Tx: *sampleTx()}},
		},
		&MsgGetBlockTxn{BlockHash: sha256d.Sum([]byte("j")), Indexes: []uint16{0, 1, 5, 300, 65535}},
		&MsgBlockTxn{BlockHash: sha256d.Sum([]byte("k")), Txs: []Tx{*sampleTx(), *sampleLegacyTx()}},
		&MsgSendCmpr{Codecs: []Codec{CodecZstd, CodecS2}, MinSize: 512},
		&MsgCmpr{Inner: CmdBlock, Length: 1000, Codec: CodecZstd, Data: []byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3}},
	}
}
