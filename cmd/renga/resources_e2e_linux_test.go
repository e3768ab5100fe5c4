package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/sock/nstest"
	"github.com/renga-p2p/renga/wire"
)

// Bounds the attacks of TestPeerResourceAttacks must stay within.
const (
	// maxAttackRSS is how much a node's resident memory may grow under each
	// attack (issue 9: 20 parentless 4 MB blocks, or a 50,000-entry getdata
	// of a 900 KB block with the socket unread).
	maxAttackRSS = 64 << 20
	// maxForkDisk is how much 100 unrequested ~500 KB blocks of a low-work
	// fork may grow the data directory by.
	maxForkDisk = 10 << 20
)

// TestPeerResourceAttacks: one `renga node` process (regtest, in a private
// namespace) against the attacks of issue 9, each from its own address,
// with an honest peer connected throughout that keeps getting pongs and
// every new block. For each: the attacker's traffic, the node's resident
// memory (or disk) growth, bounded by the constants above, and the penalty.
func TestPeerResourceAttacks(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a node process under attack")
	}
	if !nstest.Enter(t) {
		return
	}
	l := newLAN(t, 1)
	node := l.node(1)
	node.network = "regtest"
	node.start("--listen", "127.0.0.1:18444", "--discover=false")
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
	mine(200)
	const addr = "127.0.0.1:18444"
	magic := chain.Regtest.Magic
	honest := connectPeer(t, node, "127.0.0.2", addr, magic)
	honest.handshake(t)
	stopPings := honest.pingEvery(50 * time.Millisecond)
	nonce := uint64(0)
	servedHonest := func(t *testing.T) {
		t.Helper()
		nonce++
		honest.expectPong(t, nonce, 10*time.Second)
		before := honest.blocks.Load()
		mine(1)
		waitFor(t, 10*time.Second, "the honest peer got the new block", func() (bool, string) {
			return honest.blocks.Load() > before, fmt.Sprintf("%d blocks", honest.blocks.Load())
		})
	}
	tip := func() (sha256d.Hash, int32) {
		h, hash := node.tip()
		return sha256d.MustParseHash(hash), h
	}

	t.Run("20 parentless 4 MB blocks of empty witness items", func(t *testing.T) {
		rss := node.rss()
		block := witnessBombBlock()
		t.Logf("each block: %d bytes, %d witness items", len(block), len(block)-200)
		frame := wire.AppendRawFrame(nil, magic, wire.CmdBlock, block)
		for i := range 20 {
			p := connectPeer(t, node, fmt.Sprintf("127.0.3.%d", i+1), addr, magic)
			p.handshake(t)
			p.writeRaw(t, frame)
			p.expectClosed(t, 30*time.Second)
		}
		if grown := node.rss() - rss; grown > maxAttackRSS {
			t.Errorf("resident memory grew by %d MiB for 20 parentless 4 MB blocks, bound %d MiB", grown>>20, maxAttackRSS>>20)
		} else {
			t.Logf("resident memory grew by %+d MiB", grown>>20)
		}
		if !node.logged("peer disconnected", "reason", "misbehaved") {
			t.Error("no disconnect for misbehaviour was logged")
		}
		servedHonest(t)
	})

	t.Run("a 50,000-entry getdata of a 900 KB block, never read", func(t *testing.T) {
		// Twelve 900 KB blocks on the tip.
		var big []*wire.Block
		for range 12 {
			parent, height := tip()
			var hdr struct {
				Time uint32 `json:"time"`
			}
			if err := node.call(&hdr, "getblockheader", parent.String(), true); err != nil {
				t.Fatal(err)
			}
			b := bigBlock(t, parent, height+1, 900_000, hdr.Time+1)
			raw, _ := b.AppendBinary(nil)
			var res any
			if err := node.call(&res, "submitblock", hex.EncodeToString(raw)); err != nil || res != nil {
				t.Fatalf("submitblock: %v %v", res, err)
			}
			big = append(big, b)
		}
		rss := node.rss()
		// One attacker names the first block 50,000 times; another names
		// all twelve, four times over. Neither reads, through a 4 KiB
		// receive buffer: what the node sends piles up at the node.
		same := make([]wire.InvVect, wire.MaxInvEntries)
		for i := range same {
			same[i] = wire.InvVect{Type: wire.InvBlock, Hash: big[0].Hash()}
		}
		var all []wire.InvVect
		for range 4 {
			for _, b := range big {
				all = append(all, wire.InvVect{Type: wire.InvBlock, Hash: b.Hash()})
			}
		}
		for i, inv := range [][]wire.InvVect{same, all} {
			c, err := node.dialSmallBuffer(fmt.Sprintf("127.0.4.%d", i+1), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			for _, m := range []wire.Message{versionMsg(), &wire.MsgVerack{}, &wire.MsgGetData{Inv: inv}} {
				if err := wire.WriteMessage(c, magic, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		servedHonest(t) // meanwhile
		// The one naming twelve blocks is dropped once a write makes no
		// progress for 30 s (the node's kernel buffer and its own send
		// buffer full); the node's memory stays bounded throughout.
		waitFor(t, 2*time.Minute, "the non-reader's disconnect", func() (bool, string) {
			n := 0
			for _, e := range node.logEntries() {
				if e.Msg == "peer disconnected" && e.Fields["reason"] == "slow" {
					n++
				}
			}
			return n >= 1, fmt.Sprintf("%d slow disconnects", n)
		})
		if grown := node.rss() - rss; grown > maxAttackRSS {
			t.Errorf("resident memory grew by %d MiB for getdata floods left unread, bound %d MiB", grown>>20, maxAttackRSS>>20)
		} else {
			t.Logf("resident memory grew by %+d MiB", grown>>20)
		}
		servedHonest(t)
	})

	t.Run("100 unrequested 500 KB blocks forking from genesis", func(t *testing.T) {
		before := dirSize(t, node.dir)
		c, err := node.dialFrom("127.0.5.1", addr)
		if err != nil {
			t.Fatal(err)
		}
		p := newRawPeer(c, magic)
		t.Cleanup(p.close)
		p.handshake(t)
		parent := chain.NewTestNode(&chain.Regtest.Genesis.Header, nil)
		script := bytes.Repeat([]byte{0x00}, 500_000)
		sent := 0
		for i := range 100 {
			b := chaintest.Block(t, chain.Regtest, parent, script, 0, uint64(7000+i))
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := wire.WriteMessage(c, magic, b); err != nil {
				break // the node hung up: the rest goes nowhere
			}
			sent++
			parent = chain.NewTestNode(&b.Header, parent)
		}
		// Below the anti-DoS threshold the first block is dropped with its
		// header, so the second's parent is unknown: the sender is cut off.
		p.expectClosed(t, 30*time.Second)
		grown := dirSize(t, node.dir) - before
		t.Logf("sent %d of 100 blocks before the node hung up; the data directory grew by %d KiB", sent, grown>>10)
		if grown > maxForkDisk {
			t.Errorf("the data directory grew by %d MiB for a low-work fork, bound %d MiB", grown>>20, maxForkDisk>>20)
		}
		servedHonest(t)
	})

	stopPings()
	if sent, got := honest.pings.Load(), honest.pongs.Load(); honest.closed() || got < sent-2 {
		t.Errorf("the honest peer: closed %v, %d pongs for %d pings", honest.closed(), got, sent)
	}
	// The disconnects are counted by reason where an operator looks: the
	// 20 bomb senders and the parentless fork's as misbehaved, the unread
	// getdata flood as slow.
	metrics := node.metrics()
	for reason, least := range map[string]float64{"misbehaved": 21, "slow": 1} {
		var v float64
		_, _ = fmt.Sscanf(metricLine(metrics, fmt.Sprintf("renga_disconnects_total{reason=%q}", reason)), "%g", &v)
		if v < least {
			t.Errorf("renga_disconnects_total{reason=%q} = %g, want at least %g", reason, v, least)
		}
	}
	honest.close()
	node.stop()
}

// witnessBombBlock is a 4 MB block (with an unknown parent) whose one
// transaction carries as many empty witness items as fit: decoded naively,
// 24 bytes of slice header per item, ~96 MB for 4 MB of payload.
func witnessBombBlock() []byte {
	const items = 3_900_000
	var b []byte
	h := wire.Header{Version: 4, PrevBlock: sha256d.Hash{0xde, 0xad}, Time: uint32(time.Now().Unix()),
		Bits: chain.Regtest.PowLimitBits}
	solve(&h)
	hb := h.Bytes()
	b = append(b, hb[:]...)
	b = append(b, 1)          // one transaction
	b = append(b, 1, 0, 0, 0) // version
	b = append(b, 0, 1)       // segwit marker and flag
	b = append(b, 1)          // one input
	b = append(b, make([]byte, 36)...)
	b = append(b, 0) // empty scriptSig
	b = append(b, 0xff, 0xff, 0xff, 0xff)
	b = append(b, 1) // one output
	b = append(b, make([]byte, 8)...)
	b = append(b, 0)                // empty script
	b = append(b, varint(items)...) // the witness stack
	b = append(b, make([]byte, items)...)
	return append(b, 0, 0, 0, 0) // lock time
}

// bigBlock is a valid regtest block on parent whose coinbase pays to a
// script of size OP_0s, timed at when or now, whichever is later.
func bigBlock(t *testing.T, parent sha256d.Hash, height int32, size int, when uint32) *wire.Block {
	t.Helper()
	cb := chaintest.Coinbase(height, bytes.Repeat([]byte{0x00}, size), chain.Regtest.Subsidy(height), 1)
	b := &wire.Block{Header: wire.Header{Version: 4, PrevBlock: parent, Time: max(when, uint32(time.Now().Unix())),
		Bits: chain.Regtest.PowLimitBits}, Txs: []wire.Tx{cb}}
	b.Header.MerkleRoot, _ = b.MerkleRoot()
	solve(&b.Header)
	return b
}

// dirSize is the bytes of the files under dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// dialSmallBuffer is dialFrom with a 4 KiB receive buffer, set before the
// connection is made (so the window the peer sees is small): a reader that
// stops reading stalls the sender at once.
func (n *lanNode) dialSmallBuffer(src, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.ns.Do(func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second,
			Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
				}); err != nil {
					return err
				}
				return serr
			}}
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	})
	return c, err
}
