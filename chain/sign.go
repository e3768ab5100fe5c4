package chain

import (
	"fmt"

	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/crypto/secp"
	"github.com/renga-p2p/renga/wire"
)

// SignInput signs input idx of tx, which spends an output locked by
// prevScript (P2PK or P2PKH), with key and the given sighash type, and sets
// the input's scriptSig. For P2PKH the public key is pushed in the form whose
// hash the script holds (compressed or uncompressed).
func SignInput(tx *wire.Tx, idx int, prevScript []byte, key *secp.PrivateKey, hashType byte) error {
	class, data := Classify(prevScript)
	sig := key.Sign(SignatureHash(prevScript, tx, idx, uint32(hashType)))
	sig = append(sig, hashType)
	switch class {
	case PayToPubKey:
		tx.Inputs[idx].ScriptSig = PushData(sig)
	case PayToPubKeyHash:
		pub := key.PublicKey()
		var pubBytes []byte
		for _, form := range [][]byte{pub.Compressed(), pub.Uncompressed()} {
			if h := address.Hash160(form); string(h[:]) == string(data) {
				pubBytes = form
			}
		}
		if pubBytes == nil {
			return fmt.Errorf("chain: sign input %d: the key does not match the script's hash %x", idx, data)
		}
		tx.Inputs[idx].ScriptSig = append(PushData(sig), PushData(pubBytes)...)
	default:
		return fmt.Errorf("chain: sign input %d: cannot sign a %s output", idx, class)
	}
	return nil
}

// CoinbaseScript returns a coinbase scriptSig: the height (BIP34) and extra
// bytes (an extranonce, a tag), padded to the two-byte minimum.
func CoinbaseScript(height int32, extra []byte) []byte {
	s := append(PushInt(int64(height)), extra...)
	for len(s) < 2 {
		s = append(s, 0)
	}
	return s
}
