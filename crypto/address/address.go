// Package address turns public keys into Bitcoin's P2PKH addresses and back:
// hash160 (RIPEMD-160 of SHA-256), base58check, and the version byte that
// tells networks apart (0x00 on mainnet, 0x6f on regtest and testnet, Renga's
// own on devnet). Scripts themselves are the chain package's business; this
// package knows only the 20-byte hash an address carries.
package address

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	"github.com/renga-p2p/renga/crypto/ripemd160"
)

// Errors from decoding.
var (
	ErrBase58   = errors.New("address: invalid base58")
	ErrChecksum = errors.New("address: checksum mismatch")
	ErrFormat   = errors.New("address: not a P2PKH address")
	ErrNetwork  = errors.New("address: address of another network")
)

// Hash160 is RIPEMD-160(SHA-256(b)): the hash in a P2PKH script and address.
func Hash160(b []byte) [20]byte {
	s := sha256.Sum256(b)
	return ripemd160.Sum(s[:])
}

const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var alphabetIndex = func() (idx [256]int8) {
	for i := range idx {
		idx[i] = -1
	}
	for i, c := range alphabet {
		idx[c] = int8(i)
	}
	return idx
}()

// EncodeBase58 encodes b in Bitcoin's base58 alphabet; each leading zero byte
// becomes a '1'.
func EncodeBase58(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	n := new(big.Int).SetBytes(b)
	var out []byte
	base, mod := big.NewInt(58), new(big.Int)
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		out = append(out, alphabet[mod.Int64()])
	}
	for range zeros {
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// DecodeBase58 decodes a base58 string.
func DecodeBase58(s string) ([]byte, error) {
	n := new(big.Int)
	base := big.NewInt(58)
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	for i := 0; i < len(s); i++ {
		v := alphabetIndex[s[i]]
		if v < 0 {
			return nil, fmt.Errorf("%w: character %q at %d", ErrBase58, s[i], i)
		}
		n.Mul(n, base).Add(n, big.NewInt(int64(v)))
	}
	return append(make([]byte, zeros), n.Bytes()...), nil
}

// EncodeCheck appends a 4-byte SHA-256d checksum to version||payload and
// encodes the result in base58.
func EncodeCheck(version byte, payload []byte) string {
	b := append([]byte{version}, payload...)
	return EncodeBase58(append(b, checksum(b)...))
}

// DecodeCheck decodes a base58check string into its version and payload.
func DecodeCheck(s string) (version byte, payload []byte, err error) {
	b, err := DecodeBase58(s)
	if err != nil {
		return 0, nil, err
	}
	if len(b) < 5 {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrChecksum, len(b))
	}
	body, sum := b[:len(b)-4], b[len(b)-4:]
	if string(checksum(body)) != string(sum) {
		return 0, nil, ErrChecksum
	}
	return body[0], body[1:], nil
}

func checksum(b []byte) []byte {
	first := sha256.Sum256(b)
	second := sha256.Sum256(first[:])
	return second[:4]
}

// P2PKH is a pay-to-public-key-hash address on one network.
type P2PKH struct {
	Version byte     // the network's P2PKH version byte
	Hash    [20]byte // hash160 of the public key
}

// FromPublicKey returns the address of a serialized public key (the exact
// bytes that will appear in the spending script: compressed or not).
func FromPublicKey(version byte, pubKey []byte) P2PKH {
	return P2PKH{Version: version, Hash: Hash160(pubKey)}
}

// String returns the base58check form.
func (a P2PKH) String() string { return EncodeCheck(a.Version, a.Hash[:]) }

// ParseP2PKH decodes a P2PKH address and checks that it belongs to the network
// with the given version byte.
func ParseP2PKH(s string, version byte) (P2PKH, error) {
	v, payload, err := DecodeCheck(s)
	if err != nil {
		return P2PKH{}, fmt.Errorf("address %q: %w", s, err)
	}
	if len(payload) != 20 {
		return P2PKH{}, fmt.Errorf("address %q: %w: %d-byte payload", s, ErrFormat, len(payload))
	}
	if v != version {
		return P2PKH{}, fmt.Errorf("address %q: %w: version byte %#02x, want %#02x", s, ErrNetwork, v, version)
	}
	return P2PKH{Version: v, Hash: [20]byte(payload)}, nil
}
