package chain_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/holiman/uint256"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/wire"
)

// retargetParams is regtest with Bitcoin's retargeting every 4 blocks, so
// that a test chain can make its tip's blocks cost much more work than a
// fork's: the situation in which cheap headers could flood the index.
func retargetParams() *chain.Params {
	p := *chain.Regtest
	p.Name = "regtest-retarget"
	p.Difficulty = chain.RetargetBitcoin
	p.TargetSpacing = 12
	p.TargetTimespan = 48 // a retarget every 4 blocks, at most 4x either way
	return &p
}

// hardChain mines a chain on p: 20 blocks one second apart (five retargets
// that make blocks harder: over 1024x the easiest; more, in fact, because the
// first one's target times the timespan overflows 256 bits, which only a
// limit as easy as regtest's allows), then the rest at that difficulty
// (blocks 16 seconds apart, what the schedule wants).
func hardChain(t *testing.T, p *chain.Params, height int) *chaintest.Harness {
	h := chaintest.New(t, p)
	for i := 1; i <= height; i++ {
		parent := h.Chain.Tip()
		b := h.Next(parent, 0)
		step := uint32(1)
		if i > 20 {
			step = 16
		}
		b.Header.Time = parent.Header.Time + step
		b.Header.Bits = p.NextBits(parent)
		chaintest.Solve(t, &b.Header)
		if _, err := h.Chain.ProcessBlock(b, nil); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	w := chain.Work(h.Chain.Tip().Header.Bits)
	if easy := chain.Work(p.PowLimitBits); w.Lt(uint256.NewInt(0).Mul(&easy, uint256.NewInt(1024))) {
		t.Fatalf("tip's work per block %s, want at least 1024 times %s", w.Dec(), easy.Dec())
	}
	return h
}

// cheapHeaders returns n headers at the easiest difficulty on parent, 100
// seconds apart (so retargeting keeps them at the limit).
func cheapHeaders(t *testing.T, p *chain.Params, parent *chain.Node, n int) []wire.Header {
	hs := make([]wire.Header, n)
	for i := range hs {
		hs[i] = wire.Header{Version: 4, PrevBlock: parent.Hash, Time: parent.Header.Time + 100, Bits: p.NextBits(parent),
			MerkleRoot: [32]byte{byte(i), byte(i >> 8), 0x5a}}
		chaintest.Solve(t, &hs[i])
		parent = chain.NewTestNode(&hs[i], parent)
	}
	return hs
}

func TestWorkThreshold(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	w := chain.Work(chain.Regtest.PowLimitBits)
	if got := h.Chain.WorkThreshold(); !got.IsZero() {
		t.Fatalf("threshold at genesis %s, want 0", got.Dec())
	}
	h.Mine(200)
	// 201 blocks of work (genesis too) less 144 blocks' worth.
	want := new(uint256.Int).Mul(&w, uint256.NewInt(201-chain.ThresholdBlocks))
	if got := h.Chain.WorkThreshold(); got.Cmp(want) != 0 {
		t.Fatalf("threshold at height 200 %s, want %s", got.Dec(), want.Dec())
	}
}

// Headers from a peer on a chain within reach of the tip are stored at once;
// headers whose chain is below the threshold are held until the chain they
// form reaches it, then stored together.
func TestHeaderSyncHoldsUntilThreshold(t *testing.T) {
	p := retargetParams()
	h := hardChain(t, p, 169) // threshold: some 7,500 blocks at the easiest difficulty
	genesis := h.Chain.NodeAt(0)
	// The fork from genesis at the easiest difficulty reaches the threshold
	// at this height: several headers messages on.
	threshold := h.Chain.WorkThreshold()
	easy := chain.Work(p.PowLimitBits)
	need := int(new(uint256.Int).Div(&threshold, &easy).Uint64()) // a header at height k carries k+1 of them
	if need < 3*wire.MaxHeaders || need > chain.MaxSyncHeaders {
		t.Fatalf("the fork reaches the threshold at height %d: not a test of holding several messages", need)
	}
	msgs := need/wire.MaxHeaders + 1
	fork := cheapHeaders(t, p, genesis, msgs*wire.MaxHeaders)
	before := chain.IndexLen(h.Chain)

	s := h.Chain.NewHeaderSync()
	defer s.Close()
	for i := 0; i < msgs-1; i++ {
		msg := fork[i*wire.MaxHeaders : (i+1)*wire.MaxHeaders]
		last, err := s.Process(msg)
		if !errors.Is(err, chain.ErrLowWork) || last != nil {
			t.Fatalf("message %d: %v, %v; want ErrLowWork", i, last, err)
		}
		if s.Held() != (i+1)*wire.MaxHeaders || chain.IndexLen(h.Chain) != before {
			t.Fatalf("message %d: %d held, index %d (was %d)", i, s.Held(), chain.IndexLen(h.Chain), before)
		}
		// The locator continues from the last header held.
		if loc := s.Locator(); loc[0] != msg[len(msg)-1].Hash() {
			t.Fatalf("locator starts at %s, want the last header held", loc[0])
		}
	}
	last, err := s.Process(fork[(msgs-1)*wire.MaxHeaders:])
	if err != nil {
		t.Fatal(err)
	}
	if last == nil || last.Hash != fork[len(fork)-1].Hash() || last.Height != int32(len(fork)) {
		t.Fatalf("last stored %v, want the last header at height %d", last, len(fork))
	}
	if last.Work.Lt(&threshold) {
		t.Fatal("stored a chain below the threshold")
	}
	if got := chain.IndexLen(h.Chain); got != before+len(fork) || s.Held() != 0 || chain.SyncHeld(h.Chain) != 0 {
		t.Fatalf("index %d (want %d), %d still held (%d in all)", got, before+len(fork), s.Held(), chain.SyncHeld(h.Chain))
	}
	h.Reopen() // and they are in the store
	if got := chain.IndexLen(h.Chain); got != before+len(fork) {
		t.Fatalf("index %d after reopening, want %d", got, before+len(fork))
	}

	// A second peer with the same chain: while it holds part of it, the
	// first stores the whole; its held headers are then found in the index
	// and the rest of its messages are known headers.
	h3 := hardChain(t, p, 169)
	s4 := h3.Chain.NewHeaderSync()
	defer s4.Close()
	for i := 0; i < msgs-1; i++ {
		if _, err := s4.Process(fork[i*wire.MaxHeaders : (i+1)*wire.MaxHeaders]); !errors.Is(err, chain.ErrLowWork) {
			t.Fatalf("second peer, message %d: %v", i, err)
		}
	}
	other := h3.Chain.NewHeaderSync()
	defer other.Close()
	for i := 0; i < msgs; i++ {
		_, err := other.Process(fork[i*wire.MaxHeaders : (i+1)*wire.MaxHeaders])
		if i < msgs-1 && !errors.Is(err, chain.ErrLowWork) || i == msgs-1 && err != nil {
			t.Fatalf("first peer, message %d: %v", i, err)
		}
	}
	if last, err := s4.Process(fork[(msgs-1)*wire.MaxHeaders:]); err != nil || last.Hash != fork[len(fork)-1].Hash() {
		t.Fatalf("second peer's last message after the first stored the chain: %v, %v", last, err)
	}
	if s4.Held() != 0 || chain.SyncHeld(h3.Chain) != 0 {
		t.Fatalf("%d held by the second peer, %d in all, after its chain was stored", s4.Held(), chain.SyncHeld(h3.Chain))
	}

	// A chain near the tip is stored at once.
	h2 := chaintest.New(t, chain.Regtest)
	h2.Mine(200)
	near := cheapHeaders(t, chain.Regtest, h2.Chain.NodeAt(100), 10)
	s2 := h2.Chain.NewHeaderSync()
	defer s2.Close()
	if last, err := s2.Process(near); err != nil || last.Hash != near[9].Hash() {
		t.Fatalf("a fork from 100 blocks back: %v, %v", last, err)
	}
}

// A flood of headers on a chain that stays below the threshold leaves the
// index and the store unchanged, and what it holds is bounded per peer
// (MaxSyncHeaders) and in all (MaxSyncHeadersTotal), in count and in bytes.
func TestLowWorkHeaderFlood(t *testing.T) {
	p := retargetParams()
	h := hardChain(t, p, 200) // threshold: some 39,000 blocks at the easiest difficulty
	genesis := h.Chain.NodeAt(0)
	flood := cheapHeaders(t, p, genesis, chain.MaxSyncHeaders+wire.MaxHeaders)
	before := chain.IndexLen(h.Chain)

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc

	const peers = 10 // more than MaxSyncHeadersTotal allows at MaxSyncHeaders each
	syncs := make([]*chain.HeaderSync, peers)
	tooMany := 0
	for i := range syncs {
		s := h.Chain.NewHeaderSync()
		syncs[i] = s
		for k := 0; k*wire.MaxHeaders < len(flood); k++ {
			_, err := s.Process(flood[k*wire.MaxHeaders : (k+1)*wire.MaxHeaders])
			if errors.Is(err, chain.ErrTooManyHeaders) {
				tooMany++
				break
			}
			if !errors.Is(err, chain.ErrLowWork) {
				t.Fatalf("peer %d, message %d: %v; want ErrLowWork", i, k, err)
			}
			if s.Held() > chain.MaxSyncHeaders || chain.SyncHeld(h.Chain) > chain.MaxSyncHeadersTotal {
				t.Fatalf("peer %d holds %d, all %d: over the bounds", i, s.Held(), chain.SyncHeld(h.Chain))
			}
		}
		// Hold what it may, again (the error dropped it): the next peers
		// then meet the total bound.
		for k := 0; k < chain.MaxSyncHeaders/wire.MaxHeaders; k++ {
			if _, err := s.Process(flood[k*wire.MaxHeaders : (k+1)*wire.MaxHeaders]); errors.Is(err, chain.ErrTooManyHeaders) {
				break
			}
		}
	}
	if tooMany != peers {
		t.Fatalf("%d of %d peers were stopped by a bound", tooMany, peers)
	}
	held := chain.SyncHeld(h.Chain)
	if held > chain.MaxSyncHeadersTotal || held < chain.MaxSyncHeadersTotal-chain.MaxSyncHeaders {
		t.Fatalf("%d headers held in all, want close to MaxSyncHeadersTotal (%d)", held, chain.MaxSyncHeadersTotal)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	perHeader := float64(int64(ms.HeapAlloc)-int64(heapBefore)) / float64(held)
	t.Logf("%d headers held by %d peers: %.0f bytes of heap each", held, peers, perHeader)
	const maxPerHeader = 300 // a Node (200 bytes, 208 allocated) and a pointer, with slack for the slices' growth
	if perHeader > maxPerHeader {
		t.Fatalf("%.0f bytes of heap per held header, over %d", perHeader, maxPerHeader)
	}
	if got := chain.IndexLen(h.Chain); got != before {
		t.Fatalf("index %d after the flood, was %d", got, before)
	}
	for _, s := range syncs {
		s.Close()
	}
	if chain.SyncHeld(h.Chain) != 0 {
		t.Fatalf("%d headers held after every HeaderSync closed", chain.SyncHeld(h.Chain))
	}
	h.Reopen()
	if got := chain.IndexLen(h.Chain); got != before {
		t.Fatalf("index %d in the store after the flood, was %d", got, before)
	}
}

// A peer whose chain ends below the threshold (a headers message that is not
// full) is let go: its headers are dropped with ErrNotUseful.
func TestHeaderSyncShortChainDropped(t *testing.T) {
	p := retargetParams()
	h := hardChain(t, p, 163)
	s := h.Chain.NewHeaderSync()
	defer s.Close()
	hs := cheapHeaders(t, p, h.Chain.NodeAt(0), 50)
	if _, err := s.Process(hs); !errors.Is(err, chain.ErrNotUseful) {
		t.Fatalf("error = %v, want ErrNotUseful", err)
	}
	if s.Held() != 0 || chain.SyncHeld(h.Chain) != 0 || h.Chain.NodeByHash(hs[0].Hash()) != nil {
		t.Fatal("a short low-work chain was kept")
	}
	// Headers that do not follow one another are refused.
	bad := cheapHeaders(t, p, h.Chain.NodeAt(0), 3)
	bad[2].PrevBlock = bad[0].Hash()
	if _, err := s.Process(bad); !errors.Is(err, chain.ErrUnknownParent) {
		t.Fatalf("headers out of sequence: %v", err)
	}
	// A header breaking a rule is refused as by ProcessHeaders.
	bad = cheapHeaders(t, p, h.Chain.NodeAt(0), 2)
	bad[1].Bits = 0x1d00ffff
	if _, err := s.Process(bad); !errors.Is(err, chain.ErrInvalidBlock) {
		t.Fatalf("a header with the wrong bits: %v", err)
	}
}

// dirSize is the bytes of the files under dir.
func dirSize(t *testing.T, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// 100 unrequested ~500 KB blocks forking from genesis, given to a chain at
// height 200, are ignored: the data directory grows by less than 10 MB
// (they are 50 MB).
func TestUnrequestedLowWorkBlocksNotStored(t *testing.T) {
	h := chaintest.OnDisk(t, chain.Regtest)
	h.Mine(200)
	if err := h.Chain.Flush(); err != nil {
		t.Fatal(err)
	}
	before := dirSize(t, h.Dir)
	parent := h.Chain.NodeAt(0)
	sent := 0
	for i := range 100 {
		b := bigBlock(t, chain.Regtest, parent, 500_000, uint64(1000+i))
		raw, _ := b.AppendBinary(nil)
		sent += len(raw)
		_, err := h.Chain.ProcessUnrequested(b, raw)
		switch {
		case i == 0 && !errors.Is(err, chain.ErrNotUseful):
			t.Fatalf("block 1 of the fork: %v, want ErrNotUseful", err)
		case i > 0 && !errors.Is(err, chain.ErrUnknownParent):
			t.Fatalf("block %d of the fork: %v, want ErrUnknownParent (its parent was not stored)", i+1, err)
		}
		parent = chain.NewTestNode(&b.Header, parent)
	}
	// Siblings are ignored too.
	for i := range 5 {
		if _, err := h.Chain.ProcessUnrequested(bigBlock(t, chain.Regtest, h.Chain.NodeAt(0), 500_000, uint64(i)), nil); !errors.Is(err, chain.ErrNotUseful) {
			t.Fatalf("sibling %d: %v", i, err)
		}
	}
	if err := h.Chain.Flush(); err != nil {
		t.Fatal(err)
	}
	grew := dirSize(t, h.Dir) - before
	t.Logf("%d bytes of unrequested blocks sent; the data directory grew by %d bytes", sent, grew)
	if grew >= 10<<20 {
		t.Fatalf("the data directory grew by %d bytes", grew)
	}
	if n, _ := h.Chain.Orphans(); n != 0 {
		t.Fatalf("%d unrequested blocks held as orphans", n)
	}
	if tip := h.Chain.Tip(); tip.Height != 200 {
		t.Fatalf("tip moved to %d", tip.Height)
	}
	if h.Chain.NodeByHash(parent.Ancestor(1).Hash) != nil {
		t.Fatal("the header of the first fork block, below the work threshold, was stored")
	}

	// A fork near the tip (above the work threshold, below the tip's work):
	// the bodies are ignored, the headers kept, so that the next block of
	// the fork is judged by its work and not as an orphan.
	near := h.Chain.NodeAt(189)
	for i := range 3 {
		b := bigBlock(t, chain.Regtest, near, 1000, uint64(2000+i))
		n, err := h.Chain.ProcessUnrequested(b, nil)
		if !errors.Is(err, chain.ErrNotUseful) || n == nil || n.Hash != b.Hash() {
			t.Fatalf("fork block %d from height 189: %v, %v; want its header and ErrNotUseful", i+1, n, err)
		}
		if h.Chain.Status(n)&chain.StatusHaveData != 0 {
			t.Fatalf("fork block %d from height 189: its body was stored", i+1)
		}
		near = n
	}
}

// Unrequested blocks that would make the best chain are processed; one far
// above the tip (the node is still syncing towards it) is not.
func TestUnrequestedUsefulBlocks(t *testing.T) {
	src := chaintest.New(t, chain.Regtest)
	blocks := src.Mine(chain.MaxUnrequestedAhead + 5)
	dst := chaintest.New(t, chain.Regtest)
	hs := make([]wire.Header, len(blocks))
	for i, b := range blocks {
		hs[i] = b.Header
	}
	if _, err := dst.Chain.ProcessHeaders(hs); err != nil {
		t.Fatal(err)
	}
	far := blocks[len(blocks)-1]
	if _, err := dst.Chain.ProcessUnrequested(far, nil); !errors.Is(err, chain.ErrNotUseful) {
		t.Fatalf("a block %d above the tip: %v, want ErrNotUseful", len(blocks), err)
	}
	if st := dst.Chain.Status(dst.Chain.NodeByHash(far.Hash())); st&chain.StatusHaveData != 0 {
		t.Fatal("the far block was stored")
	}
	if n, err := dst.Chain.ProcessUnrequested(blocks[0], nil); err != nil || n.Height != 1 || dst.Chain.Tip() != n {
		t.Fatalf("the next block, unrequested: %v, %v", n, err)
	}
	if _, err := dst.Chain.ProcessUnrequested(blocks[0], nil); !errors.Is(err, chain.ErrDuplicate) {
		t.Fatalf("again: %v, want ErrDuplicate", err)
	}
}

// Header-only side branches that fall below the threshold are dropped from
// the index and the store; branches with bodies, and anything a kept entry
// descends from, stay.
func TestSideBranchesPruned(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	h.Mine(20)
	stale := cheapHeaders(t, chain.Regtest, h.Chain.NodeAt(10), 5) // header-only, forks at 10
	if _, err := h.Chain.ProcessHeaders(stale); err != nil {
		t.Fatal(err)
	}
	withBody := h.Next(h.Chain.NodeAt(12), 0) // a side block we have
	if _, err := h.Chain.ProcessBlock(withBody, nil); err != nil {
		t.Fatal(err)
	}
	// A long header-only branch from 14: its first headers fall below the
	// threshold, but its last stay above (it is the best header), so all stay.
	long := cheapHeaders(t, chain.Regtest, h.Chain.NodeAt(14), 20+chain.ThresholdBlocks+3*chain.PruneInterval)
	if _, err := h.Chain.ProcessHeaders(long); err != nil {
		t.Fatal(err)
	}
	h.Mine(chain.ThresholdBlocks + 2*chain.PruneInterval)
	if err := h.Chain.Flush(); err != nil { // commits (catching up towards long, they are batched) prune
		t.Fatal(err)
	}
	for _, hd := range long {
		if h.Chain.NodeByHash(hd.Hash()) == nil {
			t.Fatalf("header %s of a branch leading above the threshold was pruned", hd.Hash())
		}
	}
	for _, hd := range stale {
		if h.Chain.NodeByHash(hd.Hash()) != nil {
			t.Fatalf("header %s of a stale branch still indexed", hd.Hash())
		}
	}
	if h.Chain.NodeByHash(withBody.Hash()) == nil {
		t.Fatal("a side block with a body was pruned")
	}
	before := chain.IndexLen(h.Chain)
	h.Reopen()
	if got := chain.IndexLen(h.Chain); got != before {
		t.Fatalf("index %d after reopening, %d before: the store kept pruned entries", got, before)
	}
	for _, hd := range stale {
		if h.Chain.NodeByHash(hd.Hash()) != nil {
			t.Fatalf("header %s of a stale branch back after reopening", hd.Hash())
		}
	}
}
