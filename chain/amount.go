package chain

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Amount is a value in satoshis, shown and parsed as coins with exactly
// eight decimals, the way bitcoind writes amounts ("0.00000001", "-1.50000000",
// "21000000.00000000"). Conversions are exact: no floating point is involved.
type Amount int64

// ErrAmount: a string is not an amount of coins with at most 8 decimals
// within ±MaxMoney.
var ErrAmount = errors.New("chain: not an amount of coins (at most 8 decimals, at most 21 million)")

// String writes a as coins with 8 decimals, with a leading minus sign when
// negative.
func (a Amount) String() string {
	return string(a.append(nil))
}

func (a Amount) append(b []byte) []byte {
	v := uint64(a)
	if a < 0 {
		b = append(b, '-')
		v = -v // also right for the most negative int64
	}
	b = strconv.AppendUint(b, v/uint64(Coin), 10)
	b = append(b, '.')
	frac := strconv.AppendUint(nil, v%uint64(Coin), 10)
	for range 8 - len(frac) {
		b = append(b, '0')
	}
	return append(b, frac...)
}

// MarshalJSON writes a as a JSON number with 8 decimals, as bitcoind does.
func (a Amount) MarshalJSON() ([]byte, error) { return a.append(nil), nil }

// UnmarshalJSON reads a JSON number (or a string holding one) of coins
// exactly.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := ParseAmount(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseAmount reads coins with up to 8 decimals ("1.5", "0.0001", "21", "-2",
// ".5") as satoshis, exactly. Exponents, more than 8 decimals and values
// beyond ±MaxMoney are refused with ErrAmount.
func ParseAmount(s string) (Amount, error) {
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(digits, ".")
	if whole == "" && frac == "" || len(frac) > 8 || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("%w: %q", ErrAmount, s)
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > uint64(MaxMoney/Coin) {
		return 0, fmt.Errorf("%w: %q", ErrAmount, s)
	}
	var f uint64
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 8-len(frac)), 10, 64)
	}
	v := int64(w)*Coin + int64(f)
	if v > MaxMoney {
		return 0, fmt.Errorf("%w: %q", ErrAmount, s)
	}
	if neg {
		v = -v
	}
	return Amount(v), nil
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
