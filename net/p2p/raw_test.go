package p2p

import (
	"bufio"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/net/sock/memnet"
	"github.com/renga-p2p/renga/wire"
)

// rawPeer is the other end of a connection to a server, driven by hand:
// what a hostile or a greedy peer would send.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	r    *wire.Reader
}

// dialRaw connects to n from a new host of tn and completes the handshake.
func (tn *testNet) dialRaw(n *testNode) *rawPeer {
	tn.t.Helper()
	return tn.dialRawFrom(tn.host(), n)
}

// dialRawFrom connects to n from host and completes the handshake.
func (tn *testNet) dialRawFrom(host *memnet.Host, n *testNode) *rawPeer {
	tn.t.Helper()
	return tn.dial(host, n, &wire.MsgVersion{ProtocolVersion: wire.ProtocolVersion, Nonce: 0x5eed0000 + uint64(tn.next),
		Services: wire.SFNodeNetwork, UserAgent: "/raw/", Relay: true})
}

// dialRawWith connects to n from a new host with this version message.
func (tn *testNet) dialRawWith(n *testNode, v *wire.MsgVersion) *rawPeer {
	tn.t.Helper()
	return tn.dial(tn.host(), n, v)
}

func (tn *testNet) dial(host *memnet.Host, n *testNode, v *wire.MsgVersion) *rawPeer {
	tn.t.Helper()
	c, err := host.Dial(tn.t.Context(), netip.MustParseAddrPort(n.addr))
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.t.Cleanup(func() { _ = c.Close() })
	r := &rawPeer{t: tn.t, conn: c, r: wire.NewReader(bufio.NewReaderSize(c, 64<<10), chain.Regtest.Magic)}
	r.send(v)
	r.expect(wire.CmdVerack)
	r.send(&wire.MsgVerack{})
	return r
}

func (r *rawPeer) send(m wire.Message) {
	r.t.Helper()
	if err := r.conn.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
		r.t.Fatal(err)
	}
	if err := wire.WriteMessage(r.conn, chain.Regtest.Magic, m); err != nil {
		r.t.Fatalf("send %s: %v", m.Command(), err)
	}
}

// next reads the next frame, giving up after 5 minutes (of fake time).
func (r *rawPeer) next() (wire.Frame, error) {
	if err := r.conn.SetReadDeadline(time.Now().Add(5 * time.Minute)); err != nil {
		return wire.Frame{}, err
	}
	return r.r.ReadFrame()
}

// expect reads until a message of cmd arrives, and decodes it.
func (r *rawPeer) expect(cmd string) wire.Message {
	r.t.Helper()
	for {
		f, err := r.next()
		if err != nil {
			r.t.Fatalf("waiting for %s: %v", cmd, err)
		}
		if f.Header.Command != cmd {
			continue
		}
		m, err := wire.DecodeMessage(cmd, f.Payload)
		if err != nil {
			r.t.Fatalf("%s: %v", cmd, err)
		}
		return m
	}
}

// closedWithin reports whether the server closed the connection within d
// (reading and dropping whatever it sends meanwhile).
func (r *rawPeer) closedWithin(d time.Duration) bool {
	deadline := time.Now().Add(d)
	if err := r.conn.SetReadDeadline(deadline); err != nil {
		return false
	}
	for {
		if _, err := r.r.ReadFrame(); err != nil {
			return time.Now().Before(deadline)
		}
	}
}
