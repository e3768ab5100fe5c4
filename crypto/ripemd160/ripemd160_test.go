package ripemd160

import (
	"encoding/hex"
	"strings"
	"testing"
)

// The test vectors of the RIPEMD-160 specification.
func TestVectors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "9c1185a5c5e9fc54612808977ee8f548b2258d31"},
		{"a", "0bdc9d2d256b3ee9daae347be6f4dc835a467ffe"},
		{"abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"},
		{"message digest", "5d0689ef49d2fae572b881b123a85ffa21595f36"},
		{"abcdefghijklmnopqrstuvwxyz", "f71c27109c692c1b56bbdceb5b9d2865b3708dbc"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "12a053384a9c0c88e405a06c27dcf49ada62eb2b"},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "b0e20b6e3116640286ed3a87a5713079b21f5189"},
		{strings.Repeat("1234567890", 8), "9b752e45573d4b39f4dbd3323cab82bf63326bfb"},
		{strings.Repeat("a", 1_000_000), "52783243c1697bdbe16d37f97f68f08325dc1528"},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 20 {
			name = name[:20] + "…"
		}
		t.Run(name, func(t *testing.T) {
			got := Sum([]byte(tt.in))
			if hex.EncodeToString(got[:]) != tt.want {
				t.Fatalf("Sum = %x, want %s", got, tt.want)
			}
			// Written in uneven pieces, through the hash.Hash interface.
			h := New()
			for i := 0; i < len(tt.in); i += 7 {
				h.Write([]byte(tt.in[i:min(i+7, len(tt.in))]))
			}
			if hex.EncodeToString(h.Sum(nil)) != tt.want {
				t.Fatal("incremental hashing differs")
			}
		})
	}
}
