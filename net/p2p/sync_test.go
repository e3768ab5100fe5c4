package p2p

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// testChain is a regtest chain of n blocks in which, from height 101, every
// block spends the coinbase of the block 100 below it.
var (
	chainOnce   sync.Once
	chainBlocks []*wire.Block
)

func syncChain(t testing.TB) []*wire.Block {
	chainOnce.Do(func() {
		h := chaintest.New(t, chain.Regtest)
		chainBlocks = h.Mine(100)
		for len(chainBlocks) < 5000 {
			coin := chaintest.CoinbaseCoin(chainBlocks[len(chainBlocks)-100])
			tx := chaintest.Spend(t, h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 1000, ScriptPubKey: h.Script})
			b := h.Next(nil, 1000, tx)
			if _, err := h.Chain.ProcessBlock(b, nil); err != nil {
				t.Fatal(err)
			}
			chainBlocks = append(chainBlocks, b)
		}
	})
	return chainBlocks
}

// holding returns a fresh chain that already has blocks.
func holding(t testing.TB, blocks []*wire.Block) *chaintest.Harness {
	h := chaintest.New(t, chain.Regtest)
	if n, err := h.Chain.AcceptBlocks(blocks, nil); err != nil {
		t.Fatalf("block %d: %v", n, err)
	}
	return h
}

// staller serves headers from a chain but never answers a request for
// blocks: a peer that stalls a sync.
type staller struct {
	c        *chain.Chain
	requests chan int
}

func (s *staller) Ready(p *peer.Peer) error { return nil }

func (s *staller) HandleMessage(p *peer.Peer, msg wire.Message) error {
	switch m := msg.(type) {
	case *wire.MsgGetHeaders:
		n := s.c.FindFork(m.Locator)
		var hs []wire.Header
		for len(hs) < wire.MaxHeaders {
			if n = s.c.NodeAt(n.Height + 1); n == nil {
				break
			}
			hs = append(hs, n.Header)
		}
		p.Send(&wire.MsgHeaders{Headers: hs})
	case *wire.MsgGetData:
		s.requests <- len(m.Inv) // and never answers
	}
	return nil
}

// startStaller listens on loopback and stalls everyone who connects.
func startStaller(t *testing.T, c *chain.Chain) (addr string, requests <-chan int) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &staller{c: c, requests: make(chan int, 1000)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			p := peer.New(conn, true, peer.Config{Magic: chain.Regtest.Magic, Services: wire.SFNodeNetwork,
				StartHeight: func() int32 { return c.Tip().Height }}, s)
			wg.Go(func() { _ = p.Run(ctx) })
		}
	})
	t.Cleanup(func() { cancel(); _ = l.Close(); wg.Wait() })
	return l.Addr().String(), s.requests
}

func TestParallelSyncFromFourPeers(t *testing.T) {
	blocks := syncChain(t)
	var sources []*testNode
	var addrs []string
	for range 4 {
		n := startNode(t, holding(t, blocks), nil)
		sources = append(sources, n)
		addrs = append(addrs, n.srv.ListenAddr().String())
	}
	start := time.Now()
	fresh := startNode(t, chaintest.New(t, chain.Regtest), func(c *Config) { c.Connect = addrs })
	fresh.waitTip(blocks[len(blocks)-1].Hash())
	t.Logf("synced %d blocks in %v: %+v", len(blocks), time.Since(start), fresh.srv.Stats())
	for i, n := range sources {
		served := n.srv.Stats().BlocksServed
		if served == 0 {
			t.Errorf("peer %d served no blocks: the download was not parallel", i)
		}
		t.Logf("peer %d served %d blocks", i, served)
	}
	want, _ := sources[0].h.Chain.UTXOStats()
	got, _ := fresh.h.Chain.UTXOStats()
	if got != want {
		t.Fatal("the synced UTXO set differs from the source's")
	}
}

func TestSyncSurvivesStallingAndLeavingPeers(t *testing.T) {
	blocks := syncChain(t)
	good1 := startNode(t, holding(t, blocks), nil)
	good2 := startNode(t, holding(t, blocks), nil)
	stallAddr, requests := startStaller(t, holding(t, blocks).Chain)

	// The leaver serves the whole chain but goes away mid-sync.
	leaverHarness := holding(t, blocks)
	leaver := startLeaver(t, leaverHarness)

	fresh := startNode(t, chaintest.New(t, chain.Regtest), func(c *Config) {
		c.Connect = []string{good1.srv.ListenAddr().String(), good2.srv.ListenAddr().String(), stallAddr,
			leaver.addr}
	})
	// Wait until the staller has been asked for blocks, then until the sync
	// is part way, and stop the leaver.
	select {
	case <-requests:
	case <-time.After(60 * time.Second):
		t.Fatal("the stalling peer was never asked for blocks")
	}
	fresh.waitTip(blocks[1500].Hash())
	leaver.stop()
	fresh.waitTip(blocks[len(blocks)-1].Hash())
	if st := fresh.srv.Stats(); st.Stalls == 0 {
		t.Fatalf("no stall was detected: %+v", st)
	}
	t.Logf("sync complete: %+v", fresh.srv.Stats())
}

// leaver is a node that can be stopped while others still run.
type leaver struct {
	addr string
	stop func()
}

func startLeaver(t *testing.T, h *chaintest.Harness) *leaver {
	srv, err := New(Config{Chain: h.Chain, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Run(ctx) })
	<-srv.Started()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return &leaver{addr: srv.ListenAddr().String(), stop: stop}
}
