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
