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
	}
}

func TestBeaconRoundTrip(t *testing.T) {
	for _, secret := range [][]byte{nil, []byte("lan secret")} {
		p := AppendBeacon(nil, sampleBeacon(), secret)
		want := 66
		if secret != nil {
			want = 98
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
	}
}

func TestBeaconLayout(t *testing.T) {
	p := AppendBeacon(nil, sampleBeacon(), nil)
	if !bytes.Equal(p[:8], []byte{64, 0, 'r', 'n', 'g', 'a', 1, 1}) {
		t.Fatalf("head = %x", p[:8])
	}
	if !bytes.Equal(p[52:54], []byte{0xad, 0x6e}) { // 28333 little-endian
		t.Fatalf("port bytes = %x", p[52:54])
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
		{"wrong id", withByte(plain, 2, 'R'), nil, ErrInvalid},
		{"future version", withByte(plain, 6, 2), nil, ErrInvalid},
		{"unknown flag", withByte(plain, 7, 0x81), nil, ErrInvalid},
		{"length disagrees", withByte(plain, 0, 65), nil, io.ErrUnexpectedEOF},
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
		if useSecret || len(p) == 2+beaconBodySize {
			if again := AppendBeacon(nil, &b, secret); !bytes.Equal(again, p) {
				t.Fatalf("accepted %x, re-encodes %x", p, again)
			}
		}
	})
}
