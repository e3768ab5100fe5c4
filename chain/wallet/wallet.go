// Package wallet keeps P2PKH keys in a file and builds signed payments: what
// `renga wallet` and the tests use to move coins. It holds no coins itself:
// the caller finds the wallet's unspent outputs (from the node) and the wallet
// selects among them, adds change and signs.
//
// The key file is JSON, created with mode 0600 and refused when others can
// read it (as ssh refuses a private key):
//
//	{"network": "devnet", "keys": [{"wif": "…", "address": "R…"}]}
//
// Keys are WIF-encoded (base58check of the network's WIF version byte, the
// 32-byte key and 0x01 for a compressed public key); addresses are P2PKH of
// the compressed key. A Wallet is not safe for concurrent use.
package wallet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/crypto/secp"
	"github.com/renga-p2p/renga/wire"
)

// Errors.
var (
	ErrExists       = errors.New("wallet: key file already exists")
	ErrPermissions  = errors.New("wallet: key file is readable by others")
	ErrNetwork      = errors.New("wallet: key file of another network")
	ErrFunds        = errors.New("wallet: insufficient funds")
	ErrKeyEncoding  = errors.New("wallet: invalid key encoding")
	ErrAmount       = errors.New("wallet: invalid amount")
	ErrNotOurScript = errors.New("wallet: not one of the wallet's scripts")
)

// Key is one of the wallet's keys with its address and output script.
type Key struct {
	Private *secp.PrivateKey
	Address address.P2PKH
	Script  []byte
}

// Wallet is a set of keys for one network, kept in a file.
type Wallet struct {
	params *chain.Params
	path   string
	keys   []*Key
}

type fileFormat struct {
	Network string    `json:"network"`
	Keys    []fileKey `json:"keys"`
}

type fileKey struct {
	WIF     string `json:"wif"`
	Address string `json:"address"`
}

// Create makes a new key file at path with one fresh key.
func Create(path string, p *chain.Params) (*Wallet, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, path)
	}
	w := &Wallet{params: p, path: path}
	if _, err := w.NewKey(); err != nil {
		return nil, err
	}
	return w, nil
}

// Open reads a key file, refusing one that others can read or that belongs to
// another network.
func Open(path string, p *chain.Params) (*Wallet, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %o; run chmod 600 %s", ErrPermissions, path, st.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("wallet: %s: %w", path, err)
	}
	if f.Network != p.Name {
		return nil, fmt.Errorf("%w: %s holds %s keys, not %s", ErrNetwork, path, f.Network, p.Name)
	}
	w := &Wallet{params: p, path: path}
	for i, k := range f.Keys {
		priv, err := DecodeWIF(k.WIF, p)
		if err != nil {
			return nil, fmt.Errorf("wallet: %s: key %d: %w", path, i, err)
		}
		w.add(priv)
	}
	return w, nil
}

func (w *Wallet) add(priv *secp.PrivateKey) *Key {
	pub := priv.PublicKey().Compressed()
	k := &Key{Private: priv, Address: address.FromPublicKey(w.params.PubKeyHashVersion, pub)}
	k.Script = chain.PayToPubKeyHashScript(k.Address.Hash)
	w.keys = append(w.keys, k)
	return k
}

// NewKey generates a key, adds it and saves the file.
func (w *Wallet) NewKey() (*Key, error) {
	priv, err := secp.GenerateKey()
	if err != nil {
		return nil, err
	}
	k := w.add(priv)
	return k, w.save()
}

// save writes the file atomically (a temporary file renamed over it), mode 0600.
func (w *Wallet) save() error {
	f := fileFormat{Network: w.params.Name}
	for _, k := range w.keys {
		f.Keys = append(f.Keys, fileKey{WIF: EncodeWIF(k.Private, w.params), Address: k.Address.String()})
	}
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp := w.path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	_, err = out.Write(append(raw, '\n'))
	err = errors.Join(err, out.Sync(), out.Close())
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err != nil {
		return fmt.Errorf("wallet: save %s: %w", w.path, errors.Join(err, os.Remove(tmp)))
	}
	return nil
}

// Keys returns the wallet's keys, oldest first.
func (w *Wallet) Keys() []*Key { return slices.Clone(w.keys) }

// KeyFor returns the key whose P2PKH script this is.
func (w *Wallet) KeyFor(script []byte) (*Key, bool) {
	for _, k := range w.keys {
		if string(k.Script) == string(script) {
			return k, true
		}
	}
	return nil, false
}

// EncodeWIF encodes a private key (with a compressed public key) for a network.
func EncodeWIF(k *secp.PrivateKey, p *chain.Params) string {
	b := k.Bytes()
	return address.EncodeCheck(p.WIFVersion, append(b[:], 0x01))
}

// DecodeWIF decodes a WIF private key of the network.
func DecodeWIF(s string, p *chain.Params) (*secp.PrivateKey, error) {
	v, payload, err := address.DecodeCheck(s)
	if err != nil {
		return nil, err
	}
	if v != p.WIFVersion {
		return nil, fmt.Errorf("%w: version byte %#02x, %s uses %#02x", ErrNetwork, v, p.Name, p.WIFVersion)
	}
	if len(payload) != 33 || payload[32] != 0x01 {
		return nil, fmt.Errorf("%w: want 32 bytes and the compression flag", ErrKeyEncoding)
	}
	return secp.ParsePrivateKey(payload[:32])
}

// Coin is an unspent output the wallet may spend.
type Coin struct {
	OutPoint wire.OutPoint
	Value    int64
	Script   []byte
}

// Sizes used to estimate a P2PKH transaction before signing: a signed input
// with a compressed key is at most 148 bytes (32+4 outpoint, 1+107 script, 4
// sequence), an output 34, the rest 10.
const (
	inputSize    = 148
	outputSize   = 34
	overheadSize = 10
)

// Payment is a built, signed transaction.
type Payment struct {
	Tx     *wire.Tx
	Fee    int64
	Change int64 // 0 when there is no change output
	Spent  []Coin
}

// Pay builds and signs a transaction paying amount to the script `to` from
// coins (the wallet's), at feeRate satoshis per 1,000 bytes, returning any
// change to the wallet's first key. Coins are used largest first; change below
// the dust limit goes to the fee.
func (w *Wallet) Pay(coins []Coin, to []byte, amount, feeRate int64) (*Payment, error) {
	if amount <= 0 || amount > chain.MaxMoney {
		return nil, fmt.Errorf("%w: %d", ErrAmount, amount)
	}
	sorted := slices.Clone(coins)
	slices.SortFunc(sorted, func(a, b Coin) int {
		switch {
		case a.Value > b.Value:
			return -1
		case a.Value < b.Value:
			return 1
		}
		return 0
	})
	var picked []Coin
	var in int64
	for _, c := range sorted {
		if _, ok := w.KeyFor(c.Script); !ok {
			return nil, fmt.Errorf("%w: %s", ErrNotOurScript, c.OutPoint)
		}
		picked = append(picked, c)
		in += c.Value
		fee := feeFor(len(picked), 2, feeRate)
		if in >= amount+fee {
			return w.sign(picked, to, amount, in, feeRate)
		}
	}
	return nil, fmt.Errorf("%w: %s available, %s plus fee needed", ErrFunds, chain.Amount(in), chain.Amount(amount))
}

func feeFor(inputs, outputs int, feeRate int64) int64 {
	size := overheadSize + inputs*inputSize + outputs*outputSize
	return (int64(size)*feeRate + 999) / 1000
}

func (w *Wallet) sign(picked []Coin, to []byte, amount, in, feeRate int64) (*Payment, error) {
	tx := &wire.Tx{Version: 1, Outputs: []wire.TxOut{{Value: amount, ScriptPubKey: to}}}
	for _, c := range picked {
		tx.Inputs = append(tx.Inputs, wire.TxIn{PrevOut: c.OutPoint, Sequence: chain.SequenceFinal})
	}
	fee := feeFor(len(picked), 2, feeRate)
	change := in - amount - fee
	changeScript := w.keys[0].Script
	if change < dustLimit(changeScript) {
		fee += change // too small to be worth an output
		change = 0
	} else {
		tx.Outputs = append(tx.Outputs, wire.TxOut{Value: change, ScriptPubKey: changeScript})
	}
	for i, c := range picked {
		k, _ := w.KeyFor(c.Script)
		if err := chain.SignInput(tx, i, c.Script, k.Private, chain.SigHashAll); err != nil {
			return nil, err
		}
	}
	return &Payment{Tx: tx, Fee: fee, Change: change, Spent: picked}, nil
}

// dustLimit mirrors the mempool's policy for a P2PKH output.
func dustLimit(script []byte) int64 { return int64(8+1+len(script)+148) * 3 }
