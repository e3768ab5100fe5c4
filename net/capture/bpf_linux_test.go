package capture

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/sock"
	"github.com/renga-p2p/renga/net/sock/nstest"
	"github.com/renga-p2p/renga/wire"
)

// TestPortFilterOnPacketSocket attaches PortFilter to a real AF_PACKET socket
// on the loopback interface of a private network namespace, makes traffic
// (IPv4 and IPv6) on Renga's ports and on others, and checks that only the
// former arrives,
// twice (outgoing and incoming), and that the incoming copies decode.
func TestPortFilterOnPacketSocket(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	prog, err := PortFilter(DefaultPorts(), 262144) // lo's segments reach 64 KiB
	if err != nil {
		t.Fatal(err)
	}
	filter := make([]sock.BPFInstruction, len(prog))
	for i, ins := range prog {
		filter[i] = sock.BPFInstruction(ins)
	}
	pc, err := sock.ListenPacket(sock.PacketOptions{Interface: "lo", Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()

	// Traffic: a TCP exchange on the regtest port, one on another port, and
	// UDP datagrams to the discovery port and to another port.
	want := exchange(t, "127.0.0.1:18444", regtest)
	want = append(want, exchange(t, "[::1]:18444", regtest)...)
	exchange(t, "127.0.0.1:9999", regtest)
	exchange(t, "[::1]:9999", regtest)
	beacon := wire.AppendBeacon(nil, &wire.Beacon{Magic: regtest, Port: 18444, StartHeight: 3}, nil)
	for _, addr := range []string{"127.0.0.1:28334", "127.0.0.1:9998"} {
		u, err := net.Dial("udp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Write(beacon); err != nil {
			t.Fatal(err)
		}
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "beacon")

	d := NewDecoder(DecoderConfig{})
	var got []string
	var out, in int
	buf := make([]byte, 262144)
	if err := pc.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for len(got) < len(want) {
		info, err := pc.ReadPacket(buf)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		seg, err := ParsePacket(LinkEthernet, buf[:info.N])
		if err != nil {
			t.Fatalf("captured a packet that is not TCP or UDP: %v", err)
		}
		if !slices.Contains(DefaultPorts(), seg.Src.Port()) && !slices.Contains(DefaultPorts(), seg.Dst.Port()) {
			t.Fatalf("the filter let through %s → %s", seg.Src, seg.Dst)
		}
		if info.Type == sock.PacketOutgoing {
			out++
			continue // lo shows it again as incoming
		}
		in++
		if info.N < info.Length {
			t.Fatalf("a packet of %d bytes was cut to %d", info.Length, info.N)
		}
		for _, r := range d.Feed(Packet{Time: info.Time, LinkType: LinkEthernet, Data: buf[:info.N], Length: info.Length}, nil) {
			got = append(got, r.Command)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("decoded %v, want %v", got, want)
	}
	if out < in-1 || out > in {
		t.Fatalf("%d outgoing and %d incoming copies", out, in)
	}
}

// exchange connects to addr on lo, sends a version, a block and a
// ping, reads a pong back, and closes. It returns the commands in order.
func exchange(t *testing.T, addr string, magic wire.Magic) []string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer func() { _ = c.Close() }()
		r := wire.NewReader(c, magic)
		for range 3 {
			if _, err := r.ReadMessage(); err != nil {
				done <- err
				return
			}
		}
		done <- wire.WriteMessage(c, magic, &wire.MsgPong{Nonce: 5})
	}()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, m := range []wire.Message{&wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, UserAgent: "/test/"}, testBlock(300), &wire.MsgPing{Nonce: 5}} {
		if err := wire.WriteMessage(c, magic, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := wire.NewReader(c, magic).ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return []string{"version", "block", "ping", "pong"}
}
