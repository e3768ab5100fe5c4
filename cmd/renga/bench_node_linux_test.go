package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/net/api"
	"github.com/renga-p2p/renga/wire"
)

// BenchmarkNodeMemory: a fresh `renga node` process syncs a 10,000-block
// regtest chain (about 11 signed transactions a block, a UTXO set growing to
// 100,000 coins) from another over loopback; reported are its resident
// memory once synced (MB-rss), its peak (MB-peak) and the sync time, for
// several --dbcache sizes. The goal is at most 100 MB.
//
//	go test ./cmd/renga -run '^$' -bench NodeMemory -benchtime 1x -count 3
func BenchmarkNodeMemory(b *testing.B) {
	const height = 10_000
	blocks := memoryChain(b, height)
	file := filepath.Join(b.TempDir(), "blocks.dat")
	var buf bytes.Buffer
	for _, blk := range blocks {
		raw, err := blk.AppendBinary(nil)
		if err != nil {
			b.Fatal(err)
		}
		buf.Write(chain.Regtest.Magic[:])
		buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(raw))))
		buf.Write(raw)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("chain: %d blocks, %.1f MB", len(blocks), float64(buf.Len())/1e6)
	source := filepath.Join(b.TempDir(), "source")
	if out, err := rengaCommand("import", "--network", "regtest", "--datadir", source, "--quiet", file).CombinedOutput(); err != nil {
		b.Fatalf("import: %v\n%s", err, out)
	}
	p2pPort, rpcPort := freePort(b), freePort(b)
	src := startProcessNode(b, source, "--listen", "127.0.0.1:"+p2pPort, "--rpc", "127.0.0.1:"+rpcPort)
	defer src.stop(b)

	for _, mib := range []int{16, 32, 64} {
		b.Run(fmt.Sprintf("dbcache=%d", mib), func(b *testing.B) {
			for b.Loop() {
				syncFresh(b, height, p2pPort, "--dbcache", strconv.Itoa(mib))
			}
		})
	}
}

// syncFresh starts a fresh node that syncs height blocks from the node at
// 127.0.0.1:port and reports its memory and time.
func syncFresh(b *testing.B, height int32, port string, flags ...string) {
	dir := filepath.Join(b.TempDir(), "fresh")
	rpc := freePort(b)
	start := time.Now()
	n := startProcessNode(b, dir, append([]string{"--listen", "off", "--rpc", "127.0.0.1:" + rpc, "--connect", "127.0.0.1:" + port}, flags...)...)
	client := waitClient(b, "127.0.0.1:"+rpc, filepath.Join(dir, "regtest", ".cookie"))
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var h int32
		if err := client.CallInto(context.Background(), &h, "getblockcount"); err == nil && h >= height {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not synced within 10 minutes")
		}
		time.Sleep(100 * time.Millisecond) // polling another process
	}
	took := time.Since(start)
	rss, peak := procMemory(b, n.cmd.Process.Pid)
	n.stop(b)
	b.ReportMetric(float64(rss)/1e6, "MB-rss")
	b.ReportMetric(float64(peak)/1e6, "MB-peak")
	b.ReportMetric(took.Seconds(), "s-sync")
	b.ReportMetric(float64(height)/took.Seconds(), "blocks/s")
}

// memoryChain builds a regtest chain of n blocks in which, from height 101,
// each block fans the coinbase of the block 100 below out to 10 outputs and
// spends each of the previous block's 10 fan-out outputs to a new coin.
func memoryChain(b *testing.B, n int) []*wire.Block {
	h := chaintest.New(b, chain.Regtest)
	blocks := h.Mine(100)
	var fanned []chaintest.Coin
	for len(blocks) < n {
		cb := chaintest.CoinbaseCoin(blocks[len(blocks)-100])
		var outs []wire.TxOut
		for range 10 {
			outs = append(outs, wire.TxOut{Value: (cb.Value - 10_000) / 10, ScriptPubKey: h.Script})
		}
		txs := []*wire.Tx{chaintest.Spend(b, h.Key, []chaintest.Coin{cb}, outs...)}
		fees := int64(cb.Value - 10*((cb.Value-10_000)/10))
		for _, c := range fanned {
			txs = append(txs, chaintest.Spend(b, h.Key, []chaintest.Coin{c}, wire.TxOut{Value: c.Value - 1000, ScriptPubKey: h.Script}))
			fees += 1000
		}
		blk := h.Next(nil, fees, txs...)
		if _, err := h.Chain.ProcessBlock(blk, nil); err != nil {
			b.Fatal(err)
		}
		blocks = append(blocks, blk)
		fanned = fanned[:0]
		id := txs[0].TxID()
		for i, o := range outs {
			fanned = append(fanned, chaintest.Coin{OutPoint: wire.OutPoint{Hash: id, Index: uint32(i)}, Value: o.Value, Script: o.ScriptPubKey})
		}
	}
	return blocks
}

// processNode is a `renga node` process on regtest on this host's loopback.
type processNode struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

func startProcessNode(tb testing.TB, dir string, flags ...string) *processNode {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	args := append([]string{"node", "--network", "regtest", "--datadir", dir, "--discover=false"}, flags...)
	cmd := rengaCommand(args...)
	logPath := filepath.Join(dir, "node.log")
	f, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	n := &processNode{cmd: cmd, done: make(chan error, 1), log: logPath}
	go func() { n.done <- cmd.Wait(); _ = f.Close() }()
	return n
}

func (n *processNode) stop(tb testing.TB) {
	tb.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGTERM) // it may have exited: Wait tells
	select {
	case err := <-n.done:
		if err != nil {
			log, _ := os.ReadFile(n.log)
			tb.Fatalf("node: %v\n%s", err, log)
		}
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		tb.Fatal("node did not stop within 30 s")
	}
}

// waitClient waits for a node's cookie file and returns an RPC client.
func waitClient(tb testing.TB, addr, cookie string) *api.Client {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := api.NewClient(addr, cookie)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no RPC at %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
}

// freePort returns a TCP port free on 127.0.0.1 just now.
func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// procMemory returns a process's resident set and its peak, in bytes.
func procMemory(tb testing.TB, pid int) (rss, peak int64) {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		key, val, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		switch key {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}
