package p2p

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

func txInv(i int) wire.InvVect {
	var h sha256d.Hash
	h[0], h[1] = byte(i), byte(i>>8)
	return wire.InvVect{Type: wire.InvTx, Hash: h}
}

func TestTxRequests(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	t.Run("asked of one announcer at a time, the next after the timeout", func(t *testing.T) {
		r := newTxRequests()
		a, b := fakePeer(1), fakePeer(2)
		r.announced(a, txInv(1), t0, true)
		r.announced(b, txInv(1), t0, true)
		got := r.due(t0)
		if len(got[a]) != 1 || len(got[b]) != 0 {
			t.Fatalf("asked a %d, b %d; want only a", len(got[a]), len(got[b]))
		}
		if got := r.due(t0.Add(txRequestTimeout - time.Second)); len(got) != 0 {
			t.Fatalf("asked again before the timeout: %v", got)
		}
		got = r.due(t0.Add(txRequestTimeout))
		if len(got[b]) != 1 || len(got[a]) != 0 {
			t.Fatalf("after the timeout asked a %d, b %d; want b", len(got[a]), len(got[b]))
		}
	})
	t.Run("notfound and leaving pass the request on", func(t *testing.T) {
		r := newTxRequests()
		a, b, c := fakePeer(1), fakePeer(2), fakePeer(3)
		for _, p := range []*peerState{a, b, c} {
			r.announced(p, txInv(1), t0, true)
		}
		r.due(t0)
		r.notFound(a, txInv(1).Hash)
		if got := r.due(t0); len(got[b]) != 1 {
			t.Fatalf("after a's notfound: %v", got)
		}
		r.remove(b)
		if got := r.due(t0); len(got[c]) != 1 {
			t.Fatalf("after b left: %v", got)
		}
		r.done(txInv(1).Hash)
		if got := r.due(t0.Add(time.Hour)); len(got) != 0 {
			t.Fatalf("a delivered transaction was asked for again: %v", got)
		}
		if n, k := r.counts(c); n != 0 || k != 0 {
			t.Fatalf("c still counts %d announced, %d in flight", n, k)
		}
	})
	t.Run("an inbound peer is asked only after the delay, an outbound one first", func(t *testing.T) {
		r := newTxRequests()
		in, out := fakePeer(1), fakePeer(2)
		r.announced(in, txInv(1), t0, false)
		if got := r.due(t0); len(got) != 0 {
			t.Fatalf("inbound asked at once: %v", got)
		}
		r.announced(out, txInv(1), t0.Add(time.Second), true)
		if got := r.due(t0.Add(time.Second)); len(got[out]) != 1 {
			t.Fatalf("the outbound announcer was not asked first: %v", got)
		}
		r2 := newTxRequests()
		r2.announced(in, txInv(2), t0, false)
		if got := r2.due(t0.Add(inboundTxDelay)); len(got[in]) != 1 {
			t.Fatalf("inbound not asked after the delay: %v", got)
		}
	})
	t.Run("at most 5,000 tracked and 100 in flight per peer", func(t *testing.T) {
		r := newTxRequests()
		a := fakePeer(1)
		for i := range maxTxAnnounced + 500 {
			r.announced(a, txInv(i), t0, true)
		}
		if n, _ := r.counts(a); n != maxTxAnnounced {
			t.Fatalf("%d announcements tracked, want %d", n, maxTxAnnounced)
		}
		if got := r.due(t0); len(got[a]) != maxTxInFlight {
			t.Fatalf("%d asked at once, want %d", len(got[a]), maxTxInFlight)
		}
		if got := r.due(t0); len(got) != 0 {
			t.Fatalf("more asked with %d in flight: %d", maxTxInFlight, len(got[a]))
		}
	})
}

// End to end: a transaction announced by two peers is asked of one; when it
// never answers, the other is asked after the timeout and the transaction
// arrives.
func TestTxAskedOfNextAnnouncer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		h := chaintest.New(t, chain.Regtest)
		blocks := h.Mine(101)
		victim := tn.start(chainOf(t, blocks), nil)
		silent, honest := tn.dialRaw(victim), tn.dialRaw(victim)
		coin := chaintest.CoinbaseCoin(blocks[0])
		tx := chaintest.Spend(t, h.Key, []chaintest.Coin{coin}, wire.TxOut{Value: coin.Value - 10_000, ScriptPubKey: h.Script})
		inv := &wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvTx, Hash: tx.TxID()}}}
		silent.send(inv)
		silent.expect(wire.CmdGetData) // after the inbound delay; never answered
		honest.send(inv)
		start := time.Now()
		if gd := honest.expect(wire.CmdGetData).(*wire.MsgGetData); gd.Inv[0].Hash != tx.TxID() {
			t.Fatalf("asked for %v", gd.Inv)
		}
		if waited := time.Since(start); waited < txRequestTimeout-inboundTxDelay {
			t.Fatalf("the second announcer was asked after %v, before the first timed out", waited)
		}
		honest.send(tx)
		victim.waitTx(tx.TxID())
	})
}
