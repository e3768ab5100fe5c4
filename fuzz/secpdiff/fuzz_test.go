package secpdiff

import (
	"bytes"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/renga-p2p/renga/crypto/secp"
)

// A mutation turns a good (key, signature, hash) into a test input and says
// what every verifier must answer: valid, invalid, or either (only agreement
// is demanded).
type mutation struct {
	name   string
	apply  func(in *fuzzInput, arg []byte)
	expect outcome
}

type outcome int

const (
	either outcome = iota
	valid
	invalid
)

type fuzzInput struct {
	key, der []byte
	hash     [32]byte
	r, s     *big.Int // the good signature's values
	unc      []byte   // the key, uncompressed
}

// argInt reads up to 40 bytes of arg as a big-endian integer.
func argInt(arg []byte) *big.Int {
	return new(big.Int).SetBytes(arg[:min(len(arg), 40)])
}

func argByte(arg []byte, i int) int {
	if i < len(arg) {
		return int(arg[i])
	}
	return 0
}

func add(a, b *big.Int) *big.Int { return new(big.Int).Add(a, b) }
func sub(a, b *big.Int) *big.Int { return new(big.Int).Sub(a, b) }

// mutations are the ways a signature or key can go wrong, or be encoded
// oddly but validly, that matter to consensus; the last few hand the fuzzer's
// bytes over raw.
var mutations = []mutation{
	{"none", func(*fuzzInput, []byte) {}, valid},
	{"high S", func(in *fuzzInput, _ []byte) { in.der = encodeDER(in.r, sub(orderN, in.s), derForm{}) }, valid},
	{"R zero", func(in *fuzzInput, _ []byte) { in.der = encodeDER(new(big.Int), in.s, derForm{}) }, invalid},
	{"S zero", func(in *fuzzInput, _ []byte) { in.der = encodeDER(in.r, new(big.Int), derForm{}) }, invalid},
	{"R = n", func(in *fuzzInput, _ []byte) { in.der = encodeDER(orderN, in.s, derForm{}) }, invalid},
	{"S = n", func(in *fuzzInput, _ []byte) { in.der = encodeDER(in.r, orderN, derForm{}) }, invalid},
	{"R + n", func(in *fuzzInput, _ []byte) { in.der = encodeDER(add(in.r, orderN), in.s, derForm{}) }, invalid},
	{"S + n", func(in *fuzzInput, _ []byte) { in.der = encodeDER(in.r, add(in.s, orderN), derForm{}) }, invalid},
	{"high S + n", func(in *fuzzInput, _ []byte) { in.der = encodeDER(in.r, sub(add(orderN, orderN), in.s), derForm{}) }, invalid},
	{"R from arg", func(in *fuzzInput, arg []byte) { in.der = encodeDER(argInt(arg), in.s, derForm{}) }, either},
	{"S from arg", func(in *fuzzInput, arg []byte) { in.der = encodeDER(in.r, argInt(arg), derForm{}) }, either},
	{"R = n - arg", func(in *fuzzInput, arg []byte) {
		in.der = encodeDER(sub(orderN, new(big.Int).SetBytes(arg[:min(len(arg), 4)])), in.s, derForm{})
	}, either},
	{"S = n/2 + arg - 128", func(in *fuzzInput, arg []byte) {
		in.der = encodeDER(in.r, add(halfN, big.NewInt(int64(argByte(arg, 0))-128)), derForm{})
	}, either},
	{"R of 33 bytes", func(in *fuzzInput, arg []byte) {
		in.der = encodeDER(add(new(big.Int).Lsh(big.NewInt(int64(argByte(arg, 0)|1)), 256), in.r), in.s, derForm{})
	}, invalid},
	{"lax: padding", func(in *fuzzInput, arg []byte) {
		in.der = encodeDER(in.r, in.s, derForm{padR: argByte(arg, 0) % 64, padS: argByte(arg, 1) % 64})
	}, valid},
	{"lax: long forms", func(in *fuzzInput, arg []byte) {
		b := argByte(arg, 0)
		in.der = encodeDER(in.r, in.s, derForm{longR: b&1 != 0, longS: b&2 != 0, longSeq: b&4 != 0})
	}, valid},
	{"lax: no sign zero", func(in *fuzzInput, _ []byte) { in.der = encodeDER(in.r, in.s, derForm{noSignZero: true}) }, valid},
	{"lax: garbage after S", func(in *fuzzInput, arg []byte) {
		in.der = encodeDER(in.r, in.s, derForm{tail: arg})
	}, valid},
	{"lax: everything, high S", func(in *fuzzInput, arg []byte) {
		in.der = encodeDER(in.r, sub(orderN, in.s), derForm{padR: argByte(arg, 0) % 8, longS: true, longSeq: true, noSignZero: true, tail: arg})
	}, valid},
	{"sequence length byte", func(in *fuzzInput, arg []byte) { in.der[1] = byte(argByte(arg, 0)) }, either},
	{"DER bit flip", func(in *fuzzInput, arg []byte) {
		i := (argByte(arg, 0)<<8 | argByte(arg, 1)) % (8 * len(in.der))
		in.der[i/8] ^= 1 << (i % 8)
	}, either},
	{"DER truncated", func(in *fuzzInput, arg []byte) { in.der = in.der[:argByte(arg, 0)%len(in.der)] }, invalid},
	{"DER splice", func(in *fuzzInput, arg []byte) {
		i, j := argByte(arg, 0)%(len(in.der)+1), argByte(arg, 1)%(len(in.der)+1)
		if i > j {
			i, j = j, i
		}
		in.der = append(append(bytes.Clone(in.der[:i]), arg[min(len(arg), 2):]...), in.der[j:]...)
	}, either},
	{"hash bit flip", func(in *fuzzInput, arg []byte) {
		i := argByte(arg, 0)
		in.hash[i/8%32] ^= 1 << (i % 8)
	}, invalid},
	{"other key", func(in *fuzzInput, arg []byte) {
		seed := sha256.Sum256(append([]byte("other"), arg...))
		if k, err := secp.ParsePrivateKey(seed[:]); err == nil {
			in.key = k.PublicKey().Compressed()
		}
	}, invalid},
	{"key prefix from arg", func(in *fuzzInput, arg []byte) { in.key[0] = byte(argByte(arg, 0)) }, either},
	{"key bit flip", func(in *fuzzInput, arg []byte) {
		i := (argByte(arg, 0)<<8 | argByte(arg, 1)) % (8 * len(in.key))
		in.key[i/8] ^= 1 << (i % 8)
	}, either},
	{"key truncated or extended", func(in *fuzzInput, arg []byte) {
		if n := argByte(arg, 0) % 80; n < len(in.key) {
			in.key = in.key[:n]
		} else {
			in.key = append(in.key, make([]byte, n-len(in.key))...)
		}
	}, either},
	{"key x from arg", func(in *fuzzInput, arg []byte) {
		copy(in.key[1:33], coord(new(big.Int).Mod(argInt(arg), new(big.Int).Lsh(big.NewInt(1), 256))))
	}, either},
	{"key x + p", func(in *fuzzInput, arg []byte) {
		// Any x below 2^32+977 has an alias x+p that fits in 32 bytes.
		x := new(big.Int).Mod(argInt(arg), twoTo32)
		copy(in.key[1:33], coord(add(x, primeP)))
	}, invalid},
	{"key y ≥ p", func(in *fuzzInput, arg []byte) {
		in.key = append([]byte{4}, in.unc[1:33]...)
		in.key = append(in.key, coord(add(new(big.Int).Mod(argInt(arg), twoTo32), primeP))...)
	}, invalid},
	{"hybrid, wrong parity", func(in *fuzzInput, _ []byte) {
		in.key = hybrid(in.unc)
		in.key[0] ^= 1
	}, invalid},
	{"uncompressed, y negated", func(in *fuzzInput, _ []byte) {
		y := new(big.Int).SetBytes(in.unc[33:])
		in.key = append(append([]byte{4}, in.unc[1:33]...), coord(sub(primeP, y))...)
	}, invalid},
	{"raw DER", func(in *fuzzInput, arg []byte) { in.der = arg }, either},
	{"raw key", func(in *fuzzInput, arg []byte) { in.key = arg }, either},
	{"raw key and DER", func(in *fuzzInput, arg []byte) {
		h := len(arg) / 2
		in.key, in.der = arg[:h], arg[h:]
	}, either},
}

// FuzzVerifyDiff signs sha256(msg) with the key sha256(keySeed), picks a key
// form (compressed, uncompressed, hybrid) and a mutation from op, applies it
// with the fuzzer's arg bytes, and demands the same verdict from every
// verifier — and, for mutations whose verdict is known, that verdict.
//
//	cd fuzz && go test ./secpdiff -run '^$' -fuzz FuzzVerifyDiff -fuzztime 10m
func FuzzVerifyDiff(f *testing.F) {
	for i := range mutations {
		f.Add([]byte("key"), []byte("message"), uint8(i), []byte{byte(i), 0x80, 0xff, 0x01, 0x00})
		f.Add([]byte{byte(i)}, []byte{}, uint8(i|0x40), []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
		f.Add([]byte{byte(i), 1}, []byte("hybrid"), uint8(i|0x80), []byte{0x06})
	}
	f.Fuzz(func(t *testing.T, keySeed, msg []byte, op uint8, arg []byte) {
		if vs := secp.Verifiers(); len(vs) < 2 {
			t.Skipf("only %s in this build: nothing to compare (build with cgo and libsecp256k1)", vs[0].Name)
		}
		seed := sha256.Sum256(keySeed)
		priv, err := secp.ParsePrivateKey(seed[:])
		if err != nil {
			return // a hash at or above n: not a key (probability 2^-128)
		}
		in := fuzzInput{hash: sha256.Sum256(msg), unc: priv.PublicKey().Uncompressed()}
		in.der = priv.Sign(in.hash)
		var ok bool
		if in.r, in.s, ok = splitDER(in.der); !ok {
			t.Fatalf("Sign gave non-DER %x", in.der)
		}
		switch op >> 6 {
		case 1:
			in.key = bytes.Clone(in.unc)
		case 2:
			in.key = hybrid(in.unc)
		default:
			in.key = priv.PublicKey().Compressed()
		}
		m := mutations[int(op&0x3f)%len(mutations)]
		m.apply(&in, bytes.Clone(arg))
		got := verdict(t, m.name, in.key, in.der, in.hash)
		if (m.expect == valid && !got) || (m.expect == invalid && got) {
			t.Fatalf("%s: every verifier says %v\nkey  %x\nsig  %x\nhash %x", m.name, got, in.key, in.der, in.hash)
		}
	})
}
