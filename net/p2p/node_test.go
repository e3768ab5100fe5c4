package p2p

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/net/addrbook"
	"github.com/renga-p2p/renga/wire"
)

// passTime lets d of the bubble's fake time pass: every goroutine runs
// until it blocks, the clock moves on by d, and they run again. It takes no
// wall time; it is how a test says "nothing must happen for a minute".
func passTime(d time.Duration) {
	synctest.Wait()
	<-time.After(d)
	synctest.Wait()
}

func TestSyncAndRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		a := tn.start(chaintest.New(t, chain.Regtest), nil)
		blocks := a.h.Mine(250)
		b := tn.start(chaintest.New(t, chain.Regtest), func(c *Config) { c.Connect = []string{a.addr} })
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
		if peers := b.srv.Peers(); len(peers) != 1 || peers[0].Inbound || peers[0].Kind != "manual" {
			t.Fatalf("b's peers: %+v", peers)
		}
		if peers := a.srv.Peers(); len(peers) != 1 || !peers[0].Inbound {
			t.Fatalf("a's peers: %+v", peers)
		}
	})
}

// A node that dialled us is not dialled back while its connection lives:
// its version's addr_from names its listening port, believed at the
// address it connects from. (A node in b's book that dialled a: b does not
// dial it as well, and nobody dials in circles.)
func TestNoRedialOfNodeThatDialledUs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		a := tn.start(chaintest.New(t, chain.Regtest), nil)
		b := tn.start(chaintest.New(t, chain.Regtest), func(c *Config) { c.Connect = []string{a.addr} })
		a.srv.book.Add(netip.Addr{}, 0, addrbook.Entry{Addr: b.srv.ListenAddr(), LastSeen: time.Now()})
		b.waitPeers(1)
		passTime(5 * time.Second)
		settled := a.srv.Stats().Dials
		passTime(time.Minute)
		if d := a.srv.Stats().Dials; d != settled {
			t.Errorf("a dialled %d times in a minute while b was connected to it (%d before)", d-settled, settled)
		}
		if na, nb := len(a.srv.Peers()), len(b.srv.Peers()); na != 1 || nb != 1 {
			t.Errorf("a has %d connections and b %d, want 1 each", na, nb)
		}
	})
}

// An identity cannot be borrowed: with a connected to b, an inbound
// connection to a that sends b's version nonce and claims b's listening
// port leaves the a-b connection up; and a reconnects to b after b restarts.
func TestBorrowedIdentity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestNet(t)
		bHost := tn.host()
		bChain := chaintest.New(t, chain.Regtest)
		b := startServer(t, bChain, func(c *Config) { c.Transport, c.Listen = bHost, ":8333" })
		a := tn.start(chaintest.New(t, chain.Regtest), func(c *Config) { c.AddNode = []string{b.addr} })
		a.waitPeers(1)
		var bNonce uint64
		for _, st := range b.srv.readyPeers() {
			bNonce = st.p.Nonce()
		}
		liar := tn.dialRawWith(a, &wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, Nonce: bNonce, Services: wire.SFNodeNetwork,
			AddrFrom: wire.NetAddr{Addr: netip.AddrPortFrom(bHost.Addr(), 8333)}, UserAgent: "/liar/"})
		liar.send(&wire.MsgPing{Nonce: 1})
		liar.expect(wire.CmdPong)
		passTime(10 * time.Second)
		found := false
		for _, p := range a.srv.Peers() {
			found = found || p.Addr.String() == b.addr
		}
		if !found || len(a.srv.Peers()) != 2 {
			t.Fatalf("a's peers after the claim: %v", a.srv.Peers())
		}
		// b restarts (same address); a, which keeps it as an addnode peer,
		// connects again.
		b.stop()
		a.waitPeer("b's disconnect", func(e PeerEvent) bool { return !e.Connected && e.Addr.String() == b.addr })
		b2 := startServer(t, bChain, func(c *Config) { c.Transport, c.Listen = bHost, ":8333" })
		b2.waitPeers(1)
	})
}
