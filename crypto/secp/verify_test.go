package secp

import (
	"bytes"
	"crypto/sha256"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

var (
	orderN   = hexInt("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	primeP   = hexInt("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f")
	halfN    = new(big.Int).Rsh(orderN, 1)
	bigOne   = big.NewInt(1)
	curveB   = big.NewInt(7)
	bigThree = big.NewInt(3)
)

func hexInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("bad constant " + s)
	}
	return v
}

func TestVerifierTable(t *testing.T) {
	var names []string
	for _, v := range Verifiers() {
		names = append(names, v.Name)
	}
	if got := strings.Join(names, " "); got != wantVerifiers {
		t.Fatalf("Verifiers() = %q, want %q in this build", got, wantVerifiers)
	}
	if got, want := DefaultVerifier().Name, names[len(names)-1]; got != want {
		t.Fatalf("DefaultVerifier() = %s, want the last of the table, %s", got, want)
	}
	// The table is the package's: a caller's change does not reach it.
	Verifiers()[0].Name = "changed"
	if Verifiers()[0].Name != "dcrd" {
		t.Fatal("Verifiers returned the package's own slice")
	}
}

// sigRS splits a strict DER signature (no sighash byte) made by Sign.
func sigRS(t testing.TB, der []byte) (r, s *big.Int) {
	t.Helper()
	sig, ok := ParseDERLax(der)
	if !ok {
		t.Fatalf("own signature %x does not parse", der)
	}
	rb, sb := sig.r.Bytes(), sig.s.Bytes()
	return new(big.Int).SetBytes(rb[:]), new(big.Int).SetBytes(sb[:])
}

// derInts writes strict DER with R and S as the minimal positive encodings of
// any non-negative integers, even those past the order.
func derInts(r, s *big.Int) []byte {
	integer := func(v *big.Int) []byte {
		b := v.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{2, byte(len(b))}, b...)
	}
	body := append(integer(r), integer(s)...)
	return append([]byte{0x30, byte(len(body))}, body...)
}

func coord(v *big.Int) []byte {
	var b [32]byte
	return v.FillBytes(b[:])
}

// onCurveX returns the smallest x ≥ start with x³+7 a square mod p, and y.
func onCurveX(start int64) (x, y *big.Int) {
	for x = big.NewInt(start); ; x.Add(x, bigOne) {
		rhs := new(big.Int).Exp(x, bigThree, primeP)
		rhs.Add(rhs, curveB).Mod(rhs, primeP)
		if y = new(big.Int).ModSqrt(rhs, primeP); y != nil {
			return x, y
		}
	}
}

// smallYPoint returns a point with a small y, so that y+p fits in 32 bytes:
// x is a cube root of y²-7, which for p ≡ 7 (mod 9) is (y²-7)^((p+2)/9)
// whenever y²-7 is a cube.
func smallYPoint() (x, y *big.Int) {
	exp := new(big.Int).Add(primeP, big.NewInt(2))
	exp.Div(exp, big.NewInt(9))
	for y = big.NewInt(1); ; y.Add(y, bigOne) {
		a := new(big.Int).Mul(y, y)
		a.Sub(a, curveB).Mod(a, primeP)
		x = new(big.Int).Exp(a, exp, primeP)
		if new(big.Int).Exp(x, bigThree, primeP).Cmp(a) == 0 {
			return x, y
		}
	}
}

// notOnCurveX returns the smallest x ≥ start with no point on the curve.
func notOnCurveX(start int64) *big.Int {
	for x := big.NewInt(start); ; x.Add(x, bigOne) {
		rhs := new(big.Int).Exp(x, bigThree, primeP)
		rhs.Add(rhs, curveB).Mod(rhs, primeP)
		if rhs.ModSqrt(rhs, primeP) == nil {
			return x
		}
	}
}

type verifyCase struct {
	name string
	key  []byte
	der  []byte
	hash [32]byte
	want bool
}

// edgeCases are the inputs where the libraries' parsers and rules could part
// ways: each must come out the same from every verifier, and as Core decides.
func edgeCases(t testing.TB) []verifyCase {
	key := testKey(t, 20)
	pub := key.PublicKey()
	hash := sha256.Sum256([]byte("edges"))
	der := key.Sign(hash)
	r, s := sigRS(t, der)
	comp, unc := pub.Compressed(), pub.Uncompressed()
	hybrid := bytes.Clone(unc)
	hybrid[0] = 6 | unc[64]&1
	other := hash
	other[31] ^= 1
	x, y := new(big.Int).SetBytes(unc[1:33]), new(big.Int).SetBytes(unc[33:])
	// A point with a small x: x+p fits in 32 bytes and would alias it if a
	// parser reduced instead of rejecting.
	sx, sy := onCurveX(1)
	aliasX := new(big.Int).Add(sx, primeP)
	tx, ty := smallYPoint()
	aliasY := new(big.Int).Add(ty, primeP)
	negS := new(big.Int).Sub(orderN, s)
	uncWith := func(prefix byte, x, y *big.Int) []byte {
		return append(append([]byte{prefix}, coord(x)...), coord(y)...)
	}
	compWith := func(prefix byte, x *big.Int) []byte { return append([]byte{prefix}, coord(x)...) }
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	yParity := byte(y.Bit(0))
	return []verifyCase{
		{"compressed", comp, der, hash, true},
		{"uncompressed", unc, der, hash, true},
		{"hybrid", hybrid, der, hash, true},
		{"hybrid, wrong parity", flip(hybrid, 0), der, hash, false},
		{"compressed, wrong parity", flip(comp, 0), der, hash, false},
		{"wrong hash", comp, der, other, false},
		{"wrong key", testKey(t, 21).PublicKey().Compressed(), der, hash, false},
		{"high S", comp, derInts(r, negS), hash, true},
		{"high S, hybrid", hybrid, derInts(r, negS), hash, true},
		{"S = n/2", comp, derInts(r, halfN), hash, false},
		{"S = n/2 + 1", comp, derInts(r, new(big.Int).Add(halfN, bigOne)), hash, false},
		{"R zero", comp, derInts(new(big.Int), s), hash, false},
		{"S zero", comp, derInts(r, new(big.Int)), hash, false},
		{"both zero", comp, derInts(new(big.Int), new(big.Int)), hash, false},
		{"R = n", comp, derInts(orderN, s), hash, false},
		{"S = n", comp, derInts(r, orderN), hash, false},
		{"R + n (same residue)", comp, derInts(new(big.Int).Add(r, orderN), s), hash, false},
		{"S + n (same residue)", comp, derInts(r, new(big.Int).Add(s, orderN)), hash, false},
		{"S = n - 1", comp, derInts(r, new(big.Int).Sub(orderN, bigOne)), hash, false},
		{"R = 2^256 - 1", comp, derInts(new(big.Int).Sub(new(big.Int).Lsh(bigOne, 256), bigOne), s), hash, false},
		{"R of 33 bytes", comp, derInts(new(big.Int).Lsh(r, 8), s), hash, false},
		{"R padded (lax)", comp, laxPadR(der), hash, true},
		{"R without its sign zero (lax)", comp, derNoSignZero(r, s), hash, true},
		{"garbage after S (lax)", comp, append(bytes.Clone(der), 0xde, 0xad), hash, true},
		{"truncated DER", comp, der[:len(der)-1], hash, false},
		{"empty DER", comp, nil, hash, false},
		{"empty key", nil, der, hash, false},
		{"prefix 05", append([]byte{5}, unc[1:]...), der, hash, false},
		{"prefix 00", append([]byte{0}, comp[1:]...), der, hash, false},
		{"04 with 33 bytes", append([]byte{4}, comp[1:]...), der, hash, false},
		{"02 with 65 bytes", append([]byte{2}, unc[1:]...), der, hash, false},
		{"06 with 33 bytes", append([]byte{6}, comp[1:]...), der, hash, false},
		{"64 bytes, no prefix", unc[1:], der, hash, false},
		{"compressed, extra byte", append(bytes.Clone(comp), 0), der, hash, false},
		{"uncompressed, y off by one", uncWith(4, x, new(big.Int).Add(y, bigOne)), der, hash, false},
		{"x = p", compWith(2, primeP), der, hash, false},
		{"x = p + small x (alias)", compWith(2|yParity, aliasX), der, hash, false},
		{"x = 2^256 - 1", compWith(2, new(big.Int).Sub(new(big.Int).Lsh(bigOne, 256), bigOne)), der, hash, false},
		{"uncompressed, x = p + small x", uncWith(4, aliasX, sy), der, hash, false},
		{"uncompressed, y = p + small y (alias)", uncWith(4, tx, aliasY), der, hash, false},
		{"hybrid, y = p + small y (alias)", uncWith(6|byte(aliasY.Bit(0)), tx, aliasY), der, hash, false},
		{"hybrid, y = p + small y, y's parity", uncWith(6|byte(ty.Bit(0)), tx, aliasY), der, hash, false},
		{"y = p", uncWith(4, x, primeP), der, hash, false},
		{"small x, on the curve", uncWith(4, sx, sy), der, hash, false},
		{"small y, on the curve", uncWith(4, tx, ty), der, hash, false},
		{"x not on the curve", compWith(2, notOnCurveX(1)), der, hash, false},
		{"zero key", make([]byte, 65), der, hash, false},
		{"uncompressed all zero after 04", append([]byte{4}, make([]byte, 64)...), der, hash, false},
	}
}

// laxPadR gives R two needless leading zeros: invalid strict DER, valid lax.
func laxPadR(der []byte) []byte {
	lenR := int(der[3])
	out := []byte{0x30, der[1] + 2, 0x02, byte(lenR + 2), 0, 0}
	return append(out, der[4:]...)
}

// derNoSignZero writes R and S without the zero byte DER needs before a high
// bit (a "negative" integer); the lax parser reads the magnitude regardless.
func derNoSignZero(r, s *big.Int) []byte {
	rb, sb := r.Bytes(), s.Bytes()
	body := append(append([]byte{2, byte(len(rb))}, rb...), append([]byte{2, byte(len(sb))}, sb...)...)
	return append([]byte{0x30, byte(len(body))}, body...)
}

func TestVerifiersOnEdges(t *testing.T) {
	for _, c := range edgeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if got := Verify(c.key, c.der, c.hash); got != c.want {
				t.Errorf("Verify = %v, want %v (key %x, sig %x)", got, c.want, c.key, c.der)
			}
			for _, v := range Verifiers() {
				if got := v.Verify(c.key, c.der, c.hash); got != c.want {
					t.Errorf("%s: %v, want %v (key %x, sig %x)", v.Name, got, c.want, c.key, c.der)
				}
			}
			// ParsePublicKey accepts exactly the keys that can verify.
			if _, err := ParsePublicKey(c.key); c.want && err != nil {
				t.Errorf("ParsePublicKey rejects a key that verifies: %v", err)
			}
		})
	}
}

// TestCurvesBehindTheFrontEnd gives each library's own parser the encodings
// Renga rejects or rewrites before it (hybrid keys, coordinates ≥ p), to show
// that the front end takes nothing away that a library would have accepted:
// the libraries agree with checkKey's verdict even when asked directly.
func TestCurvesBehindTheFrontEnd(t *testing.T) {
	key := testKey(t, 22)
	hash := sha256.Sum256([]byte("direct"))
	sig, ok := ParseDERLax(key.Sign(hash))
	if !ok {
		t.Fatal("own signature does not parse")
	}
	unc := key.PublicKey().Uncompressed()
	sx, sy := onCurveX(1)
	tx, ty := smallYPoint()
	keys := map[string]struct {
		key  []byte
		want bool
	}{
		"hybrid":              {append([]byte{6 | unc[64]&1}, unc[1:]...), true},
		"hybrid, bad parity":  {append([]byte{7 ^ unc[64]&1}, unc[1:]...), false},
		"x + p":               {append(append([]byte{4}, coord(new(big.Int).Add(sx, primeP))...), coord(sy)...), false},
		"y + p":               {append(append([]byte{4}, coord(tx)...), coord(new(big.Int).Add(ty, primeP))...), false},
		"hybrid y + p":        {append(append([]byte{6 | byte(ty.Bit(0))}, coord(tx)...), coord(new(big.Int).Add(ty, primeP))...), false},
		"compressed x + p":    {append([]byte{2 | byte(sy.Bit(0))}, coord(new(big.Int).Add(sx, primeP))...), false},
		"compressed x = p":    {append([]byte{2}, coord(primeP)...), false},
		"uncompressed, valid": {unc, true},
	}
	// The small-y point is on the curve, so its aliases above test reduction.
	if _, err := ParsePublicKey(append(append([]byte{4}, coord(tx)...), coord(ty)...)); err != nil {
		t.Fatalf("the small-y point (%x, %x) is not a valid key: %v", tx, ty, err)
	}
	for name, k := range keys {
		var buf [PubKeySizeUncompressed]byte
		if _, front := checkKey(k.key, &buf); front != k.want {
			t.Errorf("%s: checkKey says %v, want %v", name, front, k.want)
		}
		for _, v := range Verifiers() {
			if got := v.verify(k.key, sig, &hash); got != k.want {
				t.Errorf("%s: %s's own parser says %v, want %v", name, v.Name, got, k.want)
			}
		}
	}
}

// TestVerifiersRandom signs random messages with random keys, mutates each
// signature in the ways that matter and demands the same verdict from every
// verifier, and the right one.
func TestVerifiersRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 {
		key := testKey(t, uint64(100+i))
		var hash [32]byte
		for j := range hash {
			hash[j] = byte(rng.Uint32())
		}
		der := key.Sign(hash)
		r, s := sigRS(t, der)
		pub := key.PublicKey().Compressed()
		bad := hash
		bad[rng.IntN(32)] ^= byte(1 << rng.IntN(8))
		var sb [32]byte
		for j := range sb {
			sb[j] = byte(rng.Uint32())
		}
		randS := new(big.Int).Mod(new(big.Int).SetBytes(sb[:]), orderN)
		cases := []verifyCase{
			{"signed", pub, der, hash, true},
			{"high S", pub, derInts(r, new(big.Int).Sub(orderN, s)), hash, true},
			{"other hash", pub, der, bad, false},
			{"random S", pub, derInts(r, randS), hash, randS.Cmp(s) == 0 || randS.Cmp(new(big.Int).Sub(orderN, s)) == 0},
			{"R + n", pub, derInts(new(big.Int).Add(r, orderN), s), hash, false},
		}
		for _, c := range cases {
			for _, v := range Verifiers() {
				if got := v.Verify(c.key, c.der, c.hash); got != c.want {
					t.Fatalf("key %d, %s: %s says %v, want %v (key %x, sig %x, hash %x)",
						i, c.name, v.Name, got, c.want, c.key, c.der, c.hash)
				}
			}
		}
	}
}

func TestVerifyAllocates(t *testing.T) {
	key := testKey(t, 23)
	hash := sha256.Sum256([]byte("allocs"))
	der := key.Sign(hash)
	for _, form := range []struct {
		name string
		key  []byte
	}{{"compressed", key.PublicKey().Compressed()}, {"hybrid", hybridOf(key.PublicKey())}} {
		if n := testing.AllocsPerRun(20, func() {
			if !Verify(form.key, der, hash) {
				t.Fatal("does not verify")
			}
		}); n > maxVerifyAllocs {
			t.Errorf("%s: Verify allocates %.0f times, want at most %d", form.name, n, maxVerifyAllocs)
		}
	}
}

func hybridOf(k PublicKey) []byte {
	b := k.Uncompressed()
	b[0] = 6 | b[64]&1
	return b
}

// BenchmarkVerify times one verification with each verifier in this binary,
// on the same signature, for both key forms (a compressed key costs a square
// root more). The ratio dcrd/libsecp256k1 is the speed-up of the cgo build:
//
//	go test ./crypto/secp/ -run '^$' -bench Verify -count 6
func BenchmarkVerify(b *testing.B) {
	key := testKey(b, 10)
	hash := sha256.Sum256([]byte("bench"))
	sig := key.Sign(hash)
	for _, v := range Verifiers() {
		for _, form := range []struct {
			name string
			key  []byte
		}{{"compressed", key.PublicKey().Compressed()}, {"uncompressed", key.PublicKey().Uncompressed()}} {
			b.Run(v.Name+"/"+form.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !v.Verify(form.key, sig, hash) {
						b.Fatal("verify failed")
					}
				}
			})
		}
	}
}
