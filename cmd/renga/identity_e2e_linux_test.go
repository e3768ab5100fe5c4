package main

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/net/sock/nstest"
	"github.com/renga-p2p/renga/wire"
)

// TestBorrowedIdentity (issue 10): A and B are devnet nodes on a LAN that
// found each other by discovery. A third party connects to A claiming to be
// B: as version nonce it sends B's discovery instance id (what beacons
// broadcast), and as addr_from B's listening address. The A-B connection
// stays up; and when B restarts, A connects to it again. In private
// namespaces.
func TestBorrowedIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: node processes and an impostor")
	}
	if !nstest.Enter(t) {
		return
	}
	l := newLAN(t, 2)
	a, b := l.node(1), l.node(2)
	a.start()
	b.start()
	connectedToB := func() (bool, string) {
		var peers []struct {
			Addr string `json:"addr"`
		}
		if err := a.call(&peers, "getpeerinfo"); err != nil {
			return false, err.Error()
		}
		for _, p := range peers {
			if ap, err := netip.ParseAddrPort(p.Addr); err == nil && ap.Addr().String() == b.ip {
				return true, ""
			}
		}
		return false, fmt.Sprintf("a's peers %v", peers)
	}
	waitFor(t, 20*time.Second, "a connected to b through discovery", connectedToB)
	var disc struct {
		Peers []struct {
			Addr     string `json:"addr"`
			Instance string `json:"instance"`
		} `json:"peers"`
	}
	if err := a.call(&disc, "getdiscoveryinfo"); err != nil {
		t.Fatal(err)
	}
	var bInstance uint64
	var bAddr netip.AddrPort
	for _, p := range disc.Peers {
		if ap, err := netip.ParseAddrPort(p.Addr); err == nil && ap.Addr().String() == b.ip {
			bInstance, _ = strconv.ParseUint(p.Instance, 16, 64)
			bAddr = ap
		}
	}
	if bInstance == 0 {
		t.Fatalf("a's discovery does not know b: %+v", disc)
	}

	// The impostor, from the test's namespace on the bridge.
	nstest.IP(t, "addr", "add", "10.83.0.250/24", "dev", "br0")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("10.83.0.250")}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", net.JoinHostPort(a.ip, strconv.Itoa(int(chain.Devnet.DefaultPort))))
	if err != nil {
		t.Fatal(err)
	}
	p := newRawPeer(c, chain.Devnet.Magic)
	t.Cleanup(p.close)
	v := versionMsg()
	v.Nonce = bInstance
	v.AddrFrom = wire.NetAddr{Services: 9, Addr: bAddr}
	p.send(t, v)
	p.send(t, &wire.MsgVerack{})
	select {
	case <-p.verack:
	case <-p.done:
		t.Fatal("a refused the impostor's handshake")
	case <-time.After(10 * time.Second):
		t.Fatal("no verack for the impostor in 10 s")
	}
	p.expectPong(t, 5, 10*time.Second)
	// Ten seconds later the real connection is still up.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok, state := connectedToB(); !ok {
			t.Fatalf("the a-b connection went down after the impostor's claim: %s", state)
		}
		p.expectPong(t, 6, 10*time.Second)
	}
	// b restarts; a reconnects to it, the impostor still connected.
	b.stop()
	b.start()
	waitFor(t, 45*time.Second, "a connected to b again after b's restart", connectedToB)
	if p.closed() {
		t.Error("the impostor was disconnected: it did nothing wrong but lie about who it is")
	}
	a.stop()
	b.stop()
}
