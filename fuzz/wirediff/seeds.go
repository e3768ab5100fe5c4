package wirediff

import (
	"encoding/hex"
	"net/netip"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

func hexBytes(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// mainnet block 1, a real legacy block.
const block1Hex = "010000006fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000982051fd1e4ba744bb" +
	"be680e1fee14677ba1a3c3540bf7b1cdb606e857233e0e61bc6649ffff001d01e362990101000000010000000000" +
	"000000000000000000000000000000000000000000000000000000ffffffff0704ffff001d0104ffffffff0100f2" +
	"052a0100000043410496b538e853519c726a2c91e61ec11600ae1390813a627c66fb8be7947be63c52da75893795" +
	"15d4e0a604f8141781e62294721166bf621e73a82cbf2342c858eeac00000000"

func seedMessages() []wire.Message {
	var block1 wire.Block
	if err := block1.Decode(hexBytes(block1Hex)); err != nil {
		panic(err)
	}
	segwit := wire.Tx{
		Version: 2,
		Inputs: []wire.TxIn{{
			PrevOut:  wire.OutPoint{Hash: sha256d.Sum([]byte("x")), Index: 3},
			Sequence: 0xfffffffd,
			Witness:  wire.NewWitness(hexBytes("3044022000"), hexBytes("02aabbcc")),
		}},
		Outputs:  []wire.TxOut{{Value: 1000, ScriptPubKey: hexBytes("0014000102030405060708090a0b0c0d0e0f10111213")}},
		LockTime: 5,
	}
	v4 := netip.MustParseAddrPort("10.1.2.3:8333")
	v6 := netip.MustParseAddrPort("[2001:db8::7]:18444")
	h := block1.Header
	return []wire.Message{
		&wire.MsgVersion{ProtocolVersion: 70016, Services: 9, Timestamp: 1700000000,
			AddrRecv: wire.NetAddr{Services: 1, Addr: v4}, AddrFrom: wire.NetAddr{Services: 9, Addr: v6},
			Nonce: 77, UserAgent: "/Satoshi:27.0.0/", StartHeight: 840000, Relay: true},
		&wire.MsgVerack{}, &wire.MsgGetAddr{}, &wire.MsgSendAddrV2{}, &wire.MsgSendHeaders{},
		&wire.MsgMempool{}, &wire.MsgWtxidRelay{},
		&wire.MsgPing{Nonce: 1}, &wire.MsgPong{Nonce: 2}, &wire.MsgFeeFilter{FeeRate: 1000},
		&wire.MsgAddr{Addrs: []wire.TimedAddr{{Time: 1700000000, NetAddr: wire.NetAddr{Services: 1033, Addr: v4}}}},
		&wire.MsgAddrV2{Addrs: []wire.AddrV2{wire.NewAddrV2(1700000000, 1033, v4), wire.NewAddrV2(3, 9, v6),
			{Time: 4, Services: 1, Network: wire.NetTorV3, Addr: make([]byte, 32), Port: 9050}}},
		&wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvBlock, Hash: h.Hash()}, {Type: wire.InvWTx, Hash: segwit.WTxID()}}},
		&wire.MsgGetData{Inv: []wire.InvVect{{Type: wire.InvWitnessTx, Hash: segwit.TxID()}}},
		&wire.MsgNotFound{Inv: []wire.InvVect{{Type: wire.InvTx, Hash: segwit.TxID()}}},
		&wire.MsgGetHeaders{Version: 70016, Locator: []sha256d.Hash{h.Hash(), h.PrevBlock}},
		&wire.MsgGetBlocks{Version: 70016, Locator: []sha256d.Hash{h.Hash()}, Stop: h.PrevBlock},
		&wire.MsgHeaders{Headers: []wire.Header{h, h}},
		&block1,
		&block1.Txs[0],
		&segwit,
		&wire.Block{Header: h, Txs: []wire.Tx{block1.Txs[0], segwit}},
		&wire.MsgReject{Message: "tx", Code: wire.RejectDuplicate, Reason: "txn-already-known", Hash: segwit.TxID()},
		&wire.MsgReject{Message: "version", Code: wire.RejectObsolete, Reason: "old"},
	}
}
