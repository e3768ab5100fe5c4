package node_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/chain/wallet"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/api"
	"github.com/renga-p2p/renga/net/node"
	"github.com/renga-p2p/renga/wire"
)

// running is a node started in-process for a test.
type running struct {
	n    *node.Node
	dir  string
	tips chan sha256d.Hash
	txs  chan sha256d.Hash
	err  chan error
}

// start runs a regtest node on loopback with cfg's other settings, until
// the test ends.
func start(t *testing.T, cfg node.Config) *running {
	t.Helper()
	cfg.Network = chain.Regtest
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.RPC = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{n: n, dir: cfg.Dir, tips: make(chan sha256d.Hash, 10_000), txs: make(chan sha256d.Hash, 1000),
		err: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.err <- n.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := <-r.err; err != nil {
			t.Errorf("node in %s: %v", cfg.Dir, err)
		}
	})
	select {
	case <-n.Ready():
	case err := <-r.err:
		t.Fatalf("node did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("node not ready in 30 s")
	}
	n.Chain().Subscribe(func(e chain.Event) {
		if e.Kind == chain.BlockConnected {
			select {
			case r.tips <- e.Node.Hash:
			default:
			}
		}
	})
	n.Pool().OnAccept(func(e *mempool.Entry) {
		select {
		case r.txs <- e.TxID:
		default:
		}
	})
	return r
}

// testWriter sends a node's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b[:len(b)-1]))
	return len(b), nil
}

func (r *running) waitTip(t *testing.T, hash sha256d.Hash) {
	t.Helper()
	deadline := time.After(time.Minute)
	for r.n.Chain().Tip().Hash != hash {
		select {
		case <-r.tips:
		case <-deadline:
			t.Fatalf("tip %d %s after a minute, not %s", r.n.Chain().Tip().Height, r.n.Chain().Tip().Hash, hash)
		}
	}
}

func (r *running) waitTx(t *testing.T, txid sha256d.Hash) {
	t.Helper()
	deadline := time.After(time.Minute)
	for r.n.Pool().Get(txid) == nil {
		select {
		case <-r.txs:
		case <-deadline:
			t.Fatalf("transaction %s not in the pool after a minute", txid)
		}
	}
}

// A pair of in-process nodes: b syncs a's chain, a new block and a payment
// made on a reach b, and the RPC of each answers.
func TestNodePairSyncsAndRelays(t *testing.T) {
	a := start(t, node.Config{})
	ctx := t.Context()
	w, err := wallet.Open(filepath.Join(a.dir, "wallet.json"), chain.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	key := w.Keys()[0]
	hashes, err := a.n.Miner().Generate(ctx, 110, key.Script)
	if err != nil {
		t.Fatal(err)
	}
	b := start(t, node.Config{Connect: []string{a.n.P2P().ListenAddr().String()}})
	b.waitTip(t, hashes[len(hashes)-1])

	more, err := a.n.Miner().Generate(ctx, 1, key.Script)
	if err != nil {
		t.Fatal(err)
	}
	b.waitTip(t, more[0])

	first, err := a.n.Chain().Block(a.n.Chain().NodeAt(1))
	if err != nil {
		t.Fatal(err)
	}
	cb := &first.Txs[0]
	coin := wallet.Coin{OutPoint: wire.OutPoint{Hash: cb.TxID(), Index: 0}, Value: cb.Outputs[0].Value, Script: cb.Outputs[0].ScriptPubKey}
	pay, err := w.Pay([]wallet.Coin{coin}, key.Script, chain.Coin, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.n.Pool().Accept(pay.Tx); err != nil {
		t.Fatal(err)
	}
	b.waitTx(t, pay.Tx.TxID())

	client, err := api.NewClient(b.n.RPCAddr(), filepath.Join(b.dir, ".cookie"))
	if err != nil {
		t.Fatal(err)
	}
	var count int32
	if err := client.CallInto(ctx, &count, "getblockcount"); err != nil || count != 111 {
		t.Fatalf("b's getblockcount = %d, %v; want 111", count, err)
	}
}

// The RPC stop ends Run with ErrStopRequested.
func TestStopOverRPC(t *testing.T) {
	cfg := node.Config{Network: chain.Regtest, Dir: t.TempDir(), Listen: "127.0.0.1:0", RPC: "127.0.0.1:0"}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done, exited := make(chan error, 1), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- n.Run(ctx); close(exited) }()
	t.Cleanup(func() { cancel(); <-exited }) // before the directory goes
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatalf("node did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("node not ready in 30 s")
	}
	client, err := api.NewClient(n.RPCAddr(), filepath.Join(cfg.Dir, ".cookie"))
	if err != nil {
		t.Fatal(err)
	}
	var reply string
	if err := client.CallInto(t.Context(), &reply, "stop"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, node.ErrStopRequested) {
			t.Fatalf("Run ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the node was still running 30 s after the RPC stop")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  node.Config
	}{
		{"no network", node.Config{Dir: "/tmp/x"}},
		{"no directory", node.Config{Network: chain.Regtest}},
		{"mining mainnet", node.Config{Network: chain.Mainnet, Dir: "/tmp/x", Mine: true}},
		{"negative threads", node.Config{Network: chain.Regtest, Dir: "/tmp/x", Threads: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := node.New(tt.cfg); !errors.Is(err, node.ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
		})
	}
}
