package p2p

import (
	"fmt"
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

// Two nodes reached both ways, each dialling the other (a by the listening
// address in its book, as once b advertises itself; b by --connect), end
// with one connection and stop dialling: the duplicate connection that ends
// tells each who is behind the address, and it is not dialled again while
// that node is connected. (The node whose duplicate lost redialled every
// second: which one depends on the nonces, so both orders are run.)
func TestNoRedialOfConnectedNode(t *testing.T) {
	for _, nonces := range [][2]uint64{{1, 3}, {3, 1}} {
		t.Run(fmt.Sprintf("nonces %d and %d", nonces[0], nonces[1]), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tn := newTestNet(t)
				a := tn.start(chaintest.New(t, chain.Regtest), func(c *Config) { c.Nonce = nonces[0] })
				b := tn.start(chaintest.New(t, chain.Regtest), func(c *Config) {
					c.Nonce = nonces[1]
					c.Connect = []string{a.addr}
				})
				a.srv.book.Add(addrbook.Entry{Addr: b.srv.ListenAddr(), LastSeen: time.Now()})
				dials := func() uint64 { return a.srv.Stats().Dials + b.srv.Stats().Dials }
				// Connection maintenance runs every second: after a few
				// rounds both have dialled, and then nobody dials any more.
				passTime(5 * time.Second)
				settled := dials()
				passTime(time.Minute)
				if d := dials(); d != settled {
					t.Errorf("%d dials in a minute after the nodes settled (%d before)", d-settled, settled)
				}
				if na, nb := len(a.srv.Peers()), len(b.srv.Peers()); na != 1 || nb != 1 {
					t.Errorf("a has %d connections and b %d, want 1 each", na, nb)
				}
				if d := a.srv.Stats().Disconnects[ReasonDuplicate] + b.srv.Stats().Disconnects[ReasonDuplicate]; d == 0 {
					t.Errorf("no duplicate connection was closed: %v %v", a.srv.Stats(), b.srv.Stats())
				}
			})
		})
	}
}
