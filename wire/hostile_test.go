package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

// bytesAllocated reports the heap bytes f allocates, averaged over many runs so
// that allocations by other goroutines (the test runner's) do not count.
func bytesAllocated(f func()) uint64 {
	const runs = 100
	var before, after runtime.MemStats
	f() // warm up
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}

func TestHostileCountsAllocateNothing(t *testing.T) {
	tests := []struct {
		name    string
		cmd     string
		payload []byte
	}{
		// version 1, then an input count of 2^64-1: btcd allocates ~89 MB here.
		{"tx claiming 2^64-1 inputs", CmdTx, []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"tx claiming 2^32-1 inputs", CmdTx, []byte{1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff}},
		{"witness tx claiming 2^32-1 inputs", CmdTx, []byte{1, 0, 0, 0, 0, 1, 0xfe, 0xff, 0xff, 0xff, 0xff}},
		{"block claiming 2^32-1 txs", CmdBlock, append(make([]byte, 80), 0xfe, 0xff, 0xff, 0xff, 0xff)},
		{"inv claiming 50,000 entries", CmdInv, []byte{0xfd, 0x50, 0xc3}},
		{"headers claiming 2,000", CmdHeaders, []byte{0xfd, 0xd0, 0x07}},
		{"addr claiming 1,000", CmdAddr, []byte{0xfd, 0xe8, 0x03}},
		{"getblocktxn claiming 65,536 indexes", CmdGetBlockTxn, append(make([]byte, 32), 0xfe, 0, 0, 1, 0)},
		{"cmpctblock claiming 65,535 short ids", CmdCmpctBlock, append(make([]byte, 88), 0xfd, 0xff, 0xff)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			allocated := bytesAllocated(func() { _, err = DecodeMessage(tt.cmd, tt.payload) })
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error = %v, want ErrMalformed", err)
			}
			if allocated > 4<<10 {
				t.Fatalf("allocated %d bytes decoding a %d-byte payload", allocated, len(tt.payload))
			}
		})
	}
}

func TestTruncatedBlockAllocatesForWhatIsThere(t *testing.T) {
	// A block announcing 100,000 transactions that contains only two of them
	// allocates for two, not for 100,000.
	b := sampleBlock()
	p := encode(t, b)
	body := p[HeaderSize+1:]
	hostile := append(append(bytes.Clone(p[:HeaderSize]), 0xfe, 0xa0, 0x86, 0x01, 0x00), body...)
	hostile = append(hostile, make([]byte, 200)...) // looks like more is coming
	var err error
	allocated := bytesAllocated(func() { err = new(Block).Decode(hostile) })
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("error = %v, want ErrMalformed", err)
	}
	if allocated > 16<<10 {
		t.Fatalf("allocated %d bytes", allocated)
	}
}

func TestNonCanonical(t *testing.T) {
	ping := func(p ...byte) []byte { return p }
	legacy := encode(t, sampleLegacyTx())
	witness := encode(t, sampleTx())
	version := encode(t, sampleMessages()[0])
	tests := []struct {
		name    string
		cmd     string
		payload []byte
		reason  error
	}{
		{"varint 0xfd for a small value", CmdInv, ping(0xfd, 0x01, 0x00), ErrNonCanonical},
		{"varint 0xfe for a 16-bit value", CmdInv, ping(0xfe, 0x01, 0x00, 0x00, 0x00), ErrNonCanonical},
		{"varint 0xff for a 32-bit value", CmdInv, ping(0xff, 1, 0, 0, 0, 0, 0, 0, 0), ErrNonCanonical},
		{"relay flag 2", CmdVersion, append(bytes.Clone(version[:len(version)-1]), 2), ErrNonCanonical},
		{"version without relay flag", CmdVersion, version[:len(version)-1], io.ErrUnexpectedEOF},
		{"sendcmpct announce 7", CmdSendCmpct, ping(7, 2, 0, 0, 0, 0, 0, 0, 0), ErrNonCanonical},
		{"witness flag 0", CmdTx, withByte(witness, 5, 0), ErrInvalid},
		{"witness flag 2", CmdTx, withByte(witness, 5, 2), ErrInvalid},
		{"superfluous witness", CmdTx, superfluousWitness(legacy), ErrNonCanonical},
		{"header with a transaction count", CmdHeaders, append(append([]byte{1}, make([]byte, 80)...), 1), ErrInvalid},
		{"IPv4 addrv2 of 5 bytes", CmdAddrV2, ping(1, 0, 0, 0, 0, 1, NetIPv4, 5, 1, 2, 3, 4, 5, 0, 1), ErrInvalid},
		{"TorV3 addrv2 of 31 bytes", CmdAddrV2, append(append(ping(1, 0, 0, 0, 0, 1, NetTorV3, 31), make([]byte, 31)...), 0, 1), ErrInvalid},
		{"addrv2 address over 512 bytes", CmdAddrV2, append(ping(1, 0, 0, 0, 0, 1, 99, 0xfd, 0x01, 0x02), make([]byte, 515)...), ErrTooMany},
		{"getblocktxn index past 65535", CmdGetBlockTxn, append(make([]byte, 32), 2, 0xfd, 0xff, 0xff, 0), ErrInvalid},
		{"reject for a tx without its hash", CmdReject, ping(2, 't', 'x', 0x10, 0), io.ErrUnexpectedEOF},
		{"cmpr wrapping cmpr", CmdCmpr, append([]byte("cmpr\x00\x00\x00\x00\x00\x00\x00\x00"), 1, 1, 0), ErrBadCommand},
		{"cmpr with empty inner command", CmdCmpr, append(make([]byte, 12), 1, 1, 0), ErrBadCommand},
		{"cmpr declaring 4,000,001 bytes", CmdCmpr, append([]byte("block\x00\x00\x00\x00\x00\x00\x00"), 0xfe, 0x01, 0x09, 0x3d, 0x00, 1), ErrOversize},
		{"cmpr declaring a 9-byte ping", CmdCmpr, append([]byte("ping\x00\x00\x00\x00\x00\x00\x00\x00"), 9, 1), ErrOversize},
		{"inv over 50,000", CmdInv, ping(0xfd, 0x51, 0xc3), ErrTooMany},
		{"locator over 101", CmdGetHeaders, ping(0, 0, 0, 0, 102), ErrTooMany},
		{"headers over 2,000", CmdHeaders, ping(0xfd, 0xd1, 0x07), ErrTooMany},
		{"addr over 1,000", CmdAddr, ping(0xfd, 0xe9, 0x03), ErrTooMany},
		{"user agent over 256", CmdVersion, append(bytes.Clone(version[:80]), 0xfd, 0x01, 0x01), ErrTooMany},
		{"verack with a payload", CmdVerack, ping(0), ErrTrailing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeMessage(tt.cmd, tt.payload)
			if !errors.Is(err, tt.reason) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error = %v, want %v wrapping ErrMalformed", err, tt.reason)
			}
		})
	}
}

func withByte(p []byte, i int, v byte) []byte {
	p = bytes.Clone(p)
	p[i] = v
	return p
}

// superfluousWitness turns a legacy transaction into the witness form with an
// empty witness for its single input, which Bitcoin Core refuses.
func superfluousWitness(legacy []byte) []byte {
	out := append(bytes.Clone(legacy[:4]), 0, 1)
	out = append(out, legacy[4:len(legacy)-4]...)
	out = append(out, 0) // one input, zero witness items
	return append(out, legacy[len(legacy)-4:]...)
}

func TestVarintBoundaries(t *testing.T) {
	for _, v := range []uint64{0, 0xfc, 0xfd, 0xffff, 0x10000, 0xffffffff, 0x100000000, 1<<64 - 1} {
		b := AppendVarint(nil, v)
		if len(b) != VarintSize(v) {
			t.Fatalf("%d: size %d, VarintSize %d", v, len(b), VarintSize(v))
		}
		got, n, err := ReadVarint(b)
		if err != nil || got != v || n != len(b) {
			t.Fatalf("%d: read back %d (%d bytes, %v)", v, got, n, err)
		}
	}
}

// hostileTx serializes a transaction of ins inputs and outs outputs, every
// script script bytes long, and (if witItems > 0) every input carrying
// witItems empty witness items: the shapes that make a decoder allocate the
// most per payload byte. It is written by hand so that building a 4 MB shape
// costs the test no more than the bytes.
func hostileTx(ins, outs, script, witItems int) []byte {
	p := appendU32(nil, 2)
	if witItems > 0 {
		p = append(p, 0, 1)
	}
	p = AppendVarint(p, uint64(ins))
	for i := range ins {
		p = append(p, make([]byte, 32)...)
		p = appendU32(p, uint32(i))
		p = AppendVarint(p, uint64(script))
		p = append(p, make([]byte, script)...)
		p = appendU32(p, 0xffffffff)
	}
	p = AppendVarint(p, uint64(outs))
	for range outs {
		p = appendU64(p, 1)
		p = AppendVarint(p, uint64(script))
		p = append(p, make([]byte, script)...)
	}
	if witItems > 0 {
		for range ins {
			p = AppendVarint(p, uint64(witItems))
			p = append(p, make([]byte, witItems)...) // each item: a zero length
		}
	}
	return appendU32(p, 0)
}

// hostileBlock is a block header followed by txs.
func hostileBlock(txs ...[]byte) []byte {
	p := make([]byte, HeaderSize)
	p = AppendVarint(p, uint64(len(txs)))
	for _, tx := range txs {
		p = append(p, tx...)
	}
	return p
}

// repeatTx is n copies of tx, for blocks of many small transactions.
func repeatTx(tx []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = tx
	}
	return out
}

// Decoding a block or transaction of any valid shape allocates at most
// MaxDecodeOverhead bytes per payload byte. (With witness items as [][]byte,
// the first case allocated 24 bytes per payload byte: ~96 MB for 4 MB.)
func TestDecodedSizeBoundedByPayload(t *testing.T) {
	const room = MaxMessageSize - 1000 // headers and counts fit beside the bulk
	tests := []struct {
		name    string
		cmd     string
		payload []byte
	}{
		{"tx with 4M empty witness items", CmdTx, hostileTx(1, 1, 0, room)},
		{"block whose tx has 4M empty witness items", CmdBlock, hostileBlock(hostileTx(1, 1, 0, room))},
		{"tx of empty inputs", CmdTx, hostileTx(room/minTxInSize, 1, 0, 0)},
		{"block of a tx of empty inputs", CmdBlock, hostileBlock(hostileTx(room/minTxInSize, 1, 0, 0))},
		{"tx of empty outputs", CmdTx, hostileTx(1, room/minTxOutSize, 0, 0)},
		{"block of a tx of empty outputs", CmdBlock, hostileBlock(hostileTx(1, room/minTxOutSize, 0, 0))},
		{"block of a tx of one-byte scripts", CmdBlock, hostileBlock(hostileTx(room/(2*(minTxInSize+1)), room/(2*(minTxOutSize+1)), 1, 0))},
		{"block of inputs with one empty witness item each", CmdBlock, hostileBlock(hostileTx(room/(minTxInSize+2), 1, 0, 1))},
		{"block of the smallest transactions", CmdBlock, hostileBlock(repeatTx(hostileTx(1, 0, 0, 0), room/51)...)},
		{"block of the smallest witness transactions", CmdBlock, hostileBlock(repeatTx(hostileTx(1, 0, 0, 1), room/55)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.payload) > MaxMessageSize || len(tt.payload) < MaxMessageSize*9/10 {
				t.Fatalf("payload of %d bytes: not the ~4 MB shape meant", len(tt.payload))
			}
			var err error
			var m Message
			allocated := bytesAllocatedIn(5, func() { m, err = DecodeMessage(tt.cmd, tt.payload) })
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			// Valid and canonical: it re-encodes to the same bytes.
			if back, _ := m.AppendBinary(nil); !bytes.Equal(back, tt.payload) {
				t.Fatal("does not re-encode to the payload")
			}
			ratio := float64(allocated) / float64(len(tt.payload))
			t.Logf("%d bytes allocated for %d payload bytes: %.2f per byte", allocated, len(tt.payload), ratio)
			if allocated > MaxDecodeOverhead*uint64(len(tt.payload)) {
				t.Fatalf("allocated %.2f bytes per payload byte, over MaxDecodeOverhead (%d)", ratio, MaxDecodeOverhead)
			}
		})
	}
}

// bytesAllocatedIn is bytesAllocated with a chosen number of runs, for
// decodes that allocate megabytes (where others' allocations are noise).
func bytesAllocatedIn(runs int, f func()) uint64 {
	var before, after runtime.MemStats
	f() // warm up
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}
