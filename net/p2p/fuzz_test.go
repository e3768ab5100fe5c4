package p2p

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// fuzzPeers is how many hostile connections a fuzz input drives.
const fuzzPeers = 3

// fuzzBlocks is the chain the fuzzed server holds (built once).
var (
	fuzzOnce   sync.Once
	fuzzChainB []*wire.Block
)

func fuzzChain(tb testing.TB) []*wire.Block {
	fuzzOnce.Do(func() { fuzzChainB = spendingChain(tb, 120, 5) })
	return fuzzChainB
}

// fuzzCommands are the commands a fuzz input picks from by index: every
// message a peer may send, so that most inputs reach a handler.
var fuzzCommands = wire.Commands()

// encodeFuzzInput turns messages (each sent by the peer of the same index
// modulo fuzzPeers) into a fuzz input, for the seeds.
func encodeFuzzInput(msgs ...wire.Message) []byte {
	var out []byte
	for i, m := range msgs {
		payload, _ := m.AppendBinary(nil)
		cmd := 0
		for j, c := range fuzzCommands {
			if c == m.Command() {
				cmd = j
			}
		}
		out = append(out, byte(i%fuzzPeers), byte(cmd))
		out = binary.LittleEndian.AppendUint16(out, uint16(len(payload)))
		out = append(out, payload...)
	}
	return out
}

// FuzzServer drives a running server (over an in-memory network, in fake
// time) with arbitrary message sequences from three hostile peers, each a
// frame with a valid checksum (random bytes never carry one), while an
// honest peer is connected. Whatever they send: no panic; every per-peer
// structure stays within its bound; the honest peer still gets its blocks
// and pongs afterwards.
//
// Input: repeated [peer byte][command index byte][length uint16 LE][payload].
func FuzzServer(f *testing.F) {
	blocks := fuzzChain(f)
	tip := blocks[len(blocks)-1]
	var locator []sha256d.Hash
	for i := len(blocks) - 1; i >= 0; i -= 7 {
		locator = append(locator, blocks[i].Hash())
	}
	other := chaintest.New(f, chain.Regtest)
	other.Mine(2)
	f.Add(encodeFuzzInput(&wire.MsgPing{Nonce: 1}, &wire.MsgGetAddr{}, &wire.MsgMempool{}))
	f.Add(encodeFuzzInput(&wire.MsgGetData{Inv: []wire.InvVect{{Type: wire.InvBlock, Hash: tip.Hash()},
		{Type: wire.InvTx, Hash: sha256d.Hash{7}}}}, &wire.MsgGetHeaders{Version: 70016, Locator: locator}))
	f.Add(encodeFuzzInput(&wire.MsgHeaders{Headers: []wire.Header{blocks[3].Header, other.Next(nil, 0).Header}},
		other.Next(nil, 0), &tip.Txs[0]))
	f.Add(encodeFuzzInput(&wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvBlock, Hash: sha256d.Hash{1}},
		{Type: wire.InvTx, Hash: sha256d.Hash{2}}, {Type: wire.InvWTx, Hash: sha256d.Hash{3}}}},
		&wire.MsgAddr{Addrs: []wire.TimedAddr{{Time: 1, NetAddr: wire.NetAddr{Addr: netip.MustParseAddrPort("1.2.3.4:8333")}}}},
		&wire.MsgNotFound{Inv: []wire.InvVect{{Type: wire.InvBlock, Hash: blocks[1].Hash()}}}, &wire.MsgSendHeaders{},
		&wire.MsgFeeFilter{FeeRate: 1000}, &wire.MsgGetBlocks{Version: 70016, Locator: locator}))
	f.Add(encodeFuzzInput(&wire.MsgVersion{ProtocolVersion: 70016}, &wire.MsgVerack{}, &wire.MsgWtxidRelay{}))

	f.Fuzz(func(t *testing.T, data []byte) {
		synctest.Test(t, func(t *testing.T) {
			fuzzServerOnce(t, blocks, data)
		})
	})
}

func fuzzServerOnce(t *testing.T, blocks []*wire.Block, data []byte) {
	tn := newTestNet(t)
	srv := tn.start(chainOf(t, blocks), func(c *Config) { c.SendBuffer = 64 << 10 })
	honest := tn.dialRaw(srv)
	var hostile [fuzzPeers]net.Conn
	for i := range hostile {
		hostile[i] = tn.dialRaw(srv).conn
	}
	for len(data) >= 4 {
		who, cmd, n := int(data[0])%fuzzPeers, int(data[1])%len(fuzzCommands), int(binary.LittleEndian.Uint16(data[2:]))
		data = data[4:]
		n = min(n, len(data))
		frame := wire.AppendRawFrame(nil, chain.Regtest.Magic, fuzzCommands[cmd], data[:n])
		data = data[n:]
		_ = hostile[who].SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := hostile[who].Write(frame); err != nil {
			continue // the server closed it: the rest of its messages go nowhere
		}
		synctest.Wait()
	}
	passTime(10 * time.Second) // what was sent is handled, timers run

	// Every per-peer structure within its bound.
	srv.srv.mu.Lock()
	states := make([]*peerState, 0, len(srv.srv.peers))
	for _, st := range srv.srv.peers {
		states = append(states, st)
	}
	srv.srv.mu.Unlock()
	for _, st := range states {
		st.mu.Lock()
		known, txq := len(st.known.set), len(st.txq)
		st.mu.Unlock()
		announced, inflight := srv.srv.txreq.counts(st)
		if known > knownInventory || txq > maxTxQueue || announced > maxTxAnnounced || inflight > maxTxInFlight {
			t.Fatalf("peer %v over its bounds: known %d, queued %d, announced %d, in flight %d", st.addr, known, txq, announced, inflight)
		}
		if backlog := st.p.SendBacklog(); backlog > 2*(64<<10)+wire.FrameHeaderSize+wire.MaxMessageSize {
			t.Fatalf("peer %v has %d bytes queued, over the hard limit", st.addr, backlog)
		}
	}
	srv.srv.sched.mu.Lock()
	requests := len(srv.srv.sched.inflight)
	srv.srv.sched.mu.Unlock()
	if limit := MaxInFlight * len(states); requests > limit {
		t.Fatalf("%d block requests out for %d peers", requests, len(states))
	}

	// The honest peer is still served.
	want := blocks[len(blocks)/2].Hash()
	honest.send(&wire.MsgPing{Nonce: 4242})
	honest.send(&wire.MsgGetData{Inv: []wire.InvVect{{Type: wire.InvBlock, Hash: want}}})
	gotPong, gotBlock := false, false
	for !gotPong || !gotBlock {
		f, err := honest.next()
		if err != nil {
			t.Fatalf("the honest peer, after the hostile ones: %v (pong %v, block %v; server %+v)", err, gotPong, gotBlock, srv.srv.Stats())
		}
		switch f.Header.Command {
		case wire.CmdPong:
			gotPong = gotPong || binary.LittleEndian.Uint64(f.Payload) == 4242
		case wire.CmdBlock:
			gotBlock = gotBlock || sha256d.Sum(f.Payload[:wire.HeaderSize]) == want
		}
	}
}
