package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// fakeMiner mines with the test harness.
type fakeMiner struct{ h *chaintest.Harness }

func (m fakeMiner) Generate(_ context.Context, n int, script []byte) ([]sha256d.Hash, error) {
	old := m.h.Script
	m.h.Script = script
	defer func() { m.h.Script = old }()
	var out []sha256d.Hash
	for _, b := range m.h.Mine(n) {
		out = append(out, b.Hash())
	}
	return out, nil
}

func (fakeMiner) Hashrate() float64 { return 42 }

type env struct {
	h      *chaintest.Harness
	pool   *mempool.Pool
	client *Client
	cookie string
	addr   string
}

func start(t *testing.T) *env {
	h := chaintest.New(t, chain.Regtest)
	pool := mempool.New(h.Chain, mempool.Config{})
	cookie := filepath.Join(t.TempDir(), ".cookie")
	s, err := Listen(Config{Listen: "127.0.0.1:0", CookieFile: cookie, Chain: h.Chain, Pool: pool, Miner: fakeMiner{h}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	c, err := NewClient(s.Addr(), cookie)
	if err != nil {
		t.Fatal(err)
	}
	return &env{h: h, pool: pool, client: c, cookie: cookie, addr: s.Addr()}
}

func (e *env) call(t *testing.T, out any, method string, params ...any) {
	t.Helper()
	if err := e.client.CallInto(t.Context(), out, method, params...); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

func TestCookieAuthentication(t *testing.T) {
	e := start(t)
	st, err := os.Stat(e.cookie)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cookie file: %v %v", st, err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.addr+"/", strings.NewReader(`{"method":"getblockcount"}`))
	req.SetBasicAuth(CookieUser, "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: HTTP %d", resp.StatusCode)
	}
	if _, err := Listen(Config{Listen: "0.0.0.0:0", CookieFile: e.cookie + "2", Chain: e.h.Chain}); err == nil {
		t.Fatal("listened on all interfaces")
	}
}

func TestChainMethods(t *testing.T) {
	e := start(t)
	addr := address.FromPublicKey(chain.Regtest.PubKeyHashVersion, e.h.Key.PublicKey().Compressed()).String()
	var hashes []string
	e.call(t, &hashes, "generatetoaddress", 101, addr)
	if len(hashes) != 101 {
		t.Fatalf("generated %d blocks", len(hashes))
	}
	var count int
	e.call(t, &count, "getblockcount")
	var best string
	e.call(t, &best, "getbestblockhash")
	var at string
	e.call(t, &at, "getblockhash", 101)
	if count != 101 || best != hashes[100] || at != best {
		t.Fatalf("count %d best %s at %s", count, best, at)
	}
	var info map[string]any
	e.call(t, &info, "getblockchaininfo")
	if info["chain"] != "regtest" || info["blocks"].(float64) != 101 || info["bestblockhash"] != best {
		t.Fatalf("getblockchaininfo %v", info)
	}
	var block map[string]any
	e.call(t, &block, "getblock", hashes[0])
	if block["height"].(float64) != 1 || block["confirmations"].(float64) != 101 || len(block["tx"].([]any)) != 1 {
		t.Fatalf("getblock %v", block)
	}
	var rawHex string
	e.call(t, &rawHex, "getblock", hashes[0], 0)
	raw, _ := hex.DecodeString(rawHex)
	var b wire.Block
	if err := b.Decode(raw); err != nil || b.Hash().String() != hashes[0] {
		t.Fatalf("getblock verbosity 0: %v", err)
	}
	var header map[string]any
	e.call(t, &header, "getblockheader", hashes[5])
	if header["previousblockhash"] != hashes[4] || header["nextblockhash"] != hashes[6] {
		t.Fatalf("getblockheader %v", header)
	}
	// Errors carry bitcoind's codes.
	_, err := e.client.Call(t.Context(), "getblockhash", 5000)
	var re *RPCError
	if !errors.As(err, &re) || re.Code != codeInvalidParam {
		t.Fatalf("out of range: %v", err)
	}
	if _, err := e.client.Call(t.Context(), "nosuchmethod"); !errors.As(err, &re) || re.Code != codeMethodNotFound {
		t.Fatalf("unknown method: %v", err)
	}
}

func TestTransactionMethods(t *testing.T) {
	e := start(t)
	blocks := e.h.Mine(101)
	coin := chaintest.CoinbaseCoin(blocks[0])
	to := chaintest.P2PKH(chaintest.Key(t, 3))
	tx := chaintest.Spend(t, e.h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 10_000, ScriptPubKey: to})
	raw, _ := tx.AppendBinary(nil)
	var txid string
	e.call(t, &txid, "sendrawtransaction", hex.EncodeToString(raw))
	if txid != tx.TxID().String() {
		t.Fatalf("txid %s", txid)
	}
	var pool []string
	e.call(t, &pool, "getrawmempool")
	if len(pool) != 1 || pool[0] != txid {
		t.Fatalf("mempool %v", pool)
	}
	var minfo map[string]any
	e.call(t, &minfo, "getmempoolinfo")
	if minfo["size"].(float64) != 1 {
		t.Fatalf("getmempoolinfo %v", minfo)
	}
	var decoded map[string]any
	e.call(t, &decoded, "getrawtransaction", txid, true)
	if decoded["txid"] != txid || len(decoded["vout"].([]any)) != 1 {
		t.Fatalf("getrawtransaction %v", decoded)
	}
	// The pool says which of its transactions spends a coin.
	var spending []map[string]any
	e.call(t, &spending, "gettxspendingprevout", []map[string]any{
		{"txid": coin.OutPoint.Hash.String(), "vout": coin.OutPoint.Index},
		{"txid": blocks[1].Txs[0].TxID().String(), "vout": 0},
	})
	if len(spending) != 2 || spending[0]["spendingtxid"] != txid || spending[1]["spendingtxid"] != nil {
		t.Fatalf("gettxspendingprevout %v", spending)
	}
	// A double spend is refused with bitcoind's code.
	again := chaintest.Spend(t, e.h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 20_000, ScriptPubKey: to})
	raw2, _ := again.AppendBinary(nil)
	_, err := e.client.Call(t.Context(), "sendrawtransaction", hex.EncodeToString(raw2))
	var re *RPCError
	if !errors.As(err, &re) || re.Code != codeVerifyRejected {
		t.Fatalf("double spend: %v", err)
	}
	// Once mined, scantxoutset finds the payment.
	if _, err := e.h.Chain.ProcessBlock(e.h.Next(nil, 10_000, tx), nil); err != nil {
		t.Fatal(err)
	}
	toAddr := address.FromPublicKey(chain.Regtest.PubKeyHashVersion, chaintest.Key(t, 3).PublicKey().Compressed())
	var scan struct {
		Unspents []struct {
			Txid   string      `json:"txid"`
			Amount json.Number `json:"amount"`
		} `json:"unspents"`
		Total json.Number `json:"total_amount"`
	}
	e.call(t, &scan, "scantxoutset", "start", []string{"addr(" + toAddr.String() + ")"})
	if len(scan.Unspents) != 1 || scan.Unspents[0].Txid != txid || scan.Total != "49.99990000" {
		t.Fatalf("scantxoutset %+v", scan)
	}
}

func TestSubmitBlockAndMining(t *testing.T) {
	e := start(t)
	b := e.h.Next(nil, 0)
	raw, _ := b.AppendBinary(nil)
	var res any
	e.call(t, &res, "submitblock", hex.EncodeToString(raw))
	if res != nil {
		t.Fatalf("submitblock: %v", res)
	}
	e.call(t, &res, "submitblock", hex.EncodeToString(raw))
	if res != "duplicate" {
		t.Fatalf("submitblock again: %v", res)
	}
	var mi map[string]any
	e.call(t, &mi, "getmininginfo")
	if mi["blocks"].(float64) != 1 || mi["hashespersec"].(float64) != 42 {
		t.Fatalf("getmininginfo %v", mi)
	}
	resp, err := http.Get("http://" + e.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err := errors.Join(err, resp.Body.Close()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "renga_height 1") {
		t.Fatalf("metrics: %s", body)
	}
}
