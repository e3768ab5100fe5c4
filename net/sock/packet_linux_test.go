package sock

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/sock/nstest"
)

// udpToPort is a hand-assembled classic BPF program: keep IPv4 UDP datagrams
// to port (on an Ethernet-framed interface), drop everything else.
func udpToPort(port uint16) []BPFInstruction {
	return []BPFInstruction{
		{Op: 0x28, K: 12},                  // ldh [12]
		{Op: 0x15, Jt: 0, Jf: 6, K: 0x800}, // jeq #0x800 else drop
		{Op: 0x30, K: 23},                  // ldb [23]
		{Op: 0x15, Jt: 0, Jf: 4, K: 17},    // jeq #17 (UDP) else drop
		{Op: 0xb1, K: 14},                  // ldxb 4*([14]&0xf)
		{Op: 0x48, K: 16},                  // ldh [x+16]: destination port
		{Op: 0x15, Jt: 0, Jf: 1, K: uint32(port)},
		{Op: 0x06, K: 65535}, // ret #65535
		{Op: 0x06, K: 0},     // ret #0
	}
}

// send writes one UDP datagram from 127.0.0.1 to 127.0.0.1:port.
func send(t *testing.T, port int, payload string) {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
}

func TestPacketConnOnLoopback(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	const wanted, other = 40001, 40002
	c, err := ListenPacket(PacketOptions{Interface: "lo", Filter: udpToPort(wanted)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if !c.Loopback() || !c.Ethernet() {
		t.Fatalf("lo: loopback %v, ethernet %v; want both", c.Loopback(), c.Ethernet())
	}
	before := time.Now()
	send(t, other, "filtered out")
	send(t, wanted, "first")
	send(t, other, "filtered out")
	send(t, wanted, "last")
	// The filter lets through exactly the two datagrams to the wanted port,
	// and lo shows each twice: outgoing, then incoming.
	want := []struct {
		payload string
		typ     PacketType
	}{{"first", PacketOutgoing}, {"first", PacketHost}, {"last", PacketOutgoing}, {"last", PacketHost}}
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for i, w := range want {
		info, err := c.ReadPacket(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		pkt := buf[:info.N]
		if len(pkt) < 14+20+8 {
			t.Fatalf("packet %d: %d bytes", i, len(pkt))
		}
		port := binary.BigEndian.Uint16(pkt[14+20+2:])
		payload := string(pkt[14+20+8:])
		if port != wanted || payload != w.payload || info.Type != w.typ {
			t.Errorf("packet %d: port %d %q type %d, want port %d %q type %d", i, port, payload, info.Type, wanted, w.payload, w.typ)
		}
		if info.Protocol != 0x0800 || info.Length != info.N {
			t.Errorf("packet %d: protocol %#x, length %d of %d", i, info.Protocol, info.Length, info.N)
		}
		if info.Time.Before(before.Add(-time.Second)) || info.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("packet %d: kernel timestamp %v not around now", i, info.Time)
		}
	}

	t.Run("short buffer", func(t *testing.T) {
		send(t, wanted, "a datagram longer than the buffer")
		info, err := c.ReadPacket(make([]byte, 20))
		if err != nil {
			t.Fatal(err)
		}
		if info.N != 20 || info.Length != 14+20+8+len("a datagram longer than the buffer") {
			t.Fatalf("stored %d of %d bytes; want 20 of the whole packet", info.N, info.Length)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		for { // drain the incoming copy of the last datagram, then time out
			if _, err := c.ReadPacket(buf); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("error %v, want a deadline error", err)
				}
				break
			}
		}
	})
}

func TestPacketConnCloseWakesReader(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	c, err := ListenPacket(PacketOptions{Interface: "lo", Filter: udpToPort(40003)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := c.ReadPacket(make([]byte, 100))
		done <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("read after close: %v, want os.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the reader")
	}
}

func TestListenPacketRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    PacketOptions
		want error
	}{
		{"no interface", PacketOptions{}, ErrInvalidOptions},
		{"unknown interface", PacketOptions{Interface: "no-such-if0"}, ErrNoInterface},
		{"huge filter", PacketOptions{Interface: "lo", Filter: make([]BPFInstruction, 5000)}, ErrInvalidOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ListenPacket(tc.o)
			if err == nil {
				_ = c.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}
