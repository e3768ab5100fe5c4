package chain

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestAmountString(t *testing.T) {
	tests := []struct {
		a    Amount
		want string
	}{
		{0, "0.00000000"},
		{1, "0.00000001"},
		{-1, "-0.00000001"},
		{-Amount(Coin) - 5, "-1.00000005"},
		{150_000_000, "1.50000000"},
		{Amount(MaxMoney), "21000000.00000000"},
		{-9223372036854775808, "-92233720368.54775808"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.a.String(); got != tt.want {
				t.Errorf("Amount(%d).String() = %q", int64(tt.a), got)
			}
			if b, _ := json.Marshal(tt.a); string(b) != tt.want {
				t.Errorf("json %s", b)
			}
		})
	}
}

func TestParseAmount(t *testing.T) {
	good := []struct {
		s    string
		want Amount
	}{
		{"1.5", 150_000_000}, {"0.0001", 10_000}, {"21", 21 * Amount(Coin)}, {".5", 50_000_000},
		{"-0.00000001", -1}, {"21000000", Amount(MaxMoney)}, {"0.00000001", 1}, {"7.", 7 * Amount(Coin)},
	}
	for _, tt := range good {
		t.Run(tt.s, func(t *testing.T) {
			got, err := ParseAmount(tt.s)
			if err != nil || got != tt.want {
				t.Fatalf("ParseAmount(%q) = %d, %v; want %d", tt.s, got, err, tt.want)
			}
			// What String writes, ParseAmount reads back.
			if back, err := ParseAmount(got.String()); err != nil || back != got {
				t.Fatalf("round trip of %s: %d, %v", got, back, err)
			}
		})
	}
	for _, s := range []string{"", ".", "-", "1.123456789", "1e8", "+1", "--1", "1.-5", "0x10", " 1", "21000000.00000001",
		"99999999999999999999", "1,5"} {
		t.Run("bad "+s, func(t *testing.T) {
			if v, err := ParseAmount(s); !errors.Is(err, ErrAmount) {
				t.Fatalf("ParseAmount(%q) = %d, %v; want ErrAmount", s, v, err)
			}
		})
	}
}

func TestAmountUnmarshalJSON(t *testing.T) {
	var v struct{ A, B Amount }
	if err := json.Unmarshal([]byte(`{"A": 12.34567891, "B": "-0.1"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != 1_234_567_891 || v.B != -10_000_000 {
		t.Fatalf("got %d and %d", v.A, v.B)
	}
	if err := json.Unmarshal([]byte(`{"A": 1e3}`), &v); !errors.Is(err, ErrAmount) {
		t.Fatalf("an exponent was accepted: %v", err)
	}
}
