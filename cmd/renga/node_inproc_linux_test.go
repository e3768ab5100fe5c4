package main

import (
	"context"
	"encoding/hex"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/wallet"
	"github.com/renga-p2p/renga/net/node"
	"github.com/renga-p2p/renga/wire"
)

// parseNodeArgs turns `renga node` arguments into the node.Config the
// command would run, as runNode does.
func parseNodeArgs(t *testing.T, args ...string) node.Config {
	t.Helper()
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := registerNodeFlags(fs)
	if err := f.parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.nodeConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// One node in this process, run from the node.Config its flags give, and
// one `renga node` process given flags of the same shape: each syncs the
// other's blocks and relays the other's payment, so a node in-process and a
// node as a process behave the same through the same configuration. On
// loopback only.
func TestNodeInProcessAndAsProcess(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	p2pA, rpcA, p2pB, rpcB := freePort(t), freePort(t), freePort(t), freePort(t)
	argsA := []string{"--network", "regtest", "--datadir", dirA, "--listen", "127.0.0.1:" + p2pA, "--rpc", "127.0.0.1:" + rpcA}
	argsB := []string{"--network", "regtest", "--datadir", dirB, "--listen", "127.0.0.1:" + p2pB, "--rpc", "127.0.0.1:" + rpcB,
		"--connect", "127.0.0.1:" + p2pA}

	cfgA := parseNodeArgs(t, argsA...)
	// B's flags make the same Config but for what differs: the process
	// runs exactly this.
	cfgB := parseNodeArgs(t, argsB...)
	same := cfgB
	same.Dir, same.Listen, same.RPC, same.Connect = cfgA.Dir, cfgA.Listen, cfgA.RPC, cfgA.Connect
	if !reflect.DeepEqual(same, cfgA) {
		t.Fatalf("the two nodes' flags differ in more than their addresses:\n%+v\n%+v", same, cfgA)
	}

	cfgA.Logger = slog.New(slog.NewTextHandler(testLog{t}, nil))
	a, err := node.New(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = a.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("in-process node: %v", runErr)
		}
	})
	select {
	case <-a.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("the in-process node was not ready in 30 s")
	}

	b := startProcessNode(t, dirB, argsB[4:]...) // startProcessNode adds network and datadir
	t.Cleanup(func() { b.stop(t) })
	clientB := waitClient(t, "127.0.0.1:"+rpcB, filepath.Join(cfgB.Dir, ".cookie"))

	// A mines; the process syncs it.
	w, err := wallet.Open(filepath.Join(cfgA.Dir, "wallet.json"), chain.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := a.Miner().Generate(t.Context(), 105, w.Keys()[0].Script)
	if err != nil {
		t.Fatal(err)
	}
	waitRPC(t, "the process syncs the in-process node's chain", func() bool {
		var best string
		return clientB.CallInto(t.Context(), &best, "getbestblockhash") == nil && best == hashes[len(hashes)-1].String()
	})

	// The process mines (RPC generatetoaddress); the in-process node syncs it.
	var mined []string
	if err := clientB.CallInto(t.Context(), &mined, "generatetoaddress", 1, w.Keys()[0].Address.String()); err != nil {
		t.Fatal(err)
	}
	waitRPC(t, "the in-process node syncs the process's block", func() bool { return a.Chain().Tip().Hash.String() == mined[0] })

	// A payment made on A reaches B's mempool.
	first, err := a.Chain().Block(a.Chain().NodeAt(1))
	if err != nil {
		t.Fatal(err)
	}
	cb := &first.Txs[0]
	coin := wallet.Coin{OutPoint: wire.OutPoint{Hash: cb.TxID(), Index: 0}, Value: cb.Outputs[0].Value, Script: cb.Outputs[0].ScriptPubKey}
	pay, err := w.Pay([]wallet.Coin{coin}, w.Keys()[0].Script, chain.Coin, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Pool().Accept(pay.Tx); err != nil {
		t.Fatal(err)
	}
	waitRPC(t, "the payment reaches the process's mempool", func() bool {
		var txs []string
		return clientB.CallInto(t.Context(), &txs, "getrawmempool") == nil && len(txs) == 1 && txs[0] == pay.Tx.TxID().String()
	})
	// And one sent to B's RPC reaches A's.
	coin2 := wallet.Coin{OutPoint: wire.OutPoint{Hash: pay.Tx.TxID(), Index: 0}, Value: pay.Tx.Outputs[0].Value,
		Script: pay.Tx.Outputs[0].ScriptPubKey}
	pay2, err := w.Pay([]wallet.Coin{coin2}, w.Keys()[0].Script, chain.Coin/2, 1000)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := pay2.Tx.AppendBinary(nil)
	var txid string
	if err := clientB.CallInto(t.Context(), &txid, "sendrawtransaction", hex.EncodeToString(raw)); err != nil {
		t.Fatal(err)
	}
	waitRPC(t, "a payment sent to the process reaches the in-process node", func() bool { return a.Pool().Get(pay2.Tx.TxID()) != nil })
}

// waitRPC polls another process's state (nothing to wait on but its RPC)
// every 50 ms for up to a minute.
func waitRPC(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

// testLog writes a node's log lines to the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(string(b[:len(b)-1]))
	return len(b), nil
}
