package api

import (
	"encoding/json"
	"strings"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// params reads positional parameters with bitcoind's error messages.
type params []json.RawMessage

func (p params) has(i int) bool { return i < len(p) && string(p[i]) != "null" }

func (p params) str(i int, name string) (string, error) {
	if !p.has(i) {
		return "", rpcErr(codeInvalidParam, "missing parameter %s", name)
	}
	var s string
	if err := json.Unmarshal(p[i], &s); err != nil {
		return "", rpcErr(codeTypeError, "%s must be a string", name)
	}
	return s, nil
}

func (p params) int(i int, name string, def int64) (int64, error) {
	if !p.has(i) {
		return def, nil
	}
	var v int64
	if err := json.Unmarshal(p[i], &v); err != nil {
		return 0, rpcErr(codeTypeError, "%s must be an integer", name)
	}
	return v, nil
}

// boolOrInt reads a flag that bitcoind accepts as a boolean or a number.
func (p params) boolOrInt(i int, name string, def int64) (int64, error) {
	if !p.has(i) {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(p[i], &b); err == nil {
		if b {
			return 1, nil
		}
		return 0, nil
	}
	return p.int(i, name, def)
}

func (p params) hash(i int, name string) (sha256d.Hash, error) {
	s, err := p.str(i, name)
	if err != nil {
		return sha256d.Hash{}, err
	}
	h, err := sha256d.ParseHash(strings.TrimSpace(s))
	if err != nil {
		return h, rpcErr(codeInvalidParam, "%s must be of length 64 (not %d, for '%s')", name, len(s), s)
	}
	return h, nil
}
