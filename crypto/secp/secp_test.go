package secp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// testKey is deterministic so that failures reproduce.
func testKey(t testing.TB, seed uint64) *PrivateKey {
	t.Helper()
	k, err := GenerateKeyFrom(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerify(t *testing.T) {
	key := testKey(t, 1)
	pub := key.PublicKey()
	hash := sha256.Sum256([]byte("renga"))
	sig := key.Sign(hash)
	if !IsStrictDER(append(bytes.Clone(sig), 0x01)) || !IsLowS(sig) {
		t.Fatalf("Sign produced non-canonical %x", sig)
	}
	for name, form := range map[string][]byte{"compressed": pub.Compressed(), "uncompressed": pub.Uncompressed()} {
		if !Verify(form, sig, hash) {
			t.Errorf("%s key does not verify", name)
		}
	}
	other := hash
	other[0] ^= 1
	if Verify(pub.Compressed(), sig, other) {
		t.Error("signature verifies another hash")
	}
	if Verify(testKey(t, 2).PublicKey().Compressed(), sig, hash) {
		t.Error("signature verifies under another key")
	}
	// RFC 6979: the same key and hash sign the same way.
	if !bytes.Equal(key.Sign(hash), sig) {
		t.Error("signing is not deterministic")
	}
}

func TestHighSVerifies(t *testing.T) {
	// Consensus accepts S and n-S alike (Core normalizes before verifying);
	// only relay policy wants low S.
	key := testKey(t, 3)
	hash := sha256.Sum256([]byte("malleable"))
	low, err := ecdsa.ParseDERSignature(key.Sign(hash))
	if err != nil {
		t.Fatal(err)
	}
	r, s := low.R(), low.S()
	s.Negate()
	high := derEncode(r.Bytes(), s.Bytes()) // dcrd's Serialize would make S low again
	if IsLowS(high) {
		t.Fatal("negated S should be high")
	}
	if !Verify(key.PublicKey().Compressed(), high, hash) {
		t.Fatal("high-S signature must verify for consensus")
	}
}

// derEncode writes (r, s) as strict DER without normalizing S.
func derEncode(r, s [32]byte) []byte {
	integer := func(v [32]byte) []byte {
		b := bytes.TrimLeft(v[:], "\x00")
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{2, byte(len(b))}, b...)
	}
	body := append(integer(r), integer(s)...)
	return append([]byte{0x30, byte(len(body))}, body...)
}

func TestHybridKey(t *testing.T) {
	key := testKey(t, 4)
	hash := sha256.Sum256([]byte("hybrid"))
	sig := key.Sign(hash)
	unc := key.PublicKey().Uncompressed()
	hybrid := bytes.Clone(unc)
	hybrid[0] = 6 | unc[64]&1 // 06 for even Y, 07 for odd
	if !Verify(hybrid, sig, hash) {
		t.Fatal("hybrid key must verify (libsecp256k1 accepts it)")
	}
	hybrid[0] ^= 1 // wrong parity
	if Verify(hybrid, sig, hash) {
		t.Fatal("hybrid key with the wrong parity accepted")
	}
}

func TestParsePublicKeyRejects(t *testing.T) {
	good := testKey(t, 5).PublicKey().Compressed()
	for name, b := range map[string][]byte{
		"empty":            nil,
		"prefix 5":         append([]byte{5}, good[1:]...),
		"compressed, long": append(bytes.Clone(good), 0),
		"uncompressed 33":  append([]byte{4}, good[1:]...),
		"not on curve":     append([]byte{4}, make([]byte, 64)...),
	} {
		if _, err := ParsePublicKey(b); !errors.Is(err, ErrPublicKey) {
			t.Errorf("%s: err = %v, want ErrPublicKey", name, err)
		}
	}
}

func TestParsePrivateKey(t *testing.T) {
	k := testKey(t, 6)
	b := k.Bytes()
	back, err := ParsePrivateKey(b[:])
	if err != nil || !back.PublicKey().Equal(k.PublicKey()) {
		t.Fatalf("round trip: %v", err)
	}
	// The group order itself is not a valid key.
	n, _ := hex.DecodeString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	for name, bad := range map[string][]byte{"zero": make([]byte, 32), "order": n, "short": b[:31]} {
		if _, err := ParsePrivateKey(bad); !errors.Is(err, ErrPrivateKey) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestIsStrictDER(t *testing.T) {
	key := testKey(t, 7)
	good := append(key.Sign(sha256.Sum256([]byte("x"))), 0x01)
	if !IsStrictDER(good) {
		t.Fatalf("good signature rejected: %x", good)
	}
	lenR := int(good[3])
	tests := map[string][]byte{
		"too short":          good[:8],
		"too long":           bytes.Repeat([]byte{0}, 74),
		"wrong tag":          with(good, 0, 0x31),
		"total length off":   with(good, 1, good[1]+1),
		"R tag":              with(good, 2, 0x03),
		"R negative":         with(good, 4, good[4]|0x80),
		"S tag":              with(good, 4+lenR, 0x03),
		"no sighash byte":    good[:len(good)-1],
		"trailing garbage":   append(bytes.Clone(good), 0),
		"R padded with zero": padR(good),
	}
	for name, sig := range tests {
		if IsStrictDER(sig) {
			t.Errorf("%s: accepted %x", name, sig)
		}
	}
}

func with(b []byte, i int, v byte) []byte {
	b = bytes.Clone(b)
	b[i] = v
	return b
}

// padR inserts a needless 0x00 before R (which must stay positive anyway).
func padR(sig []byte) []byte {
	lenR := int(sig[3])
	out := []byte{0x30, sig[1] + 1, 0x02, byte(lenR + 1), 0}
	out = append(out, sig[4:]...)
	if sig[4]&0x80 != 0 { // R needed its zero already; pad once more
		out = []byte{0x30, sig[1] + 1, 0x02, byte(lenR + 1), 0}
		out = append(out, sig[4:]...)
	}
	return out
}

func TestParseDERLaxTolerates(t *testing.T) {
	// The violations Core's lax parser accepts must still verify.
	key := testKey(t, 8)
	hash := sha256.Sum256([]byte("lax"))
	strict := key.Sign(hash)
	pub := key.PublicKey().Compressed()
	lenR := int(strict[3])
	r := strict[4 : 4+lenR]
	s := strict[6+lenR:]
	build := func(seqLen []byte, rHdr, rVal, sHdr, sVal, tail []byte) []byte {
		out := append([]byte{0x30}, seqLen...)
		out = append(append(append(out, rHdr...), rVal...), sHdr...)
		out = append(append(out, sVal...), tail...)
		return out
	}
	cases := map[string][]byte{
		"padded R":             build([]byte{0}, []byte{2, byte(len(r) + 3)}, append([]byte{0, 0, 0}, r...), []byte{2, byte(len(s))}, s, nil),
		"long-form R length":   build([]byte{0}, []byte{2, 0x82, 0, byte(len(r))}, r, []byte{2, byte(len(s))}, s, nil),
		"long-form seq length": build([]byte{0x81, 0}, []byte{2, byte(len(r))}, r, []byte{2, byte(len(s))}, s, nil),
		"garbage after S":      build([]byte{0}, []byte{2, byte(len(r))}, r, []byte{2, byte(len(s))}, s, []byte{1, 2, 3}),
		"wrong sequence len":   build([]byte{7}, []byte{2, byte(len(r))}, r, []byte{2, byte(len(s))}, s, nil),
	}
	for name, sig := range cases {
		if !Verify(pub, sig, hash) {
			t.Errorf("%s: %x does not verify under the lax parser", name, sig)
		}
	}
	// Structures it cannot follow fail to parse at all.
	for name, sig := range map[string][]byte{
		"empty":            nil,
		"no sequence tag":  with(strict, 0, 0x31),
		"R past the end":   build([]byte{0}, []byte{2, 99}, r, nil, nil, nil),
		"missing S tag":    build([]byte{0}, []byte{2, byte(len(r))}, r, []byte{3, byte(len(s))}, s, nil),
		"huge long length": build([]byte{0}, []byte{2, 0x84, 1, 0, 0, 0}, r, nil, nil, nil),
	} {
		if _, ok := ParseDERLax(sig); ok {
			t.Errorf("%s: parsed", name)
		}
	}
	// R of 33 significant bytes parses but cannot verify.
	big := build([]byte{0}, []byte{2, 33}, bytes.Repeat([]byte{1}, 33), []byte{2, byte(len(s))}, s, nil)
	if sig, ok := ParseDERLax(big); !ok || sig.Verify(key.PublicKey(), hash) {
		t.Error("overflowing R: want parsed but invalid")
	}
}

func FuzzParseDERLax(f *testing.F) {
	key := testKey(f, 9)
	f.Add(key.Sign(sha256.Sum256([]byte("seed"))))
	f.Fuzz(func(t *testing.T, der []byte) {
		sig, ok := ParseDERLax(der)
		if !ok {
			return
		}
		// Anything strict DER accepts, the lax parser reads the same way.
		if IsStrictDER(append(bytes.Clone(der), 1)) {
			want, err := ecdsa.ParseDERSignature(der)
			if err == nil && (want.R() != sig.r || want.S() != sig.s) {
				t.Fatalf("lax and strict parsers disagree on %x", der)
			}
		}
	})
}
