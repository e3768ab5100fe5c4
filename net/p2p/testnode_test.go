package p2p

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/sock/memnet"
	"github.com/renga-p2p/renga/wire"
)

// testNode is an in-process node: a chain in memory, a mempool and a server.
type testNode struct {
	t    testing.TB
	h    *chaintest.Harness
	pool *mempool.Pool
	srv  *Server
	addr string            // where it listens
	tips chan *chain.Node  // every tip, as the chain reports it
	txs  chan sha256d.Hash // every transaction its pool accepts
	evs  chan PeerEvent    // every handshake and disconnect
	stop func()            // stops the server (also done when the test ends)
}

// testNet is an in-memory network (net/sock/memnet) for servers run inside
// a testing/synctest bubble: every node is a host 10.0.0.N listening on
// port 8333.
type testNet struct {
	t    *testing.T
	net  *memnet.Network
	next int
}

func newTestNet(t *testing.T) *testNet { return &testNet{t: t, net: memnet.New()} }

// host returns a new host of the network.
func (tn *testNet) host() *memnet.Host {
	tn.next++
	return tn.net.Host(netip.AddrFrom4([4]byte{10, 0, byte(tn.next >> 8), byte(tn.next)}))
}

// start runs a server for h's chain on a new host of the network.
func (tn *testNet) start(h *chaintest.Harness, tweak func(*Config)) *testNode {
	tn.t.Helper()
	host := tn.host()
	return startServer(tn.t, h, func(c *Config) {
		c.Transport = host
		c.Listen = ":8333"
		if tweak != nil {
			tweak(c)
		}
	})
}

// startNode runs a server for h's chain on real loopback TCP (for the
// benchmarks, which measure real sockets).
func startNode(tb testing.TB, h *chaintest.Harness, tweak func(*Config)) *testNode {
	tb.Helper()
	return startServer(tb, h, func(c *Config) {
		c.Listen = "127.0.0.1:0"
		if tweak != nil {
			tweak(c)
		}
	})
}

func startServer(tb testing.TB, h *chaintest.Harness, tweak func(*Config)) *testNode {
	tb.Helper()
	n := &testNode{t: tb, h: h, tips: make(chan *chain.Node, 100_000), txs: make(chan sha256d.Hash, 10_000),
		evs: make(chan PeerEvent, 10_000)}
	n.pool = mempool.New(h.Chain, mempool.Config{})
	h.Chain.Subscribe(func(e chain.Event) {
		if e.Kind == chain.BlockConnected {
			select {
			case n.tips <- e.Node:
			default: // a test that does not wait for tips
			}
		}
	})
	n.pool.OnAccept(func(e *mempool.Entry) {
		select {
		case n.txs <- e.TxID:
		default:
		}
	})
	cfg := Config{Chain: h.Chain, Pool: n.pool, TxBatchInterval: 20 * time.Millisecond,
		OnPeer: func(e PeerEvent) {
			select {
			case n.evs <- e:
			default:
			}
		}}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	n.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Run(ctx); err != nil {
			tb.Errorf("server: %v", err)
		}
	})
	var once sync.Once
	n.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	tb.Cleanup(n.stop)
	select {
	case <-srv.Started():
	case <-time.After(10 * time.Second):
		tb.Fatal("server did not start in 10 s")
	}
	n.addr = srv.ListenAddr().String()
	return n
}

// waitTip waits until the node's chain reports a tip with this hash.
func (n *testNode) waitTip(hash sha256d.Hash) {
	n.t.Helper()
	if n.h.Chain.Tip().Hash == hash {
		return
	}
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case tip := <-n.tips:
			if tip.Hash == hash {
				return
			}
		case <-deadline:
			n.t.Fatalf("tip is %d %s after 5 minutes, never reached %s", n.h.Chain.Tip().Height, n.h.Chain.Tip().Hash, hash)
		}
	}
}

// waitTx waits until the node's mempool accepts txid.
func (n *testNode) waitTx(txid sha256d.Hash) {
	n.t.Helper()
	if n.pool.Get(txid) != nil {
		return
	}
	deadline := time.After(time.Minute)
	for {
		select {
		case id := <-n.txs:
			if id == txid {
				return
			}
		case <-deadline:
			n.t.Fatalf("transaction %s never reached the mempool in a minute", txid)
		}
	}
}

// waitPeer waits for a peer event that match accepts, and returns it.
func (n *testNode) waitPeer(what string, match func(PeerEvent) bool) PeerEvent {
	n.t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case e := <-n.evs:
			if match(e) {
				return e
			}
		case <-deadline:
			n.t.Fatalf("no %s within a minute; peers: %v", what, n.srv.Peers())
			return PeerEvent{}
		}
	}
}

// waitUntil waits, through peer events, until cond holds.
func (n *testNode) waitUntil(what string, cond func() bool) {
	n.t.Helper()
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case <-n.evs:
		case <-deadline:
			n.t.Fatalf("not %s within a minute; peers: %v", what, n.srv.Peers())
		}
	}
}

// waitPeers waits until the node has completed k handshakes in all.
func (n *testNode) waitPeers(k int) {
	n.t.Helper()
	for i := range k {
		n.waitPeer(fmt.Sprintf("handshake %d of %d", i+1, k), func(e PeerEvent) bool { return e.Connected })
	}
}

// chainOf returns a fresh chain that already has blocks.
func chainOf(tb testing.TB, blocks []*wire.Block) *chaintest.Harness {
	tb.Helper()
	h := chaintest.New(tb, chain.Regtest)
	if n, err := h.Chain.AcceptBlocks(blocks, nil); err != nil {
		tb.Fatalf("block %d: %v", n, err)
	}
	return h
}
