package main

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/sock/nstest"
	"github.com/renga-p2p/renga/wire"
)

// TestTarpitBeacons (issue 10): eight beacons on the LAN point at tarpits
// (addresses that accept a connection and never say a word), heard before
// the one honest node's. The node under test still connects to the honest
// node within 10 s of it starting. Two node processes and eight fake
// senders, each on the LAN's subnet, in private namespaces.
func TestTarpitBeacons(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: node processes on a LAN with tarpits")
	}
	if !nstest.Enter(t) {
		return
	}
	l := newLAN(t, 2)
	victim, honest := l.node(1), l.node(2)
	// The tarpits live in the test's namespace, on the bridge: addresses
	// of the LAN's subnet, so their beacons are believed.
	nstest.IP(t, "addr", "add", "10.83.0.250/24", "dev", "br0")
	nstest.IP(t, "route", "add", "239.0.0.0/8", "dev", "br0")
	var tarpits []string
	for i := range 8 {
		ip := fmt.Sprintf("10.83.0.%d", 200+i)
		nstest.IP(t, "addr", "add", ip+"/32", "dev", "br0")
		ln, err := net.Listen("tcp", ip+":28333")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		go func() {
			var held []net.Conn // accepted and never answered
			defer func() {
				for _, c := range held {
					_ = c.Close()
				}
			}()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
			}
		}()
		tarpits = append(tarpits, ip)
	}
	beacon := func(ip string, instance, seq uint64) {
		t.Helper()
		u, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)}, net.UDPAddrFromAddrPort(discover.DefaultGroup()))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = u.Close() }()
		b := &wire.Beacon{Magic: chain.Devnet.Magic, Genesis: chain.Devnet.GenesisHash, Instance: instance, Port: 28333,
			Services: wire.SFNodeNetwork | wire.SFNodeWitness, Time: time.Now().UnixMilli(), Sequence: seq}
		if _, err := u.Write(wire.AppendBeacon(nil, b, nil)); err != nil {
			t.Fatal(err)
		}
	}
	victim.start("--listen", ":28333")
	waitRPCReady(t, victim)
	for i, ip := range tarpits {
		beacon(ip, uint64(0x7a000000+i), 1)
	}
	waitFor(t, 10*time.Second, "the victim hears the eight tarpits", func() (bool, string) {
		var info struct {
			Peers []struct {
				Addr string `json:"addr"`
			} `json:"peers"`
		}
		if err := victim.call(&info, "getdiscoveryinfo"); err != nil {
			return false, err.Error()
		}
		return len(info.Peers) >= 8, fmt.Sprintf("%d discovered", len(info.Peers))
	})
	start := time.Now()
	honest.start("--listen", ":28333")
	waitFor(t, 10*time.Second, "the victim connected to the honest node", func() (bool, string) {
		var peers []struct {
			Addr string `json:"addr"`
		}
		if err := victim.call(&peers, "getpeerinfo"); err != nil {
			return false, err.Error()
		}
		for _, p := range peers {
			if ap, err := netip.ParseAddrPort(p.Addr); err == nil && ap.Addr().String() == honest.ip {
				return true, ""
			}
		}
		return false, fmt.Sprintf("peers %v", peers)
	})
	t.Logf("connected to the honest node %v after it started, with 8 tarpits on the LAN", time.Since(start).Round(time.Millisecond))
	honest.stop()
	victim.stop()
}
