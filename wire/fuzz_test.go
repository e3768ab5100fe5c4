package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"unsafe"
)

// fuzzPayload is the body of every per-message target: decoding starts past the
// checksum (random bytes never carry a valid one), every error must wrap
// ErrMalformed, and every accepted payload must re-encode to the same bytes.
func fuzzPayload(f *testing.F, cmd string) {
	for _, m := range sampleMessages() {
		if m.Command() == cmd {
			f.Add(encode(f, m))
		}
	}
	if cmd == CmdBlock {
		f.Add(mustHex(f, mainnetGenesisHex))
		f.Add(mustHex(f, mainnetBlock1Hex))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkPayload(t, cmd, payload)
	})
}

func checkPayload(t *testing.T, cmd string, payload []byte) {
	msg, err := NewMessage(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := msg.Decode(bytes.Clone(payload)); err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: error %v does not wrap ErrMalformed", cmd, err)
		}
		var me *MalformedError
		if !errors.As(err, &me) || me.Offset < 0 || me.Offset > len(payload) {
			t.Fatalf("%s: error %v has no valid offset", cmd, err)
		}
		return
	}
	again, err := msg.AppendBinary(nil)
	if err != nil {
		t.Fatalf("%s: accepted payload does not encode: %v", cmd, err)
	}
	if !bytes.Equal(again, payload) {
		t.Fatalf("%s: accepted %x but re-encodes %x", cmd, payload, again)
	}
	if len(payload) > MaxPayload(cmd) {
		t.Fatalf("%s: accepted %d bytes, over MaxPayload %d", cmd, len(payload), MaxPayload(cmd))
	}
	if n := decodedBytes(msg); n > MaxDecodeOverhead*len(payload) {
		t.Fatalf("%s: %d payload bytes decode to %d bytes of structures, over MaxDecodeOverhead (%d) per byte",
			cmd, len(payload), n, MaxDecodeOverhead)
	}
}

// decodedBytes is what a decoded block's or transaction's slices hold (the
// structures; scripts and witnesses alias the payload).
func decodedBytes(m Message) int {
	txBytes := func(tx *Tx) int {
		return len(tx.Inputs)*int(unsafe.Sizeof(TxIn{})) + len(tx.Outputs)*int(unsafe.Sizeof(TxOut{}))
	}
	switch m := m.(type) {
	case *Tx:
		return txBytes(m)
	case *Block:
		n := len(m.Txs) * int(unsafe.Sizeof(Tx{}))
		for i := range m.Txs {
			n += txBytes(&m.Txs[i])
		}
		return n
	}
	return 0
}

func FuzzVersion(f *testing.F)     { fuzzPayload(f, CmdVersion) }
func FuzzVerack(f *testing.F)      { fuzzPayload(f, CmdVerack) }
func FuzzPing(f *testing.F)        { fuzzPayload(f, CmdPing) }
func FuzzPong(f *testing.F)        { fuzzPayload(f, CmdPong) }
func FuzzGetAddr(f *testing.F)     { fuzzPayload(f, CmdGetAddr) }
func FuzzAddr(f *testing.F)        { fuzzPayload(f, CmdAddr) }
func FuzzAddrV2(f *testing.F)      { fuzzPayload(f, CmdAddrV2) }
func FuzzSendAddrV2(f *testing.F)  { fuzzPayload(f, CmdSendAddrV2) }
func FuzzInv(f *testing.F)         { fuzzPayload(f, CmdInv) }
func FuzzGetData(f *testing.F)     { fuzzPayload(f, CmdGetData) }
func FuzzNotFound(f *testing.F)    { fuzzPayload(f, CmdNotFound) }
func FuzzGetHeaders(f *testing.F)  { fuzzPayload(f, CmdGetHeaders) }
func FuzzGetBlocks(f *testing.F)   { fuzzPayload(f, CmdGetBlocks) }
func FuzzHeaders(f *testing.F)     { fuzzPayload(f, CmdHeaders) }
func FuzzBlock(f *testing.F)       { fuzzPayload(f, CmdBlock) }
func FuzzTx(f *testing.F)          { fuzzPayload(f, CmdTx) }
func FuzzSendHeaders(f *testing.F) { fuzzPayload(f, CmdSendHeaders) }
func FuzzMempool(f *testing.F)     { fuzzPayload(f, CmdMempool) }
func FuzzFeeFilter(f *testing.F)   { fuzzPayload(f, CmdFeeFilter) }
func FuzzWtxidRelay(f *testing.F)  { fuzzPayload(f, CmdWtxidRelay) }
func FuzzReject(f *testing.F)      { fuzzPayload(f, CmdReject) }
func FuzzSendCmpct(f *testing.F)   { fuzzPayload(f, CmdSendCmpct) }
func FuzzCmpctBlock(f *testing.F)  { fuzzPayload(f, CmdCmpctBlock) }
func FuzzGetBlockTxn(f *testing.F) { fuzzPayload(f, CmdGetBlockTxn) }
func FuzzBlockTxn(f *testing.F)    { fuzzPayload(f, CmdBlockTxn) }
func FuzzSendCmpr(f *testing.F)    { fuzzPayload(f, CmdSendCmpr) }
func FuzzCmpr(f *testing.F)        { fuzzPayload(f, CmdCmpr) }

// FuzzDecodeAny lets the fuzzer pick the command too, so that bytes learnt on
// one message are tried on the others.
func FuzzDecodeAny(f *testing.F) {
	cmds := Commands()
	for i, cmd := range cmds {
		for _, m := range sampleMessages() {
			if m.Command() == cmd {
				f.Add(uint8(i), encode(f, m))
			}
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		checkPayload(t, cmds[int(which)%len(cmds)], payload)
	})
}

// FuzzFrame reads whole streams of frames. Every error must be ErrMalformed,
// ErrUnknownCommand or a truncation of the stream, and every message read must
// re-frame to exactly the bytes it came from. The fuzzer's bytes rarely carry a
// valid checksum, so the seed streams are real frames (and the per-message
// targets cover decoding).
func FuzzFrame(f *testing.F) {
	var all []byte
	for _, m := range sampleMessages() {
		frame := frameOf(f, m)
		f.Add(frame)
		all = append(all, frame...)
	}
	f.Add(all)
	f.Add(AppendRawFrame(nil, testMagic, "unknown", []byte{1, 2, 3}))
	f.Fuzz(func(t *testing.T, stream []byte) {
		rest := bytes.NewReader(stream)
		r := NewReader(rest, testMagic)
		for range 64 {
			start := len(stream) - rest.Len()
			msg, err := r.ReadMessage()
			end := len(stream) - rest.Len()
			switch {
			case err == nil:
				frame, encErr := AppendFrame(nil, testMagic, msg)
				if encErr != nil || !bytes.Equal(frame, stream[start:end]) {
					t.Fatalf("frame at %d re-frames differently (%v)", start, encErr)
				}
			case errors.Is(err, io.EOF):
				return
			case errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrMalformed):
				return // the stream ended inside a frame
			case errors.Is(err, ErrUnknownCommand), errors.Is(err, ErrChecksum):
				// The frame was consumed; the next one can be read.
				if end-start < FrameHeaderSize {
					t.Fatalf("%v after consuming only %d bytes", err, end-start)
				}
			case errors.Is(err, ErrMalformed):
				return // a bad header or payload: a peer would be disconnected
			default:
				t.Fatalf("unexpected error class: %v", err)
			}
		}
	})
}
