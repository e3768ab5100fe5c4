package p2p

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/addrbook"
	"github.com/renga-p2p/renga/wire"
)

// testNode is an in-process node: a chain in memory, a mempool and a server
// listening on loopback.
type testNode struct {
	t    testing.TB
	h    *chaintest.Harness
	pool *mempool.Pool
	srv  *Server
	tips chan *chain.Node // every tip, as the chain reports it
	txs  chan sha256d.Hash
	stop func() // stops the server (also done when the test ends)
}

func startNode(t testing.TB, h *chaintest.Harness, tweak func(*Config)) *testNode {
	t.Helper()
	n := &testNode{t: t, h: h, tips: make(chan *chain.Node, 100_000), txs: make(chan sha256d.Hash, 10_000)}
	n.pool = mempool.New(h.Chain, mempool.Config{})
	h.Chain.Subscribe(func(e chain.Event) {
		if e.Kind == chain.BlockConnected {
			n.tips <- e.Node
		}
	})
	n.pool.OnAccept(func(e *mempool.Entry) { n.txs <- e.TxID })
	cfg := Config{Chain: h.Chain, Pool: n.pool, Listen: "127.0.0.1:0", TxBatchInterval: 20 * time.Millisecond}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Run(ctx); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	var once sync.Once
	n.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(n.stop)
	select {
	case <-srv.Started():
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	return n
}

// waitTip waits until the node's chain reports a tip with this hash.
func (n *testNode) waitTip(hash sha256d.Hash) {
	n.t.Helper()
	if n.h.Chain.Tip().Hash == hash {
		return
	}
	deadline := time.After(60 * time.Second)
	for {
		select {
		case tip := <-n.tips:
			if tip.Hash == hash {
				return
			}
		case <-deadline:
			n.t.Fatalf("tip is %d %s, never reached %s", n.h.Chain.Tip().Height, n.h.Chain.Tip().Hash, hash)
		}
	}
}

// waitTx waits until the node's mempool accepts txid.
func (n *testNode) waitTx(txid sha256d.Hash) {
	n.t.Helper()
	if n.pool.Get(txid) != nil {
		return
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case id := <-n.txs:
			if id == txid {
				return
			}
		case <-deadline:
			n.t.Fatalf("transaction %s never reached the mempool", txid)
		}
	}
}

func TestSyncAndRelay(t *testing.T) {
	a := startNode(t, chaintest.New(t, chain.Regtest), nil)
	blocks := a.h.Mine(250)
	b := startNode(t, chaintest.New(t, chain.Regtest), func(c *Config) {
		c.Connect = []string{a.srv.ListenAddr().String()}
	})
	b.waitTip(blocks[len(blocks)-1].Hash())

	// A new block on a reaches b by announcement.
	next := a.h.Mine(1)[0]
	b.waitTip(next.Hash())

	// A transaction accepted by a's pool is relayed into b's.
	coin := chaintest.CoinbaseCoin(blocks[0])
	tx := chaintest.Spend(t, a.h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 10_000, ScriptPubKey: a.h.Script})
	if _, err := a.pool.Accept(tx); err != nil {
		t.Fatal(err)
	}
	b.waitTx(tx.TxID())

	// The peers see each other.
	if peers := b.srv.Peers(); len(peers) != 1 || peers[0].Inbound {
		t.Fatalf("b's peers: %+v", peers)
	}
}

// Two nodes reached both ways, each dialling the other (a by the listening
// address in its book, as once b advertises itself; b by --connect), end
// with one connection and stop dialling: the duplicate connection that ends
// tells each who is behind the address, and it is not dialled again while
// that node is connected. (The node whose duplicate lost redialled every
// second: which one depends on the nonces, so both orders are run.)
func TestNoRedialOfConnectedNode(t *testing.T) {
	for _, nonces := range [][2]uint64{{1, 3}, {3, 1}} {
		t.Run(fmt.Sprintf("nonces %d and %d", nonces[0], nonces[1]), func(t *testing.T) {
			a := startNode(t, chaintest.New(t, chain.Regtest), func(c *Config) { c.Nonce = nonces[0] })
			b := startNode(t, chaintest.New(t, chain.Regtest), func(c *Config) {
				c.Nonce = nonces[1]
				c.Connect = []string{a.srv.ListenAddr().String()}
			})
			a.srv.book.Add(addrbook.Entry{Addr: b.srv.ListenAddr(), LastSeen: time.Now()})
			dials := func() uint64 { return a.srv.Stats().Dials + b.srv.Stats().Dials }
			// Connection maintenance runs every second: after a few rounds
			// both have dialled, and then nobody dials any more.
			time.Sleep(2500 * time.Millisecond)
			settled := dials()
			time.Sleep(3 * time.Second)
			if d := dials(); d != settled {
				t.Errorf("%d dials in 3 s after the nodes settled (%d before)", d-settled, settled)
			}
			if na, nb := len(a.srv.Peers()), len(b.srv.Peers()); na != 1 || nb != 1 {
				t.Errorf("a has %d connections and b %d, want 1 each", na, nb)
			}
		})
	}
}
