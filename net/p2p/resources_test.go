package p2p

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// bigBlocks mines n blocks on h whose coinbase pays to a script of size
// bytes: blocks of about that size, cheap to make.
func bigBlocks(t *testing.T, h *chaintest.Harness, n, size int) []*wire.Block {
	t.Helper()
	script := bytes.Repeat([]byte{0x00}, size) // OP_0s: valid to create, no sigops
	var out []*wire.Block
	for i := range n {
		b := chaintest.Block(t, h.Params, h.Chain.Tip(), script, 0, uint64(1000+i))
		if _, err := h.Chain.ProcessBlock(b, nil); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// A peer that asks for 2,000 blocks in one getdata, far more than its send
// buffer, and reads slowly, gets all of them and stays connected: served at
// its pace, not dropped for asking.
func TestGreedyGetDataIsServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		h := chaintest.New(t, chain.Regtest)
		blocks := h.Mine(2000)
		src := tn.start(h, func(c *Config) { c.SendBuffer = 32 << 10 })
		r := tn.dialRaw(src)
		var inv []wire.InvVect
		for _, b := range blocks {
			inv = append(inv, wire.InvVect{Type: wire.InvBlock, Hash: b.Hash()})
		}
		r.send(&wire.MsgGetData{Inv: inv})
		got := 0
		for got < len(blocks) {
			f, err := r.next()
			if err != nil {
				t.Fatalf("after %d of %d blocks: %v", got, len(blocks), err)
			}
			if f.Header.Command == wire.CmdBlock {
				got++
				if got%100 == 0 {
					passTime(time.Second) // a slow reader
				}
			}
		}
		peers := src.srv.Peers()
		if len(peers) != 1 {
			t.Fatalf("the greedy peer is gone: %v", src.srv.Stats().Disconnects)
		}
		if st := peers[0].Stats; st.SendPauses == 0 {
			t.Errorf("the send buffer never filled (pauses %d): the test did not test pausing", st.SendPauses)
		}
		if served := src.srv.Stats().BlocksServed; served != uint64(len(blocks)) {
			t.Errorf("served %d blocks, want %d", served, len(blocks))
		}
	})
}

// A peer that names blocks it never reads costs at most its send buffer
// plus a block (and what the connection buffers), and is dropped when a
// write makes no progress for the write timeout. A block named 50,000
// times in one getdata is served once.
func TestGetDataNonReaderBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		h := chaintest.New(t, chain.Regtest)
		const size = 100_000
		blocks := bigBlocks(t, h, 60, size)
		const buffer = 1 << 20
		src := tn.start(h, func(c *Config) { c.SendBuffer = buffer })

		same := tn.dialRaw(src)
		one := make([]wire.InvVect, wire.MaxInvEntries)
		for i := range one {
			one[i] = wire.InvVect{Type: wire.InvBlock, Hash: blocks[0].Hash()}
		}
		same.send(&wire.MsgGetData{Inv: one})
		same.expect(wire.CmdBlock)
		same.send(&wire.MsgPing{Nonce: 7})
		if pong := same.expect(wire.CmdPong).(*wire.MsgPong); pong.Nonce != 7 {
			t.Fatal("wrong pong")
		}
		if served := src.srv.Stats().BlocksServed; served != 1 {
			t.Fatalf("one block named 50,000 times was served %d times", served)
		}

		r := tn.dialRaw(src)
		var inv []wire.InvVect
		for _, b := range blocks {
			inv = append(inv, wire.InvVect{Type: wire.InvBlock, Hash: b.Hash()})
		}
		before := src.srv.Stats().BlocksServed
		r.send(&wire.MsgGetData{Inv: inv}) // and never read again
		ev := src.waitPeer("the non-reader's disconnect", func(e PeerEvent) bool { return !e.Connected && e.Reason == ReasonSlow })
		if !errors.Is(ev.Err, peer.ErrSlowPeer) && DisconnectReason(ev.Err) != ReasonSlow {
			t.Errorf("ended with %v", ev.Err)
		}
		// What it got queued: the send buffer, one block over it, and what
		// the connection itself buffers (memnet's 256 KiB each way).
		served := src.srv.Stats().BlocksServed - before
		if limit := uint64((buffer+256<<10)/size + 2); served > limit {
			t.Errorf("%d blocks of %d bytes were queued for a peer that reads nothing, want at most %d", served, size, limit)
		}
		t.Logf("served %d blocks of %d to the non-reader before dropping it: %v", served, len(blocks), ev.Err)
	})
}

// A block whose parent is unknown is not kept, and its sender is
// disconnected as misbehaving.
func TestParentlessBlockIsMisbehaviour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		victim := tn.start(chaintest.New(t, chain.Regtest), nil)
		other := chaintest.New(t, chain.Regtest)
		other.Mine(3)
		orphan := other.Next(nil, 0) // its parent is on other's chain only
		r := tn.dialRaw(victim)
		r.send(orphan)
		ev := victim.waitPeer("the sender's disconnect", func(e PeerEvent) bool { return !e.Connected })
		if ev.Reason != ReasonMisbehaved {
			t.Fatalf("disconnected for %s (%v), want %s", ev.Reason, ev.Err, ReasonMisbehaved)
		}
		if victim.h.Chain.NodeByHash(orphan.Hash()) != nil {
			t.Fatal("the parentless block entered the index")
		}
	})
}

// Announcements of a block we do not know bring one getheaders while the
// last is unanswered, however many come (Core's HEADERS_RESPONSE_TIME), and
// another once two minutes have passed.
func TestUnknownBlockInvGetHeadersLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		n := tn.start(chaintest.New(t, chain.Regtest), nil)
		r := tn.dialRaw(n)
		r.expect(wire.CmdGetHeaders) // the first, after the handshake: never answered
		unknown := wire.InvVect{Type: wire.InvBlock, Hash: [32]byte{1}}
		count := func() int {
			k := 0
			r.send(&wire.MsgPing{Nonce: 99})
			for {
				f, err := r.next()
				if err != nil {
					t.Fatal(err)
				}
				switch f.Header.Command {
				case wire.CmdGetHeaders:
					k++
				case wire.CmdPong:
					return k
				}
			}
		}
		for range 100 {
			r.send(&wire.MsgInv{Inv: []wire.InvVect{unknown}})
		}
		if k := count(); k != 0 {
			t.Fatalf("%d getheaders for 100 announcements while the first is unanswered", k)
		}
		passTime(headersResponseTime)
		for range 100 {
			r.send(&wire.MsgInv{Inv: []wire.InvVect{unknown}})
		}
		if k := count(); k != 1 {
			t.Fatalf("%d getheaders two minutes later, want 1", k)
		}
	})
}

// BIP35 mempool is answered only with the permission; without it the
// connection ends (policy, not misbehaviour).
func TestMempoolNeedsPermission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		n := tn.start(chaintest.New(t, chain.Regtest), nil)
		r := tn.dialRaw(n)
		r.send(&wire.MsgMempool{})
		ev := n.waitPeer("the disconnect", func(e PeerEvent) bool { return !e.Connected })
		if ev.Reason != ReasonPolicy {
			t.Fatalf("disconnected for %s (%v), want %s", ev.Reason, ev.Err, ReasonPolicy)
		}

		h := chaintest.New(t, chain.Regtest)
		blocks := h.Mine(101)
		asker := tn.host()
		allowed := tn.start(h, func(c *Config) { c.MempoolPeers = []netip.Prefix{netip.PrefixFrom(asker.Addr(), 32)} })
		coin := chaintest.CoinbaseCoin(blocks[0])
		tx := chaintest.Spend(t, h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 10_000, ScriptPubKey: h.Script})
		if _, err := allowed.pool.Accept(tx); err != nil {
			t.Fatal(err)
		}
		r2 := tn.dialRawFrom(asker, allowed)
		r2.send(&wire.MsgMempool{})
		for {
			inv := r2.expect(wire.CmdInv).(*wire.MsgInv)
			if len(inv.Inv) == 1 && inv.Inv[0].Hash == tx.TxID() {
				break
			}
		}
	})
}

// Unrequested blocks that would not make the best chain are ignored, not
// stored: a fork from height 150 pushed to a node at height 200 (its
// headers within the anti-DoS threshold, kept; its bodies dropped), with
// the sender kept; one that extends the tip is taken. A fork from genesis
// is below the threshold: its first block is ignored without its header,
// and the next, whose parent is then unknown, ends the connection.
func TestUnrequestedLowWorkBlocksIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		h := chaintest.New(t, chain.Regtest)
		blocks := h.Mine(200)
		victim := tn.start(h, nil)
		forker := chaintest.New(t, chain.Regtest)
		if _, err := forker.Chain.AcceptBlocks(blocks[:150], nil); err != nil {
			t.Fatal(err)
		}
		forker.Script = chaintest.P2PKH(chaintest.Key(t, 2)) // not the same blocks as h's
		fork := forker.Mine(40)
		r := tn.dialRaw(victim)
		for _, b := range fork {
			r.send(b)
		}
		r.send(&wire.MsgPing{Nonce: 5})
		r.expect(wire.CmdPong)
		if st := victim.srv.Stats(); st.BlocksIgnored != uint64(len(fork)) {
			t.Fatalf("%d of %d low-work unrequested blocks ignored", st.BlocksIgnored, len(fork))
		}
		for _, b := range fork {
			if n := victim.h.Chain.NodeByHash(b.Hash()); n != nil && victim.h.Chain.Status(n)&chain.StatusHaveData != 0 {
				t.Fatalf("block %s of the low-work fork was stored", b.Hash())
			}
		}
		next := h.Next(nil, 0)
		r.send(next)
		victim.waitTip(next.Hash())

		deep := chaintest.New(t, chain.Regtest)
		deep.Script = chaintest.P2PKH(chaintest.Key(t, 3))
		r2 := tn.dialRaw(victim)
		for _, b := range deep.Mine(2) {
			r2.send(b)
		}
		ev := victim.waitPeer("the deep forker's disconnect", func(e PeerEvent) bool { return !e.Connected })
		if ev.Reason != ReasonMisbehaved {
			t.Fatalf("disconnected for %s (%v)", ev.Reason, ev.Err)
		}
	})
}
