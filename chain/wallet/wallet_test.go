package wallet_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/chain/wallet"
	"github.com/renga-p2p/renga/crypto/address"
)

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wallet.json")
	w, err := wallet.Create(path, chain.Devnet)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	k2, err := w.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if a := k2.Address.String(); !strings.HasPrefix(a, "R") {
		t.Fatalf("devnet address %s does not start with R", a)
	}
	back, err := wallet.Open(path, chain.Devnet)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Keys()) != 2 || back.Keys()[1].Address != k2.Address {
		t.Fatal("keys not saved")
	}
	if _, err := wallet.Create(path, chain.Devnet); !errors.Is(err, wallet.ErrExists) {
		t.Fatalf("create over an existing file: %v", err)
	}
	if _, err := wallet.Open(path, chain.Regtest); !errors.Is(err, wallet.ErrNetwork) {
		t.Fatalf("open as another network: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := wallet.Open(path, chain.Devnet); !errors.Is(err, wallet.ErrPermissions) {
		t.Fatalf("world-readable key file: %v", err)
	}
}

func TestAddressPrefixes(t *testing.T) {
	key := chaintest.Key(t, 5)
	pub := key.PublicKey().Compressed()
	for _, tt := range []struct {
		p     *chain.Params
		first string
	}{{chain.Mainnet, "1"}, {chain.Devnet, "R"}} {
		if a := address.FromPublicKey(tt.p.PubKeyHashVersion, pub).String(); !strings.HasPrefix(a, tt.first) {
			t.Errorf("%s address %s does not start with %s", tt.p.Name, a, tt.first)
		}
	}
	// Regtest shares testnet's prefixes: m or n.
	if a := address.FromPublicKey(chain.Regtest.PubKeyHashVersion, pub).String(); a[0] != 'm' && a[0] != 'n' {
		t.Errorf("regtest address %s", a)
	}
	wif := wallet.EncodeWIF(key, chain.Regtest)
	back, err := wallet.DecodeWIF(wif, chain.Regtest)
	if err != nil || !back.PublicKey().Equal(key.PublicKey()) {
		t.Fatalf("WIF round trip: %v", err)
	}
	if _, err := wallet.DecodeWIF(wif, chain.Mainnet); !errors.Is(err, wallet.ErrNetwork) {
		t.Fatalf("regtest WIF on mainnet: %v", err)
	}
}

// TestPay builds payments from mined coins and checks that the chain and the
// mempool accept them.
func TestPay(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	w, err := wallet.Create(filepath.Join(t.TempDir(), "w.json"), chain.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	// Mine to the wallet's key.
	h.Script = w.Keys()[0].Script
	blocks := h.Mine(103)
	var coins []wallet.Coin
	for _, b := range blocks[:3] {
		c := chaintest.CoinbaseCoin(b)
		coins = append(coins, wallet.Coin{OutPoint: c.OutPoint, Value: c.Value, Script: c.Script})
	}
	pool := mempool.New(h.Chain, mempool.Config{})
	to := chaintest.P2PKH(chaintest.Key(t, 8))

	// 70 coins need two of the 50-coin coinbases, with change.
	pay, err := w.Pay(coins, to, 70*chain.Coin, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if len(pay.Tx.Inputs) != 2 || len(pay.Tx.Outputs) != 2 || pay.Change != 30*chain.Coin-pay.Fee {
		t.Fatalf("payment: %d inputs, %d outputs, change %d, fee %d", len(pay.Tx.Inputs), len(pay.Tx.Outputs), pay.Change, pay.Fee)
	}
	if _, err := pool.Accept(pay.Tx); err != nil {
		t.Fatalf("mempool refuses the payment: %v", err)
	}
	if fee := pay.Fee * 1000 / int64(pay.Tx.SerializeSize()); fee < 2000 {
		t.Fatalf("fee rate %d, asked 2000", fee)
	}
	// Spending everything but dust: the change would be dust and goes to the fee.
	almost := 50*chain.Coin - 300
	p2, err := w.Pay(coins[2:], to, almost, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Tx.Outputs) != 1 || p2.Fee != 300 {
		t.Fatalf("dust change: %d outputs, fee %d", len(p2.Tx.Outputs), p2.Fee)
	}
	if _, err := w.Pay(coins, to, 200*chain.Coin, 1000); !errors.Is(err, wallet.ErrFunds) {
		t.Fatalf("overspending: %v", err)
	}
	// The payment is mined and the recipient has the coins.
	if _, err := h.Chain.ProcessBlock(h.Next(nil, pay.Fee, pay.Tx), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Chain.Coin(pay.Tx.Inputs[0].PrevOut); !errors.Is(err, chain.ErrNotFound) {
		t.Fatal("spent coin still unspent")
	}
}
