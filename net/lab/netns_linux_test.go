package lab

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/sock/nstest"
)

// TestLinkNetwork builds a ring of four namespaces, one veth pair per
// link, and checks that a node reaches its neighbours and nobody else, that
// a cut drops packets (one way, then both ways) and a heal restores them,
// and that conditions reach the kernel: a rate through tbf or netem, and
// with netem a delay the round trip shows.
func TestLinkNetwork(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.RequireLinkType(t, "veth")
	shaping, err := ProbeShaping()
	if err != nil {
		t.Skip(err)
	}
	t.Logf("kernel shaping: %+v", shaping)
	top, err := Generate("ring", 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	delay := 15 * time.Millisecond
	top.Links[0].Cond = Conditions{Delay: delay, Rate: 20_000_000}
	nw, err := NewLinkNetwork(top, 28333, shaping)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := nw.Close(); err != nil {
			t.Error(err)
		}
	}()
	lc := nw.(LinkControl)
	want, _ := shaping.Supports(top.Links[0].Cond)
	if got := lc.Applied(0); got != want {
		t.Errorf("link 0 applied %v, want %v", got, want)
	}
	// A UDP listener on every node's every address.
	ln := nw.(*linkNetwork)
	recv := make([]*net.UDPConn, 4)
	for i := range 4 {
		if err := ln.nodes[i].Do(func() error {
			var err error
			recv[i], err = net.ListenUDP("udp4", &net.UDPAddr{Port: 5000})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = recv[i].Close() }() // read-only
	}
	// reaches reports whether a datagram from node from reaches node to
	// over link k.
	reaches := func(from, to, k int) bool {
		t.Helper()
		a, b := linkAddrs(k)
		dst := b
		if top.Links[k].A == to {
			dst = a
		}
		msg := []byte{byte(from), byte(to), byte(k), byte(time.Now().UnixNano())}
		err := ln.nodes[from].Do(func() error {
			c, err := net.Dial("udp4", net.JoinHostPort(dst.String(), "5000"))
			if err != nil {
				return err
			}
			defer func() { _ = c.Close() }() // a datagram socket: the write is what counts
			_, err = c.Write(msg)
			return err
		})
		if err != nil {
			return false // no route: unreachable
		}
		buf := make([]byte, 16)
		for {
			_ = recv[to].SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := recv[to].Read(buf)
			if err != nil {
				return false
			}
			if string(buf[:n]) == string(msg) {
				return true
			}
		}
	}
	// Ring 0-1-2-3-0: links 0:(0,1) 1:(0,3) 2:(1,2) 3:(2,3).
	k01, _ := top.LinkIndex(0, 1)
	if !reaches(0, 1, k01) || !reaches(1, 0, k01) {
		t.Fatal("neighbours 1 and 2 cannot reach each other")
	}
	// Node 1 has no route to node 3's subnet on link 2-3.
	k23, _ := top.LinkIndex(2, 3)
	a23, b23 := linkAddrs(k23)
	for _, addr := range []string{a23.String(), b23.String()} {
		err := ln.nodes[0].Do(func() error {
			c, err := net.Dial("udp4", net.JoinHostPort(addr, "5000"))
			if err == nil {
				_, err = c.Write([]byte("x"))
				_ = c.Close() // the write is what counts
			}
			return err
		})
		if err == nil {
			t.Errorf("node 1 sent to %s, on a link it is not on", addr)
		}
	}
	if err := lc.Cut(k01, 0); err != nil {
		t.Fatal(err)
	}
	if reaches(0, 1, k01) || !reaches(1, 0, k01) {
		t.Error("cut one way from node 1: want 1→2 dropped and 2→1 through")
	}
	if err := lc.Cut(k01, -1); err != nil {
		t.Fatal(err)
	}
	if reaches(0, 1, k01) || reaches(1, 0, k01) {
		t.Error("cut both ways: a datagram got through")
	}
	if err := lc.Cut(k01, 2); err == nil {
		t.Error("cut from a node not on the link: no error")
	}
	if err := lc.Heal(k01); err != nil {
		t.Fatal(err)
	}
	if !reaches(0, 1, k01) || !reaches(1, 0, k01) {
		t.Error("healed: the link does not carry both ways")
	}

	qdisc := func(node int, dev string) string {
		var out []byte
		_ = ln.nodes[node].Do(func() error {
			var err error
			out, err = exec.Command("tc", "qdisc", "show", "dev", dev).CombinedOutput()
			return err
		})
		return string(out)
	}
	q := qdisc(0, linkDev(k01))
	if !strings.Contains(q, "rate 20Mbit") {
		t.Errorf("link 1-2's qdisc has no 20 Mbit rate:\n%s", q)
	}
	// Changing a link while running.
	if got, err := lc.SetConditions(k23, Conditions{Rate: 5_000_000}); err != nil || got.Rate != 5_000_000 {
		t.Fatalf("SetConditions = %v, %v", got, err)
	}
	if q := qdisc(3, linkDev(k23)); !strings.Contains(q, "rate 5Mbit") {
		t.Errorf("link 3-4 after SetConditions:\n%s", q)
	}
	if _, err := lc.SetConditions(k23, Conditions{}); err != nil {
		t.Fatal(err)
	}
	if q := qdisc(2, linkDev(k23)); strings.Contains(q, "rate") {
		t.Errorf("link 3-4 made plain again still limits:\n%s", q)
	}

	t.Run("nftables loss", func(t *testing.T) {
		if shaping.Netem || !shaping.NFT {
			t.Skipf("loss goes through nftables only without netem and with nft (shaping %+v)", shaping)
		}
		// All lost, then none: each end drops what arrives on the link.
		if _, err := lc.SetConditions(k01, Conditions{Loss: 100}); err != nil {
			t.Fatal(err)
		}
		if reaches(0, 1, k01) || reaches(1, 0, k01) {
			t.Error("link 1-2 at 100% loss carried a datagram")
		}
		if !reaches(0, 3, 1) {
			t.Error("node 1's other link 1-4 lost a datagram at 0% loss")
		}
		if _, err := lc.SetConditions(k01, Conditions{Loss: 50}); err != nil {
			t.Fatal(err)
		}
		// 200 datagrams at 50%: outside 40 to 160 has odds under 1e-17.
		a, b := linkAddrs(k01)
		dst := b
		if top.Links[k01].A == 1 {
			dst = a
		}
		err := ln.nodes[0].Do(func() error {
			c, err := net.Dial("udp4", net.JoinHostPort(dst.String(), "5000"))
			if err != nil {
				return err
			}
			defer func() { _ = c.Close() }() // a datagram socket: the writes are what count
			for i := range 200 {
				if _, err := c.Write([]byte{'L', byte(i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		buf := make([]byte, 16)
		for {
			_ = recv[1].SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := recv[1].Read(buf)
			if err != nil {
				break // 300 ms without one: the rest were lost
			}
			if n == 2 && buf[0] == 'L' {
				got++
			}
		}
		if got < 40 || got > 160 {
			t.Errorf("link 1-2 at 50%% loss carried %d of 200 datagrams", got)
		}
		t.Logf("link 1-2 at 50%% loss carried %d of 200 datagrams", got)
		if _, err := lc.SetConditions(k01, Conditions{}); err != nil {
			t.Fatal(err)
		}
		if !reaches(0, 1, k01) || !reaches(1, 0, k01) {
			t.Error("link 1-2 back to no loss does not carry both ways")
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rtt, err := lc.RTT(ctx, k01)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := lc.RTT(ctx, k23)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("round trips: link 1-2 %v (%v configured each way), link 3-4 %v", rtt, delay, plain)
	t.Run("netem", func(t *testing.T) {
		if !shaping.Netem {
			t.Skipf("this kernel lacks netem: %v", ErrNoNetem)
		}
		if rtt < 2*delay {
			t.Errorf("link 1-2's round trip %v is under twice its %v delay", rtt, delay)
		}
		if _, err := lc.SetConditions(k01, Conditions{Delay: 2 * delay, Jitter: delay, Loss: 1}); err != nil {
			t.Fatal(err)
		}
		if q := qdisc(1, linkDev(k01)); !strings.Contains(q, "netem") || !strings.Contains(q, "loss 1%") {
			t.Errorf("link 1-2 after SetConditions:\n%s", q)
		}
	})
}

// TestShapingSupports: without netem only the rate survives, and the
// error says so.
func TestShapingSupports(t *testing.T) {
	c := Conditions{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 1, Rate: 1e6}
	got, err := Shaping{TBF: true}.Supports(c)
	if got != (Conditions{Rate: 1e6}) || !errors.Is(err, ErrNoNetem) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("tbf only: %v, %v", got, err)
	}
	if got, err := (Shaping{Netem: true, TBF: true}).Supports(c); got != c || err != nil {
		t.Errorf("netem: %v, %v", got, err)
	}
	if got, err := (Shaping{TBF: true}).Supports(Conditions{Rate: 1e6}); got.Rate != 1e6 || err != nil {
		t.Errorf("a rate alone with tbf: %v, %v", got, err)
	}
	if got, err := (Shaping{TBF: true, NFT: true}).Supports(c); got != (Conditions{Loss: 1, Rate: 1e6}) || !errors.Is(err, ErrNoNetem) {
		t.Errorf("tbf and nftables: %v, %v", got, err)
	}
	if got, err := (Shaping{NFT: true}).Supports(Conditions{Loss: 0.5}); got.Loss != 0.5 || err != nil {
		t.Errorf("loss alone with nftables: %v, %v", got, err)
	}
	// Without netem the qdisc leaves loss to nftables.
	if args, err := (Shaping{TBF: true, NFT: true}).qdiscArgs("l0", Conditions{Loss: 1}); err != nil || strings.Join(args, " ") != "qdisc del dev l0 root" {
		t.Errorf("loss alone without netem: qdisc %v, %v", args, err)
	}
	want := "table inet renga_lab\ndelete table inet renga_lab\ntable inet renga_lab {\n\tchain in {\n" +
		"\t\ttype filter hook prerouting priority -300; policy accept;\n" +
		"\t\tiifname \"l0\" numgen random mod 1000000 < 10000 drop\n\t\tiifname \"l7\" numgen random mod 1000000 < 2500 drop\n\t}\n}\n"
	if got := lossRuleset(map[string]float64{"l7": 0.25, "l0": 1}); got != want {
		t.Errorf("loss ruleset:\n%s\nwant\n%s", got, want)
	}
	args, err := Shaping{Netem: true}.qdiscArgs("l0", c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(args, " "), "qdisc replace dev l0 root netem limit 100000 delay 20000us 5000us loss 1% rate 1000000bit"; got != want {
		t.Errorf("netem args:\n got %s\nwant %s", got, want)
	}
}
