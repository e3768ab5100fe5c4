package wire

import (
	"fmt"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// The getheaders and getblocks messages share one body: a protocol version, a
// block locator (hashes from the sender's tip back towards genesis, at most
// [MaxLocator]) and a hash to stop at (zero for "as many as allowed").

func appendLocator(b []byte, field string, version uint32, locator []sha256d.Hash, stop sha256d.Hash) ([]byte, error) {
	if len(locator) > MaxLocator {
		return b, fmt.Errorf("%s: %w: locator of %d hashes, limit %d", field, ErrTooMany, len(locator), MaxLocator)
	}
	b = appendU32(b, version)
	b = AppendVarint(b, uint64(len(locator)))
	for i := range locator {
		b = append(b, locator[i][:]...)
	}
	return append(b, stop[:]...), nil
}

func decodeLocator(p []byte, field string) (version uint32, locator []sha256d.Hash, stop sha256d.Hash, err error) {
	d := newDecoder(p)
	version = d.u32(field + ".version")
	n := d.count(field+".locator", MaxLocator, sha256d.Size)
	if n > 0 {
		locator = make([]sha256d.Hash, n)
	}
	for i := range locator {
		locator[i] = d.hash(field + ".locator")
	}
	stop = d.hash(field + ".stop")
	return version, locator, stop, d.finish(field)
}
