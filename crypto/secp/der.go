package secp

import "github.com/decred/dcrd/dcrec/secp256k1/v4"

// IsStrictDER reports whether sig (a signature followed by its one-byte
// sighash type, as it appears in a script) is strict DER as BIP66 defines it:
//
//	0x30 [total-length] 0x02 [R-length] [R] 0x02 [S-length] [S] [sighash-type]
//
// with minimal lengths, positive integers without unnecessary leading zeros,
// and nothing else. This is Bitcoin Core's IsValidSignatureEncoding.
func IsStrictDER(sig []byte) bool {
	// Minimum and maximum size: 9 bytes with one-byte R and S, 73 with 33-byte ones.
	if len(sig) < 9 || len(sig) > 73 {
		return false
	}
	if sig[0] != 0x30 || int(sig[1]) != len(sig)-3 {
		return false
	}
	lenR := int(sig[3])
	if 5+lenR >= len(sig) {
		return false
	}
	lenS := int(sig[5+lenR])
	if lenR+lenS+7 != len(sig) {
		return false
	}
	// R: an integer, not empty, not negative, no needless leading zero.
	if sig[2] != 0x02 || lenR == 0 || sig[4]&0x80 != 0 {
		return false
	}
	if lenR > 1 && sig[4] == 0 && sig[5]&0x80 == 0 {
		return false
	}
	// S: the same.
	if sig[lenR+4] != 0x02 || lenS == 0 || sig[lenR+6]&0x80 != 0 {
		return false
	}
	if lenS > 1 && sig[lenR+6] == 0 && sig[lenR+7]&0x80 == 0 {
		return false
	}
	return true
}

// Signature is a parsed ECDSA signature (R, S). The zero Signature never verifies.
type Signature struct {
	r, s secp256k1.ModNScalar
}

// ParseDERLax parses a DER signature (without sighash byte) the way Bitcoin Core
// does for consensus (ecdsa_signature_parse_der_lax): it tolerates negative
// integers, excess padding, long-form lengths and garbage after the end, all of
// which occur in blocks before BIP66. It fails only when the structure cannot be
// followed; R or S of more than 32 significant bytes or not below the group
// order give a signature that parses but never verifies, as in Core.
func ParseDERLax(der []byte) (Signature, bool) {
	pos := 0
	n := len(der)
	// Sequence tag and length (the length is skipped, not checked).
	if pos == n || der[pos] != 0x30 {
		return Signature{}, false
	}
	pos++
	if pos == n {
		return Signature{}, false
	}
	if l := int(der[pos]); l&0x80 != 0 {
		pos++
		if l-0x80 > n-pos {
			return Signature{}, false
		}
		pos += l - 0x80
	} else {
		pos++
	}
	rpos, rlen, ok := laxInteger(der, &pos)
	if !ok {
		return Signature{}, false
	}
	spos, slen, ok := laxInteger(der, &pos)
	if !ok {
		return Signature{}, false
	}
	var sig Signature
	if !laxScalar(&sig.r, der[rpos:rpos+rlen]) || !laxScalar(&sig.s, der[spos:spos+slen]) {
		return Signature{}, true // parsed, but a value overflowed: invalid signature
	}
	return sig, true
}

// laxInteger reads an INTEGER header at der[*pos:] and returns where its value
// starts and how long it is.
func laxInteger(der []byte, pos *int) (start, length int, ok bool) {
	n := len(der)
	p := *pos
	if p == n || der[p] != 0x02 {
		return 0, 0, false
	}
	p++
	if p == n {
		return 0, 0, false
	}
	l := int(der[p])
	p++
	if l&0x80 != 0 {
		// Long form: l-0x80 bytes of length, big-endian, leading zeros ignored.
		lenBytes := l - 0x80
		if lenBytes > n-p {
			return 0, 0, false
		}
		for lenBytes > 0 && der[p] == 0 {
			p++
			lenBytes--
		}
		if lenBytes >= 4 {
			return 0, 0, false
		}
		l = 0
		for ; lenBytes > 0; lenBytes-- {
			l = l<<8 | int(der[p])
			p++
		}
	}
	if l > n-p {
		return 0, 0, false
	}
	*pos = p + l
	return p, l, true
}

// laxScalar sets s from a big-endian integer with any number of leading zeros;
// false if it has more than 32 significant bytes or is not below the order.
func laxScalar(s *secp256k1.ModNScalar, b []byte) bool {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > 32 {
		return false
	}
	var buf [32]byte
	copy(buf[32-len(b):], b)
	return s.SetBytes(&buf) == 0
}

// IsLowS reports whether a DER signature (without sighash byte) has S in the
// lower half of the order, as BIP62/BIP146 relay policy requires. A signature
// that does not parse is not low-S.
func IsLowS(der []byte) bool {
	sig, ok := ParseDERLax(der)
	return ok && !sig.s.IsZero() && !sig.s.IsOverHalfOrder()
}
