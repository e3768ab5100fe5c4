package secpdiff

import (
	"bytes"
	"math/big"
	"strings"
	"testing"

	"github.com/renga-p2p/renga/crypto/secp"
)

var (
	orderN  = hexInt("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	primeP  = hexInt("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f")
	halfN   = new(big.Int).Rsh(orderN, 1)
	twoTo32 = new(big.Int).Lsh(big.NewInt(1), 32)
)

func hexInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("bad constant " + s)
	}
	return v
}

// verdict runs every verifier on one input and fails the test if any two
// disagree; it returns their common answer.
func verdict(t testing.TB, what string, key, der []byte, hash [32]byte) bool {
	t.Helper()
	vs := secp.Verifiers()
	first := vs[0].Verify(key, der, hash)
	for _, v := range vs[1:] {
		if got := v.Verify(key, der, hash); got != first {
			t.Fatalf("%s: %s says %v, %s says %v\nkey  %x\nsig  %x\nhash %x",
				what, vs[0].Name, first, v.Name, got, key, der, hash)
		}
	}
	if got := secp.Verify(key, der, hash); got != first {
		t.Fatalf("%s: secp.Verify says %v, the verifiers %v", what, got, first)
	}
	return first
}

// expect is verdict with a known answer.
func expect(t testing.TB, what string, key, der []byte, hash [32]byte, want bool) {
	t.Helper()
	if got := verdict(t, what, key, der, hash); got != want {
		t.Fatalf("%s: every verifier says %v, want %v\nkey  %x\nsig  %x\nhash %x", what, got, want, key, der, hash)
	}
}

func verifierNames() string {
	var names []string
	for _, v := range secp.Verifiers() {
		names = append(names, v.Name)
	}
	return strings.Join(names, ", ")
}

// splitDER reads R and S from a strict DER signature (no sighash byte).
func splitDER(der []byte) (r, s *big.Int, ok bool) {
	if len(der) < 8 || der[0] != 0x30 || der[2] != 2 {
		return nil, nil, false
	}
	lr := int(der[3])
	if 4+lr+2 > len(der) || der[4+lr] != 2 {
		return nil, nil, false
	}
	ls := int(der[5+lr])
	if 6+lr+ls != len(der) {
		return nil, nil, false
	}
	return new(big.Int).SetBytes(der[4 : 4+lr]), new(big.Int).SetBytes(der[6+lr:]), true
}

// derForm says how encodeDER writes a signature; the zero value is strict DER.
type derForm struct {
	padR, padS   int    // extra leading zero bytes (lax)
	longR, longS bool   // long-form lengths 0x82 0x00 len (lax)
	longSeq      bool   // long-form sequence length (lax)
	noSignZero   bool   // no 0x00 before a high bit: a "negative" integer (lax)
	tail         []byte // bytes after S (lax)
}

// encodeDER writes (r, s), which may be any non-negative integers, as DER in
// the given form. Lengths of 0x80 and more always use the long form: the lax
// parser reads a short length byte with its high bit set as a long form.
func encodeDER(r, s *big.Int, f derForm) []byte {
	integer := func(v *big.Int, pad int, long bool) []byte {
		b := v.Bytes()
		if !f.noSignZero && (len(b) == 0 || b[0]&0x80 != 0) {
			b = append([]byte{0}, b...)
		}
		b = append(make([]byte, pad), b...)
		out := []byte{2}
		switch {
		case long:
			out = append(out, 0x82, byte(len(b)>>8), byte(len(b)))
		case len(b) >= 0x80:
			out = append(out, 0x81, byte(len(b)))
		default:
			out = append(out, byte(len(b)))
		}
		return append(out, b...)
	}
	body := append(integer(r, f.padR, f.longR), integer(s, f.padS, f.longS)...)
	body = append(body, f.tail...)
	out := []byte{0x30}
	if f.longSeq || len(body) >= 0x80 {
		out = append(out, 0x82, byte(len(body)>>8), byte(len(body)))
	} else {
		out = append(out, byte(len(body)))
	}
	return append(out, body...)
}

// hybrid turns an uncompressed key into its hybrid form (06 even y, 07 odd).
func hybrid(uncompressed []byte) []byte {
	h := bytes.Clone(uncompressed)
	h[0] = 6 | h[64]&1
	return h
}

func coord(v *big.Int) []byte {
	var b [32]byte
	return v.FillBytes(b[:])
}
