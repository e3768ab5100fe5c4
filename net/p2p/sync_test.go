package p2p

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// testChain is the sync tests' chain: 1,300 regtest blocks (more than the
// download window), every tenth from height 101 spending an old coinbase.
var (
	testChainOnce   sync.Once
	testChainBlocks []*wire.Block
)

func testChain(tb testing.TB) []*wire.Block {
	testChainOnce.Do(func() { testChainBlocks = spendingChain(tb, 1300, 10) })
	return testChainBlocks
}

func TestParallelSyncFromFourPeers(t *testing.T) {
	blocks := testChain(t)
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		var sources []*testNode
		var addrs []string
		for range 4 {
			n := tn.start(chainOf(t, blocks), nil)
			sources = append(sources, n)
			addrs = append(addrs, n.addr)
		}
		fresh := tn.start(chaintest.New(t, chain.Regtest), func(c *Config) { c.Connect = addrs })
		fresh.waitTip(blocks[len(blocks)-1].Hash())
		for i, n := range sources {
			served := n.srv.Stats().BlocksServed
			if served == 0 {
				t.Errorf("peer %d served no blocks: the download was not parallel", i)
			}
			t.Logf("peer %d served %d blocks", i, served)
		}
		if st := fresh.srv.Stats(); st.BlocksReceived != uint64(len(blocks)) || st.Stalls != 0 {
			t.Errorf("received %d blocks for %d, %d stalls", st.BlocksReceived, len(blocks), st.Stalls)
		}
		want, _ := sources[0].h.Chain.UTXOStats()
		got, _ := fresh.h.Chain.UTXOStats()
		if got != want {
			t.Fatal("the synced UTXO set differs from the source's")
		}
	})
}

// staller serves headers from a chain but never answers a request for
// blocks: a peer that stalls a sync.
type staller struct {
	ctx      context.Context
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
		select { // and never answers
		case s.requests <- len(m.Inv):
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
	return nil
}

// startStaller listens on a new host of tn and stalls everyone who connects.
func startStaller(t *testing.T, tn *testNet, c *chain.Chain) (addr string, requests <-chan int) {
	host := tn.host()
	l, err := host.Listen(t.Context(), ":8333")
	if err != nil {
		t.Fatal(err)
	}
	s := &staller{ctx: t.Context(), c: c, requests: make(chan int, 1000)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			p := peer.New(conn, true, peer.Config{Magic: chain.Regtest.Magic, Services: wire.SFNodeNetwork,
				StartHeight: func() int32 { return c.Tip().Height }}, s)
			wg.Go(func() { _ = p.Run(t.Context()) })
		}
	})
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	return l.Addr().String(), s.requests
}

func TestSyncSurvivesStallingAndLeavingPeers(t *testing.T) {
	blocks := testChain(t)
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		good1 := tn.start(chainOf(t, blocks), nil)
		good2 := tn.start(chainOf(t, blocks), nil)
		stallAddr, requests := startStaller(t, tn, chainOf(t, blocks).Chain)
		// The leaver serves the whole chain but goes away mid-sync.
		leaver := tn.start(chainOf(t, blocks), nil)

		fresh := tn.start(chaintest.New(t, chain.Regtest), func(c *Config) {
			c.Connect = []string{good1.addr, good2.addr, stallAddr, leaver.addr}
		})
		// Wait until the staller has been asked for blocks, then until the
		// sync is part way, and stop the leaver.
		select {
		case <-requests:
		case <-time.After(time.Minute):
			t.Fatal("the stalling peer was never asked for blocks")
		}
		fresh.waitTip(blocks[400].Hash())
		leaver.stop()
		fresh.waitTip(blocks[len(blocks)-1].Hash())
		if st := fresh.srv.Stats(); st.Stalls == 0 {
			t.Fatalf("no stall was detected: %+v", st)
		}
		t.Logf("sync complete: %+v", fresh.srv.Stats())
	})
}

// fakeData is the scheduler's chain: a real chain's index (headers only),
// with bodies "stored" as the test says.
type fakeData struct {
	*chain.Chain
	mu   sync.Mutex
	have map[*chain.Node]bool
}

func (f *fakeData) Missing(list []*chain.Node, max int) []*chain.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*chain.Node
	for _, n := range list {
		if len(out) == max {
			break
		}
		if !f.have[n] {
			out = append(out, n)
		}
	}
	return out
}

func (f *fakeData) store(nodes ...*chain.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range nodes {
		f.have[n] = true
	}
}

// headerChain returns a chain that knows n regtest headers (and no blocks
// but genesis) and its index nodes by height.
func headerChain(t *testing.T, n int) (*fakeData, []*chain.Node) {
	t.Helper()
	src := chaintest.New(t, chain.Regtest)
	var hs []wire.Header
	for _, b := range src.Mine(n) {
		hs = append(hs, b.Header)
	}
	dst := chaintest.New(t, chain.Regtest)
	for len(hs) > 0 {
		k := min(len(hs), wire.MaxHeaders)
		if _, err := dst.Chain.ProcessHeaders(hs[:k]); err != nil {
			t.Fatal(err)
		}
		hs = hs[k:]
	}
	nodes := []*chain.Node{dst.Chain.NodeAt(0)}
	for best := dst.Chain.BestHeader(); len(nodes) <= n; {
		nodes = append(nodes, best.Ancestor(int32(len(nodes))))
	}
	return &fakeData{Chain: dst.Chain, have: map[*chain.Node]bool{}}, nodes
}

// fakePeer is a peer as the scheduler sees it: an address, no connection.
func fakePeer(i int) *peerState {
	return newPeerState(outbound, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 8333), time.Time{})
}

// heights lists the heights of a batch's blocks.
func heights(nodes []*chain.Node, inv []wire.InvVect) []int32 {
	at := map[sha256d.Hash]int32{}
	for _, n := range nodes {
		at[n.Hash] = n.Height
	}
	var out []int32
	for _, iv := range inv {
		out = append(out, at[iv.Hash])
	}
	return out
}

func span(from, to int32) []int32 {
	var out []int32
	for h := from; h <= to; h++ {
		out = append(out, h)
	}
	return out
}

func TestScheduler(t *testing.T) {
	data, nodes := headerChain(t, 1500)
	newSched := func() *scheduler {
		data.mu.Lock()
		clear(data.have)
		data.mu.Unlock()
		return newScheduler(data, slog.New(slog.DiscardHandler))
	}
	t0 := time.Unix(1_700_000_000, 0)

	t.Run("batches go to the least loaded peer that has the blocks, 16 each", func(t *testing.T) {
		d := newSched()
		a, b := fakePeer(1), fakePeer(2)
		d.add(a)
		d.add(b)
		d.noteBest(a, nodes[1500])
		d.noteBest(b, nodes[1500])
		got := d.next(t0)
		if fmt.Sprint(heights(nodes, got[a])) != fmt.Sprint(oddEven(1, 32, true)) ||
			fmt.Sprint(heights(nodes, got[b])) != fmt.Sprint(oddEven(1, 32, false)) {
			t.Fatalf("a got %v, b got %v", heights(nodes, got[a]), heights(nodes, got[b]))
		}
		if again := d.next(t0); len(again) != 0 {
			t.Fatalf("peers with 16 in flight were given more: %v", again)
		}
	})

	t.Run("a peer gets only blocks its chain has", func(t *testing.T) {
		d := newSched()
		short, long := fakePeer(1), fakePeer(2)
		d.add(short)
		d.add(long)
		d.noteBest(short, nodes[5])
		d.noteBest(long, nodes[1500])
		got := d.next(t0)
		for _, h := range heights(nodes, got[short]) {
			if h > 5 {
				t.Fatalf("the peer that has 5 blocks was asked for block %d", h)
			}
		}
		if len(got[short]) == 0 || len(got[long]) != MaxInFlight {
			t.Fatalf("short got %d, long %d", len(got[short]), len(got[long]))
		}
	})

	t.Run("the window is 1024 blocks past the tip", func(t *testing.T) {
		d := newSched()
		for i := range 80 { // 80 × 16 slots: more than the window
			p := fakePeer(i + 1)
			d.add(p)
			d.noteBest(p, nodes[1500])
		}
		var all []int32
		for _, inv := range d.next(t0) {
			all = append(all, heights(nodes, inv)...)
		}
		if len(all) != DownloadWindow {
			t.Fatalf("%d blocks asked for, want the window's %d", len(all), DownloadWindow)
		}
		for _, h := range all {
			if h < 1 || h > DownloadWindow {
				t.Fatalf("block %d asked for, outside the window 1-%d", h, DownloadWindow)
			}
		}
	})

	t.Run("a stall takes the blocks away after the timeout, which doubles", func(t *testing.T) {
		d := newSched()
		slow, fast := fakePeer(1), fakePeer(2)
		d.add(slow)
		d.add(fast)
		d.noteBest(slow, nodes[1500])
		d.noteBest(fast, nodes[1500])
		now := t0
		got := d.next(now)
		slowHas := heights(nodes, got[slow])
		if slowHas[0] != 1 {
			t.Fatalf("the slow peer was not given the first block: %v", slowHas)
		}
		// The fast peer delivers everything it is given until the window
		// holds nothing else for it; the slow one delivers nothing.
		for batch := got[fast]; len(batch) > 0; {
			for _, iv := range batch {
				n := data.NodeByHash(iv.Hash)
				data.store(n)
				d.delivered(fast, n.Hash)
			}
			batch = d.next(now)[fast]
		}
		if s := d.stallCount(); s != 0 {
			t.Fatalf("a stall before the timeout: %d", s)
		}
		now = now.Add(StallTimeout - time.Millisecond)
		d.next(now)
		if s := d.stallCount(); s != 0 {
			t.Fatalf("a stall %v after the window blocked", StallTimeout-time.Millisecond)
		}
		now = now.Add(2 * time.Millisecond)
		got = d.next(now) // the stall is declared; the blocks go to the fast peer at once or next time
		if s := d.stallCount(); s != 1 {
			t.Fatalf("%d stalls %v after the window blocked, want 1", d.stallCount(), StallTimeout+time.Millisecond)
		}
		if d.stallTimeout != 2*StallTimeout {
			t.Fatalf("stall timeout %v after one stall, want %v", d.stallTimeout, 2*StallTimeout)
		}
		if len(got[fast]) == 0 {
			got = d.next(now)
		}
		if h := heights(nodes, got[fast]); len(h) == 0 || h[0] != 1 {
			t.Fatalf("after the stall the fast peer got %v, want block 1 first", h)
		}
		if len(got[slow]) != 0 {
			t.Fatalf("the stalling peer was given %v while another could serve them", heights(nodes, got[slow]))
		}
		// Deliveries relax the timeout again (Core's 0.85 a block).
		for _, iv := range got[fast] {
			d.delivered(fast, iv.Hash)
		}
		if d.stallTimeout != StallTimeout {
			t.Fatalf("stall timeout %v after %d deliveries, want back at %v", d.stallTimeout, len(got[fast]), StallTimeout)
		}
	})

	t.Run("a peer that leaves loses its requests to the others", func(t *testing.T) {
		d := newSched()
		a, b := fakePeer(1), fakePeer(2)
		d.add(a)
		d.add(b)
		d.noteBest(a, nodes[1500])
		d.noteBest(b, nodes[1500])
		first := d.next(t0)
		aHad := heights(nodes, first[a])
		for _, iv := range first[b] { // b delivers, so it has room again
			data.store(data.NodeByHash(iv.Hash))
			d.delivered(b, iv.Hash)
		}
		d.remove(a)
		got := heights(nodes, d.next(t0)[b])
		if fmt.Sprint(got) != fmt.Sprint(aHad) {
			t.Fatalf("after a left, b got %v, want a's %v", got, aHad)
		}
	})

	t.Run("notfound releases the requests for another peer", func(t *testing.T) {
		d := newSched()
		a := fakePeer(1)
		d.add(a)
		d.noteBest(a, nodes[1500])
		got := d.next(t0)[a]
		d.notFound(a, []sha256d.Hash{got[0].Hash, got[1].Hash})
		if _, inflight := d.peerInfo(a); inflight != MaxInFlight-2 {
			t.Fatalf("%d in flight after 2 notfound, want %d", inflight, MaxInFlight-2)
		}
		again := heights(nodes, d.next(t0)[a])
		if fmt.Sprint(again) != fmt.Sprint(heights(nodes, got[:2])) {
			t.Fatalf("the released blocks were asked for again as %v", again)
		}
	})

	t.Run("nothing to do when the tip is the best header", func(t *testing.T) {
		d := newScheduler(chaintest.New(t, chain.Regtest).Chain, slog.New(slog.DiscardHandler))
		a := fakePeer(1)
		d.add(a)
		if got := d.next(t0); len(got) != 0 {
			t.Fatalf("asked for %v with nothing to download", got)
		}
	})
}

// oddEven lists the odd (or even) numbers of from..to: how two equally
// loaded peers share consecutive blocks.
func oddEven(from, to int32, odd bool) []int32 {
	var out []int32
	for _, h := range span(from, to) {
		if (h%2 == 1) == odd {
			out = append(out, h)
		}
	}
	return out
}
