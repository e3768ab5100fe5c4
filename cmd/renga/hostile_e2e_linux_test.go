package main

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/sock/nstest"
	"github.com/renga-p2p/renga/wire"
)

// TestHostilePeers: one `renga node` process (regtest, in a namespace of
// its own) and, connected at the same time, an honest peer and a series of
// hostile ones, each from its own loopback address. For every rule of
// design.md §6 "Misbehaviour" and every wire limit, a hostile peer sends the
// bad input and the node reacts as designed: it disconnects it, or it drops
// the message and keeps the peer (which still gets its pongs). A loopback
// address is local, so it is never discouraged: a new connection from it
// completes a handshake at once (every process of the machine shares it).
// One peer from another machine of the LAN misbehaves too and is
// discouraged (the disconnect's log line says so). Meanwhile the honest
// peer keeps getting pongs and every block the node mines, and the node's
// memory stays bounded.
func TestHostilePeers(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a node process under attack")
	}
	if !nstest.Enter(t) {
		return
	}
	l := newLAN(t, 1)
	node := l.node(1)
	node.network = "regtest"
	node.start("--listen", ":18444", "--discover=false")
	waitFor(t, 30*time.Second, "the node answers RPC", func() (bool, string) {
		h, _ := node.tip()
		return h >= 0, "no answer"
	})
	payTo := firstLine(t, node, "wallet", "address")
	mine := func(n int) {
		t.Helper()
		var hashes []string
		if err := node.call(&hashes, "generatetoaddress", n, payTo); err != nil {
			t.Fatalf("generatetoaddress: %v", err)
		}
	}
	mine(1)
	const addr = "127.0.0.1:18444"
	magic := chain.Regtest.Magic

	honest := connectPeer(t, node, "127.0.0.2", addr, magic)
	honest.handshake(t)
	stopPings := honest.pingEvery(20 * time.Millisecond)
	rssBefore := node.rss()
	// After each attack the honest peer still gets a pong and the next
	// block the node mines.
	nonce := uint64(0)
	servedHonest := func(t *testing.T) {
		t.Helper()
		nonce++
		honest.expectPong(t, nonce, 5*time.Second)
		before := honest.blocks.Load()
		mine(1)
		waitFor(t, 5*time.Second, "the honest peer got the new block", func() (bool, string) {
			return honest.blocks.Load() > before, fmt.Sprintf("%d blocks", honest.blocks.Load())
		})
	}

	type reaction int
	const (
		disconnects reaction = iota // and discourages the address
		keeps                       // drops the message, answers a ping
	)
	tip := func() (sha256d.Hash, int32) {
		h, hash := node.tip()
		return sha256d.MustParseHash(hash), h
	}
	tests := []struct {
		name      string
		handshake bool
		bad       func() []byte // the bytes sent
		want      reaction
	}{
		{"wrong magic", true, func() []byte {
			return wire.AppendRawFrame(nil, chain.Mainnet.Magic, "ping", make([]byte, 8))
		}, disconnects},
		{"oversized length", true, func() []byte {
			return frameHeader(magic, "block", wire.MaxMessageSize+1, [4]byte{})
		}, disconnects},
		{"oversized payload for its command", true, func() []byte {
			return wire.AppendRawFrame(nil, magic, "ping", make([]byte, 9))
		}, disconnects},
		{"bad checksum", true, func() []byte {
			f := wire.AppendRawFrame(nil, magic, "ping", make([]byte, 8))
			f[20] ^= 0xff
			return f
		}, keeps},
		{"unknown command", true, func() []byte {
			return wire.AppendRawFrame(nil, magic, "frobnicate", []byte("hello"))
		}, keeps},
		{"inv count over 50,000", true, func() []byte {
			return wire.AppendRawFrame(nil, magic, "inv", varint(wire.MaxInvEntries+1))
		}, disconnects},
		{"getdata count over 50,000", true, func() []byte {
			return wire.AppendRawFrame(nil, magic, "getdata", varint(wire.MaxInvEntries+1))
		}, disconnects},
		{"headers count over 2,000", true, func() []byte {
			return wire.AppendRawFrame(nil, magic, "headers", varint(wire.MaxHeaders+1))
		}, disconnects},
		{"addr count over 1,000", true, func() []byte {
			return wire.AppendRawFrame(nil, magic, "addr", varint(wire.MaxAddrs+1))
		}, disconnects},
		{"locator over 101", true, func() []byte {
			return wire.AppendRawFrame(nil, magic, "getheaders", append(binary.LittleEndian.AppendUint32(nil, wire.ProtocolVersion), varint(wire.MaxLocator+1)...))
		}, disconnects},
		{"a message before version", false, func() []byte {
			return mustFrame(magic, &wire.MsgPing{Nonce: 1})
		}, disconnects},
		{"invalid header", true, func() []byte {
			hash, _ := tip()
			h := wire.Header{Version: 4, PrevBlock: hash, Time: uint32(time.Now().Unix()), Bits: 0x207ffffe}
			solve(&h)
			return mustFrame(magic, &wire.MsgHeaders{Headers: []wire.Header{h}})
		}, disconnects},
		{"invalid block", true, func() []byte {
			hash, height := tip()
			return mustFrame(magic, badCoinbaseBlock(hash, height+1))
		}, disconnects},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fmt.Sprintf("127.0.0.%d", 10+i)
			p := connectPeer(t, node, src, addr, magic)
			if tt.handshake {
				p.handshake(t)
			}
			p.writeRaw(t, tt.bad())
			switch tt.want {
			case disconnects:
				p.expectClosed(t, 10*time.Second)
				again, err := node.dialFrom(src, addr)
				if err != nil {
					t.Fatalf("reconnect: %v", err)
				}
				p2 := newRawPeer(again, magic)
				p2.handshake(t) // at once: a local address is not discouraged
				p2.expectPong(t, 4242, 10*time.Second)
				p2.close()
			case keeps:
				p.expectPong(t, 4242, 10*time.Second)
				p.close()
			}
			servedHonest(t)
		})
	}

	t.Run("a peer from elsewhere on the LAN is discouraged", func(t *testing.T) {
		nstest.IP(t, "addr", "add", "10.83.0.200/24", "dev", "br0")
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("10.83.0.200")}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", node.ip+":18444")
		if err != nil {
			t.Fatal(err)
		}
		p := newRawPeer(c, magic)
		t.Cleanup(p.close)
		p.handshake(t)
		p.writeRaw(t, wire.AppendRawFrame(nil, chain.Mainnet.Magic, "ping", make([]byte, 8)))
		p.expectClosed(t, 10*time.Second)
		waitFor(t, 10*time.Second, "the disconnect logged as discouraged", func() (bool, string) {
			for _, e := range node.logEntries() {
				if e.Msg == "peer disconnected" && e.Fields["peer"] == "10.83.0.200:"+fmt.Sprint(c.LocalAddr().(*net.TCPAddr).Port) {
					return e.Fields["discouraged"] == true, fmt.Sprintf("%v", e.Fields)
				}
			}
			return false, "no disconnect logged"
		})
		servedHonest(t)
	})

	t.Run("a header, then silence, on 40 connections", func(t *testing.T) {
		var peers []*rawPeer
		for i := range 40 {
			p := connectPeer(t, node, fmt.Sprintf("127.0.1.%d", i+1), addr, magic)
			p.handshake(t)
			p.writeRaw(t, frameHeader(magic, "block", wire.MaxMessageSize, [4]byte{}))
			peers = append(peers, p)
		}
		mine(2)
		// Each costs the node at most its first payload chunk (256 KiB).
		for _, p := range peers {
			if p.closed() {
				t.Fatal("the node dropped a peer that is only slow")
			}
		}
		if grown := node.rss() - rssBefore; grown > 64<<20 {
			t.Fatalf("resident memory grew by %d MiB with 40 stalled frames", grown>>20)
		}
		servedHonest(t)
		for _, p := range peers {
			p.close()
		}
	})

	t.Run("an addr flood", func(t *testing.T) {
		p := connectPeer(t, node, "127.0.2.1", addr, magic)
		p.handshake(t)
		now := uint32(time.Now().Unix())
		for round := range 50 {
			m := &wire.MsgAddr{}
			for j := range wire.MaxAddrs {
				ip := netip.AddrFrom4([4]byte{10, byte(round), byte(j >> 8), byte(j)})
				m.Addrs = append(m.Addrs, wire.TimedAddr{Time: now, NetAddr: wire.NetAddr{Services: 1, Addr: netip.AddrPortFrom(ip, 18444)}})
			}
			p.send(t, m)
		}
		p.expectPong(t, 4242, 20*time.Second) // kept, and every addr read by now
		var known []any
		if err := node.call(&known, "getnodeaddresses", 0); err != nil {
			t.Fatal(err)
		}
		// A peer's addresses are taken at 0.1 a second after a burst of
		// 1,000 (Bitcoin Core's rate): 50,000 sent, about 1,000 kept.
		if len(known) > 1100 {
			t.Fatalf("the address book took %d of the 50,000 flooded addresses", len(known))
		}
		t.Logf("the address book took %d of 50,000 flooded addresses", len(known))
		servedHonest(t)
		p.close()
	})

	mine(1)
	want := honest.mustBlocks(t)
	stopPings()
	t.Run("the honest peer was served throughout", func(t *testing.T) {
		if honest.closed() {
			t.Fatal("the honest peer was disconnected")
		}
		sent, got := honest.pings.Load(), honest.pongs.Load()
		if got < sent-2 { // the last one or two may be on their way
			t.Fatalf("the honest peer got %d pongs for %d pings", got, sent)
		}
		waitFor(t, 10*time.Second, "the honest peer received every block", func() (bool, string) {
			n := honest.blocks.Load()
			return n >= int64(want), fmt.Sprintf("%d of %d blocks", n, want)
		})
		t.Logf("honest peer: %d pongs for %d pings, %d blocks", got, sent, honest.blocks.Load())
		if grown := node.rss() - rssBefore; grown > 64<<20 {
			t.Fatalf("resident memory grew by %d MiB during the attacks", grown>>20)
		} else {
			t.Logf("resident memory: %d MiB before the attacks, %+d MiB after", rssBefore>>20, grown>>20)
		}
	})
	honest.close()
	node.stop()
}

// rawPeer is a hand-driven connection to the node: the test writes exactly
// the bytes it wants, and a reader goroutine answers pings, asks for every
// announced block and counts what arrives.
type rawPeer struct {
	conn  net.Conn
	magic wire.Magic

	wmu      sync.Mutex
	received atomic.Int64 // messages read
	pings    atomic.Int64 // pings sent
	pongs    atomic.Int64
	blocks   atomic.Int64
	pong     chan uint64
	verack   chan struct{}
	done     chan struct{}
	announce atomic.Int64 // blocks announced
}

func connectPeer(t *testing.T, n *lanNode, src, addr string, magic wire.Magic) *rawPeer {
	t.Helper()
	c, err := n.dialFrom(src, addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	p := newRawPeer(c, magic)
	t.Cleanup(p.close)
	return p
}

func newRawPeer(c net.Conn, magic wire.Magic) *rawPeer {
	p := &rawPeer{conn: c, magic: magic, pong: make(chan uint64, 100), verack: make(chan struct{}, 1), done: make(chan struct{})}
	go p.read()
	return p
}

func (p *rawPeer) read() {
	defer close(p.done)
	r := wire.NewReader(bufio.NewReader(p.conn), p.magic)
	for {
		msg, err := r.ReadMessage()
		var unknown *wire.UnknownCommandError
		switch {
		case errors.As(err, &unknown):
			continue
		case err != nil:
			return
		}
		p.received.Add(1)
		switch m := msg.(type) {
		case *wire.MsgVerack:
			select {
			case p.verack <- struct{}{}:
			default:
			}
		case *wire.MsgPing:
			p.write(&wire.MsgPong{Nonce: m.Nonce})
		case *wire.MsgPong:
			p.pongs.Add(1)
			// Keep the newest: background pings fill the channel while
			// nobody waits, and the pong expectPong waits for must not be
			// the one dropped (it was, under load: "no pong within 10s").
			for {
				select {
				case p.pong <- m.Nonce:
				default:
					select {
					case <-p.pong:
					default:
					}
					continue
				}
				break
			}
		case *wire.MsgInv:
			var want []wire.InvVect
			for _, iv := range m.Inv {
				if iv.Type == wire.InvBlock {
					want = append(want, iv)
					p.announce.Add(1)
				}
			}
			if len(want) > 0 {
				p.write(&wire.MsgGetData{Inv: want})
			}
		case *wire.MsgHeaders:
			var want []wire.InvVect
			for _, h := range m.Headers {
				want = append(want, wire.InvVect{Type: wire.InvBlock, Hash: h.Hash()})
				p.announce.Add(1)
			}
			if len(want) > 0 {
				p.write(&wire.MsgGetData{Inv: want})
			}
		case *wire.Block:
			p.blocks.Add(1)
		}
	}
}

func (p *rawPeer) write(m wire.Message) {
	f, err := wire.AppendFrame(nil, p.magic, m)
	if err != nil {
		panic(err) // the test's own messages are valid
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = p.conn.Write(f) // a failed write shows as a closed connection
}

func (p *rawPeer) send(t *testing.T, m wire.Message) {
	t.Helper()
	f, err := wire.AppendFrame(nil, p.magic, m)
	if err != nil {
		t.Fatal(err)
	}
	p.writeRaw(t, f)
}

func (p *rawPeer) writeRaw(t *testing.T, b []byte) {
	t.Helper()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.conn.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// handshake sends version and verack and waits for the node's verack.
func (p *rawPeer) handshake(t *testing.T) {
	t.Helper()
	p.send(t, versionMsg())
	p.send(t, &wire.MsgVerack{})
	select {
	case <-p.verack:
	case <-p.done:
		t.Fatal("disconnected during the handshake")
	case <-time.After(10 * time.Second):
		t.Fatal("no verack within 10 s")
	}
}

func versionMsg() *wire.MsgVersion {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails
	return &wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, Services: 1, Timestamp: time.Now().Unix(),
		Nonce: binary.LittleEndian.Uint64(b[:]), UserAgent: "/test/", Relay: true}
}

// pingEvery pings the node every d until the returned function is called.
func (p *rawPeer) pingEvery(d time.Duration) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for n := uint64(1); ; n++ {
			select {
			case <-quit:
				return
			case <-t.C:
				p.pings.Add(1)
				p.write(&wire.MsgPing{Nonce: 1_000_000 + n})
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// expectPong pings with nonce and waits for the matching pong.
func (p *rawPeer) expectPong(t *testing.T, nonce uint64, timeout time.Duration) {
	t.Helper()
	p.pings.Add(1)
	p.send(t, &wire.MsgPing{Nonce: nonce})
	deadline := time.After(timeout)
	for {
		select {
		case n := <-p.pong:
			if n == nonce {
				return
			}
		case <-p.done:
			t.Fatal("the node disconnected a peer it should have kept")
		case <-deadline:
			t.Fatalf("no pong within %s", timeout)
		}
	}
}

// expectClosed waits for the node to close the connection.
func (p *rawPeer) expectClosed(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("the node kept the connection for %s", timeout)
	}
}

func (p *rawPeer) closed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *rawPeer) close() { _ = p.conn.Close() } // closing twice is harmless here

// mustBlocks is how many blocks the peer has been announced so far.
func (p *rawPeer) mustBlocks(t *testing.T) int {
	t.Helper()
	n := int(p.announce.Load())
	if n == 0 {
		t.Fatal("the honest peer heard of no block")
	}
	return n
}

// frameHeader is a frame header announcing length bytes of payload.
func frameHeader(magic wire.Magic, cmd string, length uint32, sum [4]byte) []byte {
	var h [wire.FrameHeaderSize]byte
	copy(h[:4], magic[:])
	copy(h[4:16], cmd)
	binary.LittleEndian.PutUint32(h[16:20], length)
	copy(h[20:24], sum[:])
	return h[:]
}

func mustFrame(magic wire.Magic, m wire.Message) []byte {
	f, err := wire.AppendFrame(nil, magic, m)
	if err != nil {
		panic(err)
	}
	return f
}

// varint is a compact size as the wire writes it.
func varint(n uint64) []byte {
	switch {
	case n < 0xfd:
		return []byte{byte(n)}
	case n <= 0xffff:
		return binary.LittleEndian.AppendUint16([]byte{0xfd}, uint16(n))
	case n <= 0xffffffff:
		return binary.LittleEndian.AppendUint32([]byte{0xfe}, uint32(n))
	}
	return binary.LittleEndian.AppendUint64([]byte{0xff}, n)
}

// solve finds a nonce meeting the header's own bits (trivial on regtest).
func solve(h *wire.Header) {
	for h.Nonce = 0; ; h.Nonce++ {
		hash := h.Hash()
		if chain.CheckProofOfWork(&hash, h.Bits, &chain.Regtest.PowLimit) == nil {
			return
		}
	}
}

// badCoinbaseBlock is a regtest block on parent whose coinbase claims twice
// the subsidy: a valid header, an invalid block.
func badCoinbaseBlock(parent sha256d.Hash, height int32) *wire.Block {
	cb := wire.Tx{Version: 1,
		Inputs:  []wire.TxIn{{PrevOut: wire.OutPoint{Index: 0xffffffff}, Sequence: 0xffffffff, ScriptSig: chain.CoinbaseScript(height, nil)}},
		Outputs: []wire.TxOut{{Value: 2 * chain.Regtest.Subsidy(height), ScriptPubKey: []byte{0x51}}}}
	root, _ := wire.MerkleRoot([]sha256d.Hash{cb.TxID()})
	b := &wire.Block{Header: wire.Header{Version: 4, PrevBlock: parent, MerkleRoot: root, Time: uint32(time.Now().Unix()),
		Bits: chain.Regtest.PowLimitBits}, Txs: []wire.Tx{cb}}
	solve(&b.Header)
	return b
}
