package interop

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// chainKind names one of the regtest chains btcd mines for the sync tests
// and benchmarks. Both are chainHeight blocks made by btcd's `generate`.
type chainKind int

const (
	// emptyChain's blocks hold only their coinbase (~200 bytes each, about
	// 1 MB in all): what the issue measured, where the cost is round trips
	// and per-message work, not bytes.
	emptyChain chainKind = iota
	// fullChain is emptyChain with fullBlocks blocks of about 870 KB of
	// transactions from height fullFirst: about 10 MB that btcd asks for in
	// one getdata, more than twice Renga's 4 MiB send buffer, so a source
	// must serve them lazily.
	fullChain
)

func (k chainKind) String() string {
	switch k {
	case emptyChain:
		return "empty"
	case fullChain:
		return "full"
	}
	return fmt.Sprintf("chainKind(%d)", int(k))
}

const (
	// chainHeight is the height of every chain btcd mines here.
	chainHeight = 5000
	// generateStep is how many blocks one `generate` call asks for, so that
	// each call stays well inside commandTimeout.
	generateStep = 1000

	// fullFirst is the height of fullChain's first full block: the
	// coinbases its transactions spend (heights 1 to fullBlocks*fullBlockTxs)
	// have matured (100 confirmations) by then, and all pay 50 coins
	// (regtest halves at 150).
	fullFirst = 211
	// fullBlocks full blocks of fullBlockTxs transactions each, every
	// transaction spending one coinbase to fullTxDataOutputs OP_RETURN
	// outputs of fullTxDataBytes each and one P2PKH output with the rest:
	// 95 KB a transaction and 860 KB a block. The bulk is in provably
	// unspendable outputs, which no node keeps in its UTXO set, so syncing
	// these blocks costs bytes to carry, not UTXO-set work (btcd's regtest
	// relays them: it accepts non-standard transactions there).
	fullBlocks        = 12
	fullBlockTxs      = 9
	fullTxDataOutputs = 10
	fullTxDataBytes   = 9500 // each output script under 10,000 bytes, the script size limit
	// fullTxFee pays about twice btcd's minimum relay fee of 1 sat/byte.
	fullTxFee = 200_000
)

// minedChain is a chain a running btcd mined and serves.
type minedChain struct {
	kind   chainKind
	btcd   *btcdNode // the miner, listening on 127.0.0.1
	tip    string
	height int64
	mined  time.Duration // how long btcd took to mine it
}

// mineChain starts a btcd listening on 127.0.0.1 (named name, with its home
// directory and log as given) and has it mine a chain of kind k with
// `generate` (and, for fullChain, sendrawtransaction of transactions the
// test signs). The btcd keeps running until the test ends, as the source of
// the chain: btcd cannot be restarted on its data, as it deletes a regtest
// database at start.
func mineChain(t testing.TB, btcdBin string, k chainKind, name, home, log string, peerDebug bool) *minedChain {
	t.Helper()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr, err := address.NewAddressPubKeyHash(address.Hash160(key.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	payScript, err := txscript.PayToAddrScript(addr)
	if err != nil {
		t.Fatal(err)
	}
	dumpLogsOnFailure(t, log)
	miner := startBtcd(t, btcdBin, btcdConfig{
		name: name, home: home, listen: true, miningAddr: addr.EncodeAddress(), peerDebug: peerDebug, log: log,
		extra: []string{"--blockmaxsize=999000", "--blockmaxweight=3996000"}, // room for fullBlockTxs
	})
	ctx := t.Context()
	c := &minedChain{kind: k, btcd: miner}
	generate := func(n int) {
		t.Helper()
		for n > 0 {
			step := min(n, generateStep)
			var hashes []string
			if err := miner.rpc.call(ctx, &hashes, "generate", step); err != nil {
				t.Fatalf("interop: mining the %s chain at height %d: %v", k, c.height, err)
			}
			if len(hashes) != step {
				t.Fatalf("interop: btcd generate %d returned %d hashes", step, len(hashes))
			}
			c.height += int64(step)
			c.tip = hashes[step-1]
			n -= step
		}
	}

	start := time.Now()
	if k == fullChain {
		generate(fullFirst - 1)
		for b := range fullBlocks {
			for i := range fullBlockTxs {
				tx := spendCoinbase(t, miner, int64(b*fullBlockTxs+i+1), key, payScript)
				var buf bytes.Buffer
				if err := tx.Serialize(&buf); err != nil {
					t.Fatal(err)
				}
				var txid string
				if err := miner.rpc.call(ctx, &txid, "sendrawtransaction", hex.EncodeToString(buf.Bytes())); err != nil {
					t.Fatalf("interop: btcd refused a %d-byte transaction: %v", buf.Len(), err)
				}
			}
			generate(1)
			var blk struct {
				Size int64    `json:"size"`
				Tx   []string `json:"tx"`
			}
			if err := miner.rpc.call(ctx, &blk, "getblock", c.tip, 1); err != nil {
				t.Fatal(err)
			}
			if len(blk.Tx) != fullBlockTxs+1 {
				t.Fatalf("interop: btcd mined block %d with %d transactions (%d bytes), want %d", c.height, len(blk.Tx), blk.Size, fullBlockTxs+1)
			}
		}
	}
	generate(chainHeight - int(c.height))
	c.mined = time.Since(start)
	t.Logf("%s mined the %s chain (%d blocks) in %v", name, k, c.height, c.mined.Round(time.Millisecond))
	return c
}

// spendCoinbase returns a transaction that spends the coinbase of the block
// at height h (paid to payScript, key's) to fullTxDataOutputs OP_RETURN
// outputs of random data and one output back to payScript.
func spendCoinbase(t testing.TB, miner *btcdNode, h int64, key *btcec.PrivateKey, payScript []byte) *wire.MsgTx {
	t.Helper()
	ctx := t.Context()
	var hash, raw string
	if err := miner.rpc.call(ctx, &hash, "getblockhash", h); err != nil {
		t.Fatal(err)
	}
	if err := miner.rpc.call(ctx, &raw, "getblock", hash, 0); err != nil {
		t.Fatal(err)
	}
	data, err := hex.DecodeString(raw)
	if err != nil {
		t.Fatalf("interop: btcd getblock %s: %v", hash, err)
	}
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(data)); err != nil {
		t.Fatalf("interop: btcd getblock %s: %v", hash, err)
	}
	cb := blk.Transactions[0]
	if len(cb.TxOut) == 0 || !bytes.Equal(cb.TxOut[0].PkScript, payScript) {
		t.Fatalf("interop: the coinbase of block %d does not pay the mining key first: %+v", h, cb.TxOut)
	}

	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: cb.TxHash(), Index: 0}, nil, nil))
	for range fullTxDataOutputs {
		// OP_RETURN OP_PUSHDATA2 <len LE> <data>, written out: btcd's
		// ScriptBuilder refuses pushes over 520 bytes, the limit for
		// scripts that are run, and this one never is.
		script := binary.LittleEndian.AppendUint16([]byte{txscript.OP_RETURN, txscript.OP_PUSHDATA2}, fullTxDataBytes)
		script = append(script, make([]byte, fullTxDataBytes)...)
		_, _ = rand.Read(script[4:])
		tx.AddTxOut(wire.NewTxOut(0, script))
	}
	tx.AddTxOut(wire.NewTxOut(cb.TxOut[0].Value-fullTxFee, payScript))
	sig, err := txscript.SignatureScript(tx, 0, payScript, txscript.SigHashAll, key, true)
	if err != nil {
		t.Fatal(err)
	}
	tx.TxIn[0].SignatureScript = sig
	return tx
}
