package p2p

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/wire"
)

// compactFixture is a node whose chain has spendable coins, and payments
// that can go in its next block.
type compactFixture struct {
	tn     *testNet
	victim *testNode
	h      *chaintest.Harness
	txs    []*wire.Tx // five payments, valid in the next block
	cheap  *wire.Tx   // a sixth, valid but paying no fee: the mempool refuses it
}

func newCompactFixture(t *testing.T) *compactFixture {
	t.Helper()
	tn := newTestNet(t)
	h := chaintest.New(t, chain.Regtest)
	blocks := h.Mine(110)
	f := &compactFixture{tn: tn, h: h}
	for i := range 5 {
		coin := chaintest.CoinbaseCoin(blocks[i])
		f.txs = append(f.txs, chaintest.Spend(t, h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 10_000, ScriptPubKey: h.Script}))
	}
	coin := chaintest.CoinbaseCoin(blocks[5])
	f.cheap = chaintest.Spend(t, h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value, ScriptPubKey: h.Script})
	f.victim = tn.start(chainOf(t, blocks), nil)
	return f
}

// block is the next block with these transactions.
func (f *compactFixture) block(t *testing.T, txs ...*wire.Tx) *wire.Block {
	t.Helper()
	return f.h.Next(f.victim.h.Chain.Tip(), 10_000*int64(len(txs)), txs...)
}

func compactOf(t *testing.T, b *wire.Block) *wire.MsgCmpctBlock {
	t.Helper()
	m, err := wire.NewCmpctBlock(b, 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCompactBlockReconstruction(t *testing.T) {
	t.Run("every transaction in the mempool: rebuilt with no request", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newCompactFixture(t)
			for _, tx := range f.txs {
				if _, err := f.victim.pool.Accept(tx); err != nil {
					t.Fatal(err)
				}
			}
			b := f.block(t, f.txs...)
			r := f.tn.dialRaw(f.victim)
			r.send(compactOf(t, b))
			f.victim.waitTip(b.Hash())
			if st := f.victim.srv.Stats().Compact; st.Reconstructed != 1 || st.Requested != 0 || st.Fallback != 0 {
				t.Fatalf("compact stats %+v, want one rebuilt with no request", st)
			}
		})
	})
	t.Run("a missing transaction: one getblocktxn", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newCompactFixture(t)
			for _, tx := range f.txs[1:] {
				if _, err := f.victim.pool.Accept(tx); err != nil {
					t.Fatal(err)
				}
			}
			b := f.block(t, f.txs...)
			r := f.tn.dialRaw(f.victim)
			r.send(compactOf(t, b))
			req := r.expect(wire.CmdGetBlockTxn).(*wire.MsgGetBlockTxn)
			if req.BlockHash != b.Hash() || len(req.Indexes) != 1 || req.Indexes[0] != 1 {
				t.Fatalf("getblocktxn %+v, want index 1 of %s", req, b.Hash())
			}
			r.send(&wire.MsgBlockTxn{BlockHash: b.Hash(), Txs: []wire.Tx{b.Txs[1]}})
			f.victim.waitTip(b.Hash())
			if st := f.victim.srv.Stats().Compact; st.Requested != 1 || st.Reconstructed != 0 {
				t.Fatalf("compact stats %+v, want one rebuilt after a request", st)
			}
		})
	})
	t.Run("a transaction only in the extra pool (refused by policy): rebuilt with no request", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newCompactFixture(t)
			r := f.tn.dialRaw(f.victim)
			r.send(f.cheap) // refused: no fee; kept for reconstruction
			r.send(&wire.MsgPing{Nonce: 1})
			r.expect(wire.CmdPong)
			if f.victim.pool.Get(f.cheap.TxID()) != nil {
				t.Fatal("a transaction without a fee entered the mempool")
			}
			b := f.h.Next(f.victim.h.Chain.Tip(), 0, f.cheap) // it pays no fee
			r.send(compactOf(t, b))
			f.victim.waitTip(b.Hash())
			if st := f.victim.srv.Stats().Compact; st.Reconstructed != 1 {
				t.Fatalf("compact stats %+v, want one rebuilt from the extra pool", st)
			}
		})
	})
	t.Run("two short ids the same: the whole block asked for", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newCompactFixture(t)
			b := f.block(t, f.txs[:2]...)
			m := compactOf(t, b)
			m.ShortIDs[1] = m.ShortIDs[0]
			r := f.tn.dialRaw(f.victim)
			r.send(m)
			gd := r.expect(wire.CmdGetData).(*wire.MsgGetData)
			if gd.Inv[0].Type != wire.InvBlock || gd.Inv[0].Hash != b.Hash() {
				t.Fatalf("getdata %+v, want the block %s whole", gd.Inv, b.Hash())
			}
			r.send(b)
			f.victim.waitTip(b.Hash())
			if st := f.victim.srv.Stats().Compact; st.Fallback != 1 {
				t.Fatalf("compact stats %+v, want a fallback", st)
			}
		})
	})
	t.Run("rebuilt transactions that do not match the merkle root: the whole block asked for, no blame", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newCompactFixture(t)
			for _, tx := range f.txs {
				if _, err := f.victim.pool.Accept(tx); err != nil {
					t.Fatal(err)
				}
			}
			b := f.block(t, f.txs...)
			m := compactOf(t, b)
			// Short ids in another order: each names a real transaction,
			// but the block they make is not the header's.
			m.ShortIDs[0], m.ShortIDs[1] = m.ShortIDs[1], m.ShortIDs[0]
			r := f.tn.dialRaw(f.victim)
			r.send(m)
			gd := r.expect(wire.CmdGetData).(*wire.MsgGetData)
			if gd.Inv[0].Hash != b.Hash() {
				t.Fatalf("getdata %+v", gd.Inv)
			}
			r.send(b)
			f.victim.waitTip(b.Hash())
		})
	})
	hostile := []struct {
		name string
		send func(t *testing.T, f *compactFixture, r *rawPeer)
	}{
		{"a prefilled index past the end", func(t *testing.T, f *compactFixture, r *rawPeer) {
			m := compactOf(t, f.block(t, f.txs[:2]...))
			m.Prefilled[0].Index = 9
			r.send(m)
		}},
		{"a getblocktxn index out of range", func(t *testing.T, f *compactFixture, r *rawPeer) {
			r.send(&wire.MsgGetBlockTxn{BlockHash: f.victim.h.Chain.Tip().Hash, Indexes: []uint16{0, 5}})
		}},
		{"a blocktxn with the wrong count", func(t *testing.T, f *compactFixture, r *rawPeer) {
			b := f.block(t, f.txs[:2]...)
			r.send(compactOf(t, b)) // nothing in the mempool: both asked for
			r.expect(wire.CmdGetBlockTxn)
			r.send(&wire.MsgBlockTxn{BlockHash: b.Hash(), Txs: []wire.Tx{b.Txs[1]}})
		}},
	}
	for _, tt := range hostile {
		t.Run(tt.name+": misbehaviour", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newCompactFixture(t)
				r := f.tn.dialRaw(f.victim)
				tt.send(t, f, r)
				ev := f.victim.waitPeer("the disconnect", func(e PeerEvent) bool { return !e.Connected })
				if ev.Reason != ReasonMisbehaved {
					t.Fatalf("disconnected for %s (%v), want %s", ev.Reason, ev.Err, ReasonMisbehaved)
				}
			})
		})
	}
}

// Two Renga nodes negotiate compact blocks: the one that gets a new block
// first from the other makes it a high-bandwidth peer, and the next blocks
// come pushed as compact blocks, rebuilt from the transactions relayed
// before.
func TestCompactRelayBetweenNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		h := chaintest.New(t, chain.Regtest)
		blocks := h.Mine(110)
		a := tn.start(h, nil)
		b := tn.start(chainOf(t, blocks), func(c *Config) { c.Connect = []string{a.addr} })
		b.waitPeers(1)
		passTime(time.Second)
		for i := range 3 {
			coin := chaintest.CoinbaseCoin(blocks[i])
			tx := chaintest.Spend(t, h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 10_000, ScriptPubKey: h.Script})
			if _, err := a.pool.Accept(tx); err != nil {
				t.Fatal(err)
			}
			b.waitTx(tx.TxID())
			next := h.Next(nil, 10_000, tx)
			if _, err := h.Chain.ProcessBlock(next, nil); err != nil {
				t.Fatal(err)
			}
			b.waitTip(next.Hash())
		}
		st := b.srv.Stats().Compact
		if st.Received < 2 || st.Reconstructed < 2 || st.Fallback != 0 {
			t.Fatalf("b's compact stats %+v: want the blocks rebuilt from its mempool", st)
		}
		if sent := a.srv.Stats().Compact.Sent; sent < 2 {
			t.Fatalf("a sent %d compact blocks", sent)
		}
		// b made a its high-bandwidth peer: the last block was pushed.
		var aPeer *peerState
		for _, x := range a.srv.readyPeers() {
			aPeer = x
		}
		if _, hb := aPeer.compactInfo(); !hb {
			t.Fatal("b did not ask a to push compact blocks")
		}
	})
}
