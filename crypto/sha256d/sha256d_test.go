package sha256d

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"
)

// stdlibState returns crypto/sha256's internal state after hashing p (a multiple
// of 64 bytes), read through its documented MarshalBinary form:
// "sha\x03" | h[8] big-endian | partial block[64] | length uint64.
func stdlibState(t testing.TB, p []byte) [8]uint32 {
	t.Helper()
	d := sha256.New()
	d.Write(p)
	raw, err := d.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var s [8]uint32
	for i := range s {
		s[i] = binary.BigEndian.Uint32(raw[4+4*i:])
	}
	return s
}

func TestMidstateMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		p := make([]byte, 64)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		if got, want := Midstate(p), stdlibState(t, p); got != want {
			t.Fatalf("case %d: Midstate = %08x, crypto/sha256 state = %08x", i, got, want)
		}
	}
}

func TestCompressChainsLikeStdlib(t *testing.T) {
	// Several blocks through Compress must equal crypto/sha256's state after the same bytes.
	p := make([]byte, 64*5)
	for i := range p {
		p[i] = byte(i * 7)
	}
	state := IV
	for off := 0; off < len(p); off += 64 {
		Compress(&state, (*[64]byte)(p[off:off+64]))
	}
	if want := stdlibState(t, p); state != want {
		t.Fatalf("state = %08x, want %08x", state, want)
	}
}

func TestSum(t *testing.T) {
	tests := []struct {
		name string
		in   string // hex
		want string // display order
	}{
		{
			// Bitcoin's mainnet genesis block header hashes to the famous value.
			name: "mainnet genesis header",
			in: "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e" +
				"67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c",
			want: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
		},
		{
			// SHA-256d of the empty string, byte-reversed.
			name: "empty",
			in:   "",
			want: "56944c5d3f98413ef45cf54545538103cc9f298e0575820ad3591376e2e0f65d",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := hex.DecodeString(tt.in)
			if got := Sum(in).String(); got != tt.want {
				t.Fatalf("Sum = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSumPair(t *testing.T) {
	a := Sum([]byte("a"))
	b := Sum([]byte("b"))
	want := Sum(append(append([]byte{}, a[:]...), b[:]...))
	if got := SumPair(&a, &b); got != want {
		t.Fatalf("SumPair = %s, want %s", got, want)
	}
}

func TestParseHash(t *testing.T) {
	const s = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
	h, err := ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if h[0] != 0x6f || h[31] != 0x00 {
		t.Fatalf("ParseHash did not reverse: first byte %#x, last %#x", h[0], h[31])
	}
	if h.String() != s {
		t.Fatalf("round trip = %s", h.String())
	}
	text, _ := h.MarshalText()
	var back Hash
	if err := back.UnmarshalText(text); err != nil || back != h {
		t.Fatalf("text round trip: %v %v", back, err)
	}
	for name, bad := range map[string]string{
		"short":     s[:63],
		"long":      s + "0",
		"not hex":   "zz" + s[2:],
		"empty":     "",
		"odd space": " " + s[1:],
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseHash(bad); !errors.Is(err, ErrHashSyntax) {
				t.Fatalf("ParseHash(%q) error = %v, want ErrHashSyntax", bad, err)
			}
		})
	}
}

func TestSumAllocs(t *testing.T) {
	buf := make([]byte, 80)
	a, b := Hash{1}, Hash{2}
	if n := testing.AllocsPerRun(100, func() { Sum(buf); SumPair(&a, &b) }); n != 0 {
		t.Fatalf("Sum/SumPair allocate %v times, want 0", n)
	}
}

// FuzzCompress checks the hand-written compression function against crypto/sha256.
func FuzzCompress(f *testing.F) {
	f.Add(make([]byte, 64))
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, p []byte) {
		n := len(p) / 64 * 64
		if n == 0 {
			return
		}
		state := IV
		for off := 0; off < n; off += 64 {
			Compress(&state, (*[64]byte)(p[off:off+64]))
		}
		if want := stdlibState(t, p[:n]); state != want {
			t.Fatalf("Compress chain = %08x, crypto/sha256 = %08x", state, want)
		}
	})
}

func BenchmarkSum80(b *testing.B) {
	buf := make([]byte, 80)
	b.SetBytes(80)
	b.ReportAllocs()
	for b.Loop() {
		Sum(buf)
	}
}
