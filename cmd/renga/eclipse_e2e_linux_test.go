package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/net/sock/nstest"
	"github.com/renga-p2p/renga/wire"
)

// fakePeers are listeners in the test's namespace that complete a
// handshake with whoever connects, answer pings, and (if told) answer
// getaddr with a list: honest peers, or an attacker's, as a node sees them.
type fakePeers struct {
	mu        sync.Mutex
	connected map[string]int // by listening IP: connections made to it
}

func (f *fakePeers) serve(t *testing.T, ip string, addrs []wire.TimedAddr) {
	t.Helper()
	nstest.IP(t, "addr", "add", ip+"/32", "dev", "br0")
	ln, err := net.Listen("tcp", ip+":18444")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.connected[ip]++
			f.mu.Unlock()
			go fakePeerConn(c, addrs)
		}
	}()
}

func (f *fakePeers) count(ips []string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ip := range ips {
		n += f.connected[ip]
	}
	return n
}

// fakePeerConn is one connection of a fake peer: it handshakes, answers
// pings and getaddr, and ignores the rest until the node hangs up.
func fakePeerConn(c net.Conn, addrs []wire.TimedAddr) {
	defer func() { _ = c.Close() }()
	magic := chain.Regtest.Magic
	r := wire.NewReader(bufio.NewReader(c), magic)
	send := func(m wire.Message) { _ = wire.WriteMessage(c, magic, m) }
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		switch f.Header.Command {
		case wire.CmdVersion:
			send(versionMsg())
			send(&wire.MsgVerack{})
		case wire.CmdPing:
			m, _ := wire.DecodeMessage(f.Header.Command, f.Payload)
			send(&wire.MsgPong{Nonce: m.(*wire.MsgPing).Nonce})
		case wire.CmdGetAddr:
			if len(addrs) > 0 {
				send(&wire.MsgAddr{Addrs: addrs})
			}
		}
	}
}

// TestAddrFloodAndRestart (issue 10): a node learns 20 honest addresses
// from its outbound peer; then 10 inbound connections each send 1,000
// made-up addresses (some of them the attacker's own, reachable). At least
// 18 of the 20 honest addresses stay in the book, and after a restart at
// least 6 of the node's 8 full-relay outbound connections go to honest
// peers. Everything in a private namespace: the node on 10.83.0.1, the
// peers as addresses of the test's bridge.
func TestAddrFloodAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a node process under an address flood")
	}
	if !nstest.Enter(t) {
		return
	}
	l := newLAN(t, 1)
	node := l.node(1)
	node.network = "regtest"
	fakes := &fakePeers{connected: map[string]int{}}
	// The test's namespace reaches the node's subnet over the bridge; the
	// node reaches every other address (the fakes' /32s) by its default
	// route onto the same bridge.
	nstest.IP(t, "addr", "add", "10.83.0.250/24", "dev", "br0")
	now := uint32(time.Now().Unix())
	var honestIPs []string
	var honestAddrs []wire.TimedAddr
	for i := range 20 {
		ip := fmt.Sprintf("10.83.0.%d", 100+i)
		honestIPs = append(honestIPs, ip)
		honestAddrs = append(honestAddrs, wire.TimedAddr{Time: now - 600, NetAddr: wire.NetAddr{Services: 9,
			Addr: netip.MustParseAddrPort(ip + ":18444")}})
	}
	for _, ip := range honestIPs[1:] {
		fakes.serve(t, ip, nil)
	}
	fakes.serve(t, honestIPs[0], honestAddrs) // the node's first peer tells it of the others

	// The attacker's own reachable addresses: 16, in 16 public /16s.
	var attackerIPs []string
	for g := range 16 {
		ip := fmt.Sprintf("44.%d.0.1", g)
		attackerIPs = append(attackerIPs, ip)
		fakes.serve(t, ip, nil)
	}
	node.start("--listen", ":18444", "--discover=false", "--addnode", honestIPs[0]+":18444")
	waitRPCReady(t, node)
	waitFor(t, time.Minute, "the node learns the 20 honest addresses", func() (bool, string) {
		got := knownAddrs(t, node)
		n := 0
		for _, ip := range honestIPs {
			n += got[ip]
		}
		return n >= 20, fmt.Sprintf("%d of 20 honest known", n)
	})

	// Ten inbound connections, 1,000 addresses each, ten times over.
	for c := range 10 {
		src := fmt.Sprintf("44.%d.%d.9", c, c)
		nstest.IP(t, "addr", "add", src+"/32", "dev", "br0")
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		conn, err := d.Dial("tcp", node.ip+":18444")
		if err != nil {
			t.Fatal(err)
		}
		p := newRawPeer(conn, chain.Regtest.Magic)
		t.Cleanup(p.close)
		p.handshake(t)
		for round := range 10 {
			m := &wire.MsgAddr{}
			for j := range wire.MaxAddrs {
				ip := netip.AddrFrom4([4]byte{44, byte(j % 16), byte(round), byte(c*20 + j/16%20)})
				if j < 16 {
					ip = netip.MustParseAddr(attackerIPs[j])
				}
				m.Addrs = append(m.Addrs, wire.TimedAddr{Time: now, NetAddr: wire.NetAddr{Services: 9, Addr: netip.AddrPortFrom(ip, 18444)}})
			}
			p.send(t, m)
		}
		p.expectPong(t, 99, 20*time.Second)
	}
	got := knownAddrs(t, node)
	kept := 0
	for _, ip := range honestIPs {
		kept += min(got[ip], 1)
	}
	t.Logf("after the flood the book holds %d addresses; %d of the 20 honest", len(got), kept)
	if kept < 18 {
		t.Fatalf("%d of 20 honest addresses kept after the flood, want at least 18", kept)
	}

	// Restart, without the addnode: where do its outbound connections go?
	node.stop()
	beforeHonest, beforeAttacker := fakes.count(honestIPs), fakes.count(attackerIPs)
	node.start("--listen", ":18444", "--discover=false")
	waitRPCReady(t, node)
	var honest, attacker int
	waitFor(t, 2*time.Minute, "8 full-relay outbound connections after the restart", func() (bool, string) {
		honest, attacker = 0, 0
		var peers []struct {
			Addr string `json:"addr"`
			Kind string `json:"connection_type"`
		}
		if err := node.call(&peers, "getpeerinfo"); err != nil {
			return false, err.Error()
		}
		for _, p := range peers {
			if p.Kind != "outbound-full-relay" {
				continue
			}
			if strings.HasPrefix(p.Addr, "44.") {
				attacker++
			} else {
				honest++
			}
		}
		return honest+attacker >= 8, fmt.Sprintf("%d honest, %d attacker", honest, attacker)
	})
	t.Logf("after the restart: %d outbound to honest peers, %d to the attacker (dials: %d honest, %d attacker)",
		honest, attacker, fakes.count(honestIPs)-beforeHonest, fakes.count(attackerIPs)-beforeAttacker)
	if honest < 6 {
		t.Fatalf("%d of 8 outbound connections to honest peers after the restart, want at least 6", honest)
	}
	node.stop()
}

// knownAddrs is the node's address book (getnodeaddresses), by IP.
func knownAddrs(t *testing.T, n *lanNode) map[string]int {
	t.Helper()
	var known []struct {
		Address string `json:"address"`
	}
	if err := n.call(&known, "getnodeaddresses", 0); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, k := range known {
		out[k.Address]++
	}
	return out
}

// Test125IdleInbound (issue 10): 125 idle TCP connections do not lock an
// honest newcomer out: it completes its handshake and stays.
func Test125IdleInbound(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a node process under a connection flood")
	}
	if !nstest.Enter(t) {
		return
	}
	l := newLAN(t, 1)
	node := l.node(1)
	node.network = "regtest"
	node.start("--listen", "127.0.0.1:18444", "--discover=false")
	waitRPCReady(t, node)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var idleConns []net.Conn
	for i := range 125 {
		c, err := node.dialFrom(fmt.Sprintf("127.0.%d.%d", 10+i/200, 1+i%200), "127.0.0.1:18444")
		if err != nil {
			t.Fatal(err)
		}
		idleConns = append(idleConns, c)
	}
	defer func() {
		for _, c := range idleConns {
			_ = c.Close()
		}
	}()
	honest := connectPeer(t, node, "127.0.99.1", "127.0.0.1:18444", chain.Regtest.Magic)
	honest.handshake(t)
	// More idle connections keep coming for a while.
	for i := range 60 {
		c, err := node.dialFrom(fmt.Sprintf("127.0.50.%d", 1+i), "127.0.0.1:18444")
		if err == nil {
			idleConns = append(idleConns, c)
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
	}
	honest.expectPong(t, 7, 10*time.Second)
	if honest.closed() {
		t.Fatal("the honest newcomer was dropped")
	}
	var count int
	if err := node.call(&count, "getconnectioncount"); err != nil {
		t.Fatal(err)
	}
	t.Logf("connections the node counts: %d", count)
	honest.close()
	node.stop()
}

// waitRPCReady waits until the node answers its RPC.
func waitRPCReady(t *testing.T, n *lanNode) {
	t.Helper()
	waitFor(t, 30*time.Second, "the node answers RPC", func() (bool, string) {
		h, _ := n.tip()
		return h >= 0, "no answer"
	})
}
