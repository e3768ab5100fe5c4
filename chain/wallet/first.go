package wallet

import (
	"errors"
	"fmt"
	"os"

	"github.com/renga-p2p/renga/chain"
)

// FirstKey opens the wallet at path (creating it, with one new key, if it
// does not exist) and returns its first key, which is where a node's miner
// pays by default. created says whether the wallet was made now.
func FirstKey(path string, p *chain.Params) (key *Key, created bool, err error) {
	w, err := Open(path, p)
	if errors.Is(err, os.ErrNotExist) {
		w, err = Create(path, p)
		created = true
	}
	if err != nil {
		return nil, false, err
	}
	keys := w.Keys()
	if len(keys) == 0 {
		return nil, false, fmt.Errorf("wallet: %s holds no key", path)
	}
	return keys[0], created, nil
}
