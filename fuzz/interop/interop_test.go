package interop

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
)

const (
	// btcdBlocks is how many blocks btcd mines before Renga starts.
	btcdBlocks = 150
	// rengaBlocks is how many blocks Renga mines for btcd to sync.
	rengaBlocks = 5
	// maturityBlocks makes the first coinbases paid to Renga's wallet
	// spendable (coinbase maturity is 100 confirmations).
	maturityBlocks = 101
	// payAmount is what `renga wallet send` pays, in coins and satoshis.
	payAmount     = "1.5"
	payAmountSats = 150_000_000
	// syncTimeout bounds each wait for one node to catch up with the other.
	syncTimeout = 60 * time.Second
)

// btcdPeer is the part of btcd's getpeerinfo entries the test reads.
type btcdPeer struct {
	ID       int32  `json:"id"`
	Addr     string `json:"addr"`
	SubVer   string `json:"subver"`
	Inbound  bool   `json:"inbound"`
	Version  uint32 `json:"version"`
	BanScore int32  `json:"banscore"`
}

// rengaPeer is the part of Renga's getpeerinfo entries the test reads.
type rengaPeer struct {
	Addr    string `json:"addr"`
	SubVer  string `json:"subver"`
	Inbound bool   `json:"inbound"`
	Version uint32 `json:"version"`
}

// TestBtcdInterop runs btcd and `renga node` side by side on regtest over
// loopback: Renga syncs btcd's chain, btcd syncs blocks Renga mined, and a
// payment from `renga wallet` reaches btcd's mempool through Renga's relay.
func TestBtcdInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("interop: builds and runs btcd and renga processes; skipped with -short")
	}
	btcdBin, rengaBin := buildBinaries(t)

	dir := t.TempDir()
	ports := freePorts(t, 4)
	btcdP2P := "127.0.0.1:" + strconv.Itoa(ports[0])
	btcdRPCAddr := "127.0.0.1:" + strconv.Itoa(ports[1])
	rengaP2P := "127.0.0.1:" + strconv.Itoa(ports[2])
	rengaRPC := "127.0.0.1:" + strconv.Itoa(ports[3])
	// The processes' output (btcd at debug level, renga at debug level) goes
	// to INTEROP_LOGDIR when set, to be read after the test; otherwise to the
	// temporary directory, and its end is printed if the test fails.
	logDir := dir
	if d := os.Getenv("INTEROP_LOGDIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		logDir = d
	}
	btcdLog := filepath.Join(logDir, "btcd.log")
	rengaLog := filepath.Join(logDir, "renga.log")
	dumpLogsOnFailure(t, btcdLog, rengaLog)

	ctx := t.Context()
	renga := rengaCmd{bin: rengaBin, datadir: filepath.Join(dir, "renga"), rpc: rengaRPC}

	// Renga's wallet, made before its node starts, as a user would; its first
	// address is also its change address.
	walletAddr, err := renga.run(ctx, "wallet", "new")
	if err != nil {
		t.Fatal(err)
	}
	// Two addresses encoded by btcd's code: where btcd's own blocks pay, and
	// the payee of Renga's payment.
	btcdMiningAddr := btcdP2PKHAddress(t)
	payee := btcdP2PKHAddress(t)
	t.Logf("renga wallet %s, btcd mining address %s, payee %s", walletAddr, btcdMiningAddr, payee)

	btcdHome := filepath.Join(dir, "btcd")
	rpcPass := rand.Text()
	btcdProc := startProcess(t, "btcd", btcdLog,
		[]string{"HOME=" + btcdHome}, // btcd's default paths stay in the test's directory
		btcdBin,
		"--regtest",
		"--datadir="+filepath.Join(btcdHome, "data"),
		"--logdir="+filepath.Join(btcdHome, "logs"),
		"--listen="+btcdP2P,
		"--rpclisten="+btcdRPCAddr,
		"--rpcuser=interop",
		"--rpcpass="+rpcPass,
		"--notls",
		"--nodnsseed", // no peers of its own: it only accepts Renga's connection
		"--miningaddr="+btcdMiningAddr,
		"--txindex",
		"--debuglevel=debug",
	)
	btcd := &btcdRPC{url: "http://" + btcdRPCAddr + "/", user: "interop", pass: rpcPass}
	waitUntil(t, syncTimeout, "btcd's RPC", func() (bool, string) {
		var n int64
		if err := btcd.call(ctx, &n, "getblockcount"); err != nil {
			return false, err.Error()
		}
		return true, ""
	}, btcdProc)

	var mined []string
	if err := btcd.call(ctx, &mined, "generate", btcdBlocks); err != nil {
		t.Fatal(err)
	}
	if len(mined) != btcdBlocks {
		t.Fatalf("btcd generate %d returned %d hashes", btcdBlocks, len(mined))
	}
	btcdTip := mined[len(mined)-1]

	rengaProc := startProcess(t, "renga", rengaLog, nil, rengaBin, "node",
		"--network", "regtest",
		"--datadir", renga.datadir,
		"--listen", rengaP2P,
		"--rpc", rengaRPC,
		"--connect", btcdP2P,
		"--discover=false",
		"--log-level", "debug",
	)
	procs := []*process{btcdProc, rengaProc}

	// btcd's id for its connection from Renga: if the connection is dropped
	// and Renga dials again, btcd gives the new one another id.
	var rengaConnID int32

	if !t.Run("renga syncs btcd's chain", func(t *testing.T) {
		waitForTip(t, "renga at btcd's tip", btcd, renga, btcdTip, procs)
		var height int64
		if err := renga.cliJSON(ctx, &height, "getblockcount"); err != nil {
			t.Fatal(err)
		}
		if height != btcdBlocks {
			t.Errorf("renga getblockcount = %d, want %d", height, btcdBlocks)
		}
		rengaConnID = checkPeers(t, btcd, renga, btcdP2P, -1)
	}) {
		return
	}

	if !t.Run("btcd syncs blocks mined by renga", func(t *testing.T) {
		hashes := rengaGenerate(t, renga, rengaBlocks, walletAddr)
		waitForTip(t, "btcd at renga's tip", btcd, renga, hashes[len(hashes)-1], procs)
		var height int64
		if err := btcd.call(ctx, &height, "getblockcount"); err != nil {
			t.Fatal(err)
		}
		if height != btcdBlocks+rengaBlocks {
			t.Errorf("btcd getblockcount = %d, want %d", height, btcdBlocks+rengaBlocks)
		}
		// btcd has every block Renga mined, on its main chain.
		for i, h := range hashes {
			var hdr struct {
				Height        int64 `json:"height"`
				Confirmations int64 `json:"confirmations"`
			}
			if err := btcd.call(ctx, &hdr, "getblockheader", h, true); err != nil {
				t.Fatalf("block %s mined by renga: %v", h, err)
			}
			if want := int64(btcdBlocks + 1 + i); hdr.Height != want || hdr.Confirmations < 1 {
				t.Errorf("btcd has block %s at height %d with %d confirmations, want height %d on the main chain",
					h, hdr.Height, hdr.Confirmations, want)
			}
		}
		checkPeers(t, btcd, renga, btcdP2P, rengaConnID)
	}) {
		return
	}

	t.Run("renga wallet payment reaches btcd's mempool", func(t *testing.T) {
		hashes := rengaGenerate(t, renga, maturityBlocks, walletAddr)
		waitForTip(t, "btcd at renga's tip", btcd, renga, hashes[len(hashes)-1], procs)

		out, err := renga.run(ctx, "wallet", "--json", "send", payee, payAmount)
		if err != nil {
			t.Fatal(err)
		}
		var sent struct {
			TxID string `json:"txid"`
		}
		if err := json.Unmarshal([]byte(out), &sent); err != nil || len(sent.TxID) != 64 {
			t.Fatalf("renga wallet send printed %q (%v), want JSON with a txid", out, err)
		}
		t.Logf("renga wallet send: %s", out)

		waitUntil(t, syncTimeout, "the payment in btcd's mempool", func() (bool, string) {
			var pool []string
			if err := btcd.call(ctx, &pool, "getrawmempool"); err != nil {
				return false, err.Error()
			}
			return slices.Contains(pool, sent.TxID), fmt.Sprintf("btcd mempool %v", pool)
		}, procs...)

		// btcd reads the transaction as Renga's wallet meant it: 1.5 coins to
		// the payee, the change back to the wallet's first address.
		var tx struct {
			TxID string `json:"txid"`
			Vout []struct {
				Value        json.Number `json:"value"`
				ScriptPubKey struct {
					Type      string   `json:"type"`
					Address   string   `json:"address"`
					Addresses []string `json:"addresses"`
				} `json:"scriptPubKey"`
			} `json:"vout"`
		}
		if err := btcd.call(ctx, &tx, "getrawtransaction", sent.TxID, 1); err != nil {
			t.Fatal(err)
		}
		paid, change := false, false
		for _, o := range tx.Vout {
			addrs := o.ScriptPubKey.Addresses
			if o.ScriptPubKey.Address != "" {
				addrs = append(addrs, o.ScriptPubKey.Address)
			}
			if o.ScriptPubKey.Type != "pubkeyhash" {
				continue
			}
			switch {
			case slices.Contains(addrs, payee):
				sats, err := coinsToSats(string(o.Value))
				if err != nil {
					t.Fatalf("btcd output value %q: %v", o.Value, err)
				}
				paid = sats == payAmountSats
			case slices.Contains(addrs, walletAddr):
				change = true
			}
		}
		if !paid || !change {
			t.Errorf("btcd decodes tx %s as %+v; want %s coins to %s and change to %s", sent.TxID, tx.Vout, payAmount, payee, walletAddr)
		}
		checkPeers(t, btcd, renga, btcdP2P, rengaConnID)
	})
}

// waitForTip waits until both btcd's and Renga's best block hash are want.
func waitForTip(t *testing.T, what string, btcd *btcdRPC, renga rengaCmd, want string, procs []*process) {
	t.Helper()
	ctx := t.Context()
	waitUntil(t, syncTimeout, what, func() (bool, string) {
		var b string
		if err := btcd.call(ctx, &b, "getbestblockhash"); err != nil {
			return false, err.Error()
		}
		r, err := renga.cli(ctx, "getbestblockhash")
		if err != nil {
			return false, err.Error()
		}
		return b == want && r == want, fmt.Sprintf("btcd tip %s, renga tip %s, want %s", b, r, want)
	}, procs...)
}

// rengaGenerate mines n blocks on Renga paying addr and returns their hashes.
func rengaGenerate(t *testing.T, renga rengaCmd, n int, addr string) []string {
	t.Helper()
	var hashes []string
	if err := renga.cliJSON(t.Context(), &hashes, "generatetoaddress", strconv.Itoa(n), addr); err != nil {
		t.Fatal(err)
	}
	if len(hashes) != n {
		t.Fatalf("renga generatetoaddress %d returned %d hashes", n, len(hashes))
	}
	return hashes
}

// checkPeers checks that each side has the other as its one peer, on loopback,
// with the expected user agents and protocol version, and that btcd has not
// scored Renga as misbehaving. It returns btcd's id for the connection; when
// wantID is not -1, the id must be wantID (the connection was never dropped).
func checkPeers(t *testing.T, btcd *btcdRPC, renga rengaCmd, btcdP2P string, wantID int32) int32 {
	t.Helper()
	ctx := t.Context()
	var bp []btcdPeer
	if err := btcd.call(ctx, &bp, "getpeerinfo"); err != nil {
		t.Fatal(err)
	}
	var rp []rengaPeer
	if err := renga.cliJSON(ctx, &rp, "getpeerinfo"); err != nil {
		t.Fatal(err)
	}
	t.Logf("btcd's peers: %+v; renga's peers: %+v", bp, rp)
	for _, p := range bp {
		if !isLoopback(p.Addr) {
			t.Errorf("btcd has a peer off loopback: %+v", p)
		}
	}
	for _, p := range rp {
		if !isLoopback(p.Addr) {
			t.Errorf("renga has a peer off loopback: %+v", p)
		}
	}
	if len(bp) != 1 || !bp[0].Inbound || !strings.Contains(bp[0].SubVer, "renga") {
		t.Fatalf("btcd's peers = %+v, want Renga's inbound connection alone", bp)
	}
	if len(rp) != 1 || rp[0].Inbound || rp[0].Addr != btcdP2P || !strings.Contains(rp[0].SubVer, "btcd") {
		t.Fatalf("renga's peers = %+v, want its outbound connection to btcd at %s alone", rp, btcdP2P)
	}
	if bp[0].Version != 70016 || rp[0].Version < 70016 {
		t.Errorf("negotiated versions: btcd sees %d, renga sees %d; want 70016 from renga", bp[0].Version, rp[0].Version)
	}
	if bp[0].BanScore != 0 {
		t.Errorf("btcd's ban score for renga = %d, want 0", bp[0].BanScore)
	}
	if wantID != -1 && bp[0].ID != wantID {
		t.Errorf("btcd's connection from renga has id %d, was %d: btcd dropped renga and renga dialled again", bp[0].ID, wantID)
	}
	return bp[0].ID
}

// btcdP2PKHAddress returns a regtest P2PKH address for a random key hash,
// encoded by btcd's code (txscript reading the output script).
func btcdP2PKHAddress(t *testing.T) string {
	t.Helper()
	hash := make([]byte, 20)
	_, _ = rand.Read(hash)
	script, err := txscript.NewScriptBuilder().
		AddOp(txscript.OP_DUP).AddOp(txscript.OP_HASH160).AddData(hash).
		AddOp(txscript.OP_EQUALVERIFY).AddOp(txscript.OP_CHECKSIG).Script()
	if err != nil {
		t.Fatal(err)
	}
	class, addrs, _, err := txscript.ExtractPkScriptAddrs(script, &chaincfg.RegressionNetParams)
	if err != nil || class != txscript.PubKeyHashTy || len(addrs) != 1 {
		t.Fatalf("btcd reads script %s as %v %v (%v)", hex.EncodeToString(script), class, addrs, err)
	}
	return addrs[0].String()
}

// coinsToSats converts a decimal coin amount as btcd prints it to satoshis.
func coinsToSats(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 8 {
		return 0, fmt.Errorf("more than 8 decimals")
	}
	frac += strings.Repeat("0", 8-len(frac))
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, err
	}
	return w*100_000_000 + f, nil
}
