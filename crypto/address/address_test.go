package address

import (
	"encoding/hex"
	"errors"
	"testing"
)

func TestGenesisAddress(t *testing.T) {
	// The key of the genesis coinbase output pays to Satoshi's famous address.
	pub, _ := hex.DecodeString("04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb6" +
		"49f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f")
	a := FromPublicKey(0x00, pub)
	if a.String() != "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa" {
		t.Fatalf("address = %s", a)
	}
	if hex.EncodeToString(a.Hash[:]) != "62e907b15cbf27d5425399ebf6f0fb50ebb88f18" {
		t.Fatalf("hash160 = %x", a.Hash)
	}
	back, err := ParseP2PKH(a.String(), 0x00)
	if err != nil || back != a {
		t.Fatalf("round trip: %v %v", back, err)
	}
}

func TestBase58(t *testing.T) {
	tests := []struct{ hex, b58 string }{
		{"", ""},
		{"61", "2g"},
		{"626262", "a3gV"},
		{"636363", "aPEr"},
		{"00000000000000000000", "1111111111"},
		{"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
		{"516b6fcd0f", "ABnLTmg"},
		{"bf4f89001e670274dd", "3SEo3LWLoPntC"},
		{"572e4794", "3EFU7m"},
		{"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
		{"10c8511e", "Rt5zm"},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		if got := EncodeBase58(b); got != tt.b58 {
			t.Errorf("Encode(%s) = %s, want %s", tt.hex, got, tt.b58)
		}
		back, err := DecodeBase58(tt.b58)
		if err != nil || hex.EncodeToString(back) != tt.hex {
			t.Errorf("Decode(%s) = %x, %v", tt.b58, back, err)
		}
	}
	if _, err := DecodeBase58("0OIl"); !errors.Is(err, ErrBase58) {
		t.Errorf("invalid characters: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	good := FromPublicKey(0x6f, []byte{2, 3, 4}).String()
	if _, err := ParseP2PKH(good, 0x00); !errors.Is(err, ErrNetwork) {
		t.Errorf("regtest address on mainnet: %v", err)
	}
	bad := []byte(good)
	bad[len(bad)-1] ^= 1
	if bad[len(bad)-1] == '0' || bad[len(bad)-1] == 'O' || bad[len(bad)-1] == 'I' || bad[len(bad)-1] == 'l' {
		bad[len(bad)-1] = 'z'
	}
	if _, err := ParseP2PKH(string(bad), 0x6f); !errors.Is(err, ErrChecksum) {
		t.Errorf("corrupted address: %v", err)
	}
	if _, err := ParseP2PKH(EncodeCheck(0x6f, make([]byte, 21)), 0x6f); !errors.Is(err, ErrFormat) {
		t.Errorf("21-byte payload: %v", err)
	}
}
