package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/wallet"
	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/api"
	"github.com/renga-p2p/renga/wire"
)

// defaultFeeRate is what `renga wallet send` pays per 1,000 bytes: twice the
// mempool's minimum relay fee, so a payment is relayed by every node.
const defaultFeeRate = 2000

func runWallet(ctx context.Context, args []string, io stdio) error {
	fs := newFlags(io, "wallet", "[flags] new | address | balance | send ADDRESS AMOUNT",
		"Keep P2PKH keys in DATADIR/<network>/wallet.json (mode 0600) and pay with them through a\n"+
			"running node:\n"+
			"  new       add a key (creating the wallet) and print its address\n"+
			"  address   print the wallet's addresses, first (the change address) first\n"+
			"  balance   ask the node for the wallet's coins: spendable, immature coinbases, and\n"+
			"            those spent by transactions still in the mempool\n"+
			"  send      pay AMOUNT coins (up to 8 decimals) to ADDRESS from spendable coins, change to\n"+
			"            the first key; prints the txid once the node's mempool has accepted it",
		"  renga wallet new\n"+
			"  renga wallet balance\n"+
			"  renga wallet send RbX4…q2 1.5")
	rf := addRPCFlags(fs)
	file := fs.String("wallet", "", "the key `FILE` (default DATADIR/<network>/wallet.json)")
	feeRate := fs.Int64("fee-rate", defaultFeeRate, "fee in satoshis per 1,000 bytes (send)")
	jsonOut := fs.Bool("json", false, "print JSON")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: wallet needs a subcommand: new, address, balance or send", errUsage)
	}
	p, err := rf.chain.params()
	if err != nil {
		return err
	}
	path := *file
	if path == "" {
		path = filepath.Join(rf.chain.dir(p), "wallet.json")
	}
	sub, subArgs := rest[0], rest[1:]
	want := map[string]int{"new": 0, "address": 0, "balance": 0, "send": 2}
	n, ok := want[sub]
	if !ok {
		return fmt.Errorf("%w: unknown wallet subcommand %q: new, address, balance or send", errUsage, sub)
	}
	if len(subArgs) != n {
		return fmt.Errorf("%w: wallet %s takes %d arguments, got %d", errUsage, sub, n, len(subArgs))
	}
	out := func(text string, v any) error {
		if *jsonOut {
			return json.NewEncoder(io.out).Encode(v)
		}
		_, err := fmt.Fprintln(io.out, text)
		return err
	}

	if sub == "new" {
		w, err := wallet.Open(path, p)
		var key *wallet.Key
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			if w, err = wallet.Create(path, p); err != nil {
				return err
			}
			key = w.Keys()[0]
		case err != nil:
			return err
		default:
			if key, err = w.NewKey(); err != nil {
				return err
			}
		}
		return out(key.Address.String(), map[string]string{"address": key.Address.String(), "wallet": path})
	}
	w, err := wallet.Open(path, p)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("wallet: no wallet at %s: make one with `renga wallet new`", path)
	}
	if err != nil {
		return err
	}
	if sub == "address" {
		var addrs []string
		for _, k := range w.Keys() {
			addrs = append(addrs, k.Address.String())
		}
		return out(strings.Join(addrs, "\n"), addrs)
	}

	client, _, err := rf.client()
	if err != nil {
		return err
	}
	coins, err := walletCoins(ctx, client, w, p)
	if err != nil {
		return err
	}
	if sub == "balance" {
		b := coins.balance()
		text := fmt.Sprintf("spendable %s\nimmature  %s\nin mempool spends %s\n(height %d, %d coins)",
			chain.Amount(b.Spendable), chain.Amount(b.Immature), chain.Amount(b.Pending), coins.height, len(coins.all))
		return out(text, b)
	}

	to, err := address.ParseP2PKH(subArgs[0], p.PubKeyHashVersion)
	if err != nil {
		return fmt.Errorf("%w: send: address %q: %v", errUsage, subArgs[0], err)
	}
	amount, err := parseCoins(subArgs[1])
	if err != nil {
		return fmt.Errorf("%w: send: amount %q: %v", errUsage, subArgs[1], err)
	}
	pay, err := w.Pay(coins.spendable(), chain.PayToPubKeyHashScript(to.Hash), amount, *feeRate)
	if err != nil {
		return err
	}
	raw, err := pay.Tx.AppendBinary(nil)
	if err != nil {
		return err
	}
	var txid string
	if err := client.CallInto(ctx, &txid, "sendrawtransaction", hex.EncodeToString(raw)); err != nil {
		return fmt.Errorf("wallet: the node refused the payment: %w", err)
	}
	return out(txid, map[string]any{"txid": txid, "amount": chain.Amount(amount), "fee": chain.Amount(pay.Fee),
		"change": chain.Amount(pay.Change), "inputs": len(pay.Spent), "size": len(raw)})
}

// walletCoin is one of the wallet's unspent outputs as the node sees it.
type walletCoin struct {
	coin     wallet.Coin
	mature   bool
	spending string // the mempool transaction spending it, if any
}

type coinSet struct {
	height int32
	all    []walletCoin
}

// walletCoins asks the node for the wallet's unspent outputs
// (scantxoutset), which are mature, and which a mempool transaction already
// spends (gettxspendingprevout).
func walletCoins(ctx context.Context, client *api.Client, w *wallet.Wallet, p *chain.Params) (*coinSet, error) {
	var descs []string
	for _, k := range w.Keys() {
		descs = append(descs, "addr("+k.Address.String()+")")
	}
	var scan api.ScanResult
	if err := client.CallInto(ctx, &scan, "scantxoutset", "start", descs); err != nil {
		return nil, fmt.Errorf("wallet: scantxoutset: %w", err)
	}
	set := &coinSet{height: scan.Height}
	var outs []map[string]any
	for _, u := range scan.Unspents {
		h, err := sha256d.ParseHash(u.TxID)
		if err != nil {
			return nil, fmt.Errorf("wallet: node sent txid %q: %w", u.TxID, err)
		}
		script, err := hex.DecodeString(u.Script)
		if err != nil {
			return nil, fmt.Errorf("wallet: node sent script %q: %w", u.Script, err)
		}
		value := int64(u.Amount)
		// A coinbase output may be spent in the block at height
		// coinbase height + maturity; the next block is tip + 1.
		mature := !u.Coinbase || p.Mature(u.Height, scan.Height+1)
		set.all = append(set.all, walletCoin{
			coin:   wallet.Coin{OutPoint: wire.OutPoint{Hash: h, Index: u.Vout}, Value: value, Script: script},
			mature: mature,
		})
		outs = append(outs, map[string]any{"txid": u.TxID, "vout": u.Vout})
	}
	if len(outs) == 0 {
		return set, nil
	}
	var spending []struct {
		Spending string `json:"spendingtxid"`
	}
	if err := client.CallInto(ctx, &spending, "gettxspendingprevout", outs); err != nil {
		return nil, fmt.Errorf("wallet: gettxspendingprevout: %w", err)
	}
	if len(spending) != len(set.all) {
		return nil, fmt.Errorf("wallet: gettxspendingprevout answered %d of %d outputs", len(spending), len(set.all))
	}
	for i := range spending {
		set.all[i].spending = spending[i].Spending
	}
	return set, nil
}

func (s *coinSet) spendable() []wallet.Coin {
	var out []wallet.Coin
	for _, c := range s.all {
		if c.mature && c.spending == "" {
			out = append(out, c.coin)
		}
	}
	return out
}

type balance struct {
	Spendable int64 `json:"spendable"`
	Immature  int64 `json:"immature"`
	Pending   int64 `json:"spent_in_mempool"`
	Height    int32 `json:"height"`
}

func (s *coinSet) balance() balance {
	b := balance{Height: s.height}
	for _, c := range s.all {
		switch {
		case c.spending != "":
			b.Pending += c.coin.Value
		case !c.mature:
			b.Immature += c.coin.Value
		default:
			b.Spendable += c.coin.Value
		}
	}
	return b
}

// parseCoins reads a positive amount of coins with up to 8 decimals ("1.5",
// "0.0001", "21") as satoshis, exactly.
func parseCoins(s string) (int64, error) {
	a, err := chain.ParseAmount(s)
	if err != nil || a <= 0 {
		return 0, errors.New("want a positive number of coins with at most 8 decimals, at most 21 million")
	}
	return int64(a), nil
}
