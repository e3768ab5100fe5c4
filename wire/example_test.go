package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/renga-p2p/renga/wire"
)

// Frames go out with AppendFrame and come back through a Reader, which checks
// the header and checksum before decoding.
func ExampleReader() {
	regtest := wire.Magic{0xfa, 0xbf, 0xb5, 0xda}
	var stream []byte
	stream, _ = wire.AppendFrame(stream, regtest, &wire.MsgPing{Nonce: 7})
	stream = wire.AppendRawFrame(stream, regtest, "futurecmd", []byte{1, 2, 3})
	stream, _ = wire.AppendFrame(stream, regtest, &wire.MsgPong{Nonce: 7})

	r := wire.NewReader(bytes.NewReader(stream), regtest)
	for {
		msg, err := r.ReadMessage()
		switch {
		case errors.Is(err, wire.ErrUnknownCommand):
			fmt.Println("skipped:", err)
			continue
		case err != nil:
			fmt.Println("end:", err)
			return
		}
		fmt.Printf("%s %+v\n", msg.Command(), msg)
	}
	// Output:
	// ping &{Nonce:7}
	// skipped: wire: unknown command "futurecmd"
	// pong &{Nonce:7}
	// end: EOF
}

// A block decodes from its bytes; hashes are shown byte-reversed, as Bitcoin does.
func ExampleBlock_Decode() {
	raw, _ := hex.DecodeString("010000006fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d619000000000098" +
		"2051fd1e4ba744bbbe680e1fee14677ba1a3c3540bf7b1cdb606e857233e0e61bc6649ffff001d01e36299010100" +
		"0000010000000000000000000000000000000000000000000000000000000000000000ffffffff0704ffff001d0104" +
		"ffffffff0100f2052a0100000043410496b538e853519c726a2c91e61ec11600ae1390813a627c66fb8be7947be6" +
		"3c52da7589379515d4e0a604f8141781e62294721166bf621e73a82cbf2342c858eeac00000000")
	var b wire.Block
	if err := b.Decode(raw); err != nil {
		fmt.Println(err)
		return
	}
	root, _ := b.MerkleRoot()
	fmt.Println("block   ", b.Hash())
	fmt.Println("previous", b.Header.PrevBlock)
	fmt.Println("merkle  ", root == b.Header.MerkleRoot)
	fmt.Println("coinbase", b.Txs[0].TxID(), b.Txs[0].Outputs[0].Value)

	// Bytes that are not a block are refused with the field and offset.
	err := new(wire.Block).Decode(raw[:100])
	fmt.Println(errors.Is(err, wire.ErrMalformed), err)
	// Output:
	// block    00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048
	// previous 000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f
	// merkle   true
	// coinbase 0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098 5000000000
	// true wire: malformed tx.inputs at byte 86: unexpected EOF
}
