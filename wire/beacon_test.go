package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

func sampleBeacon() *Beacon {
	return &Beacon{
		Query:       true,
		Magic:       testMagic,
		Genesis:     sha256d.Sum([]byte("genesis")),
		Instance:    0x1122334455667788,
		Port:        28333,
		Services:    SFNodeNetwork | SFNodeWitness | SFNodeCompress,
		StartHeight: 1234,
		Time:        1767225600123, // 2026-01-01T00:00:00.123Z
		Sequence:    0x0102030405060708,
	}
}

func TestBeaconRoundTrip(t *testing.T) {
	for _, secret := range [][]byte{nil, []byte("lan secret")} {
		p := AppendBeacon(nil, sampleBeacon(), secret)
		want := 82
		if secret != nil {
			want = 114
		}
		if len(p) != want {
			t.Fatalf("beacon is %d bytes, want %d", len(p), want)
		}
		b, err := DecodeBeacon(p, secret)
		if err != nil || b != *sampleBeacon() {
			t.Fatalf("secret %q: decoded %+v, %v", secret, b, err)
		}
		if again := AppendBeacon(nil, &b, secret); !bytes.Equal(again, p) {
			t.Fatal("re-encoding differs")
		}
		if BeaconSigned(p) != (secret != nil) {
			t.Fatalf("secret %q: BeaconSigned = %v", secret, BeaconSigned(p))
		}
	}
	// A time before 1970 survives (the field is signed).
	b := *sampleBeacon()
	b.Time = -1
	if got, err := DecodeBeacon(AppendBeacon(nil, &b, nil), nil); err != nil || got.Time != -1 {
		t.Fatalf("time -1 decoded as %d, %v", got.Time, err)
	}
}

func TestBeaconLayout(t *testing.T) {
	p := AppendBeacon(nil, sampleBeacon(), nil)
	if !bytes.Equal(p[:8], []byte{80, 0, 'r', 'n', 'g', 'a', 2, 1}) {
		t.Fatalf("head = %x", p[:8])
	}
	if !bytes.Equal(p[52:54], []byte{0xad, 0x6e}) { // 28333 little-endian
		t.Fatalf("port bytes = %x", p[52:54])
	}
	if !bytes.Equal(p[66:74], []byte{0x7b, 0xa8, 0xda, 0x76, 0x9b, 0x01, 0, 0}) { // 1767225600123 little-endian
		t.Fatalf("time bytes = %x", p[66:74])
	}
	if !bytes.Equal(p[74:82], []byte{8, 7, 6, 5, 4, 3, 2, 1}) {
		t.Fatalf("sequence bytes = %x", p[74:82])
	}
	// The HMAC follows the sequence number and covers everything before it.
	signed := AppendBeacon(nil, sampleBeacon(), []byte("k"))
	if !bytes.Equal(signed[:82], withByte(withByte(p, 0, 112), 7, 3)[:82]) || !bytes.Equal(signed[82:], beaconMAC(signed[:82], []byte("k"))) {
		t.Fatalf("signed beacon %x", signed)
	}
}

func TestBeaconRejects(t *testing.T) {
	secret := []byte("s3cret")
	signed := AppendBeacon(nil, sampleBeacon(), secret)
	plain := AppendBeacon(nil, sampleBeacon(), nil)
	tests := []struct {
		name   string
		p      []byte
		secret []byte
		reason error
	}{
		{"unsigned where a secret is set", plain, secret, ErrBeaconUnsigned},
		{"wrong secret", signed, []byte("other"), ErrBeaconMAC},
		{"tampered height", withByte(signed, 62, 0xff), secret, ErrBeaconMAC},
		{"tampered time", withByte(signed, 66, 0x7c), secret, ErrBeaconMAC},
		{"tampered sequence", withByte(signed, 74, 9), secret, ErrBeaconMAC},
		{"wrong id", withByte(plain, 2, 'R'), nil, ErrInvalid},
		{"version 1", withByte(withByte(plain[:66], 0, 64), 6, 1), nil, ErrInvalid},
		{"future version", withByte(plain, 6, 3), nil, ErrInvalid},
		{"unknown flag", withByte(plain, 7, 0x81), nil, ErrInvalid},
		{"length disagrees", withByte(plain, 0, 79), nil, io.ErrUnexpectedEOF},
		{"trailing byte", append(append([]byte{}, plain...), 0), nil, io.ErrUnexpectedEOF},
		{"MAC flag without MAC", withByte(plain, 7, 3), nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBeacon(tt.p, tt.secret)
			if !errors.Is(err, tt.reason) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error = %v, want %v wrapping ErrMalformed", err, tt.reason)
			}
		})
	}
	for n := range len(signed) {
		if _, err := DecodeBeacon(signed[:n], nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
}

// FuzzBeacon: no panic, errors wrap ErrMalformed, accepted datagrams re-encode
// to themselves (with and without a secret).
func FuzzBeacon(f *testing.F) {
	f.Add(AppendBeacon(nil, sampleBeacon(), nil), false)
	f.Add(AppendBeacon(nil, sampleBeacon(), []byte("k")), true)
	f.Fuzz(func(t *testing.T, p []byte, useSecret bool) {
		var secret []byte
		if useSecret {
			secret = []byte("k")
		}
		b, err := DecodeBeacon(p, secret)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if useSecret || !BeaconSigned(p) {
			if again := AppendBeacon(nil, &b, secret); !bytes.Equal(again, p) {
				t.Fatalf("accepted %x, re-encodes %x", p, again)
			}
		}
	})
}
