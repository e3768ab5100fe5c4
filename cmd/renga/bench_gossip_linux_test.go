package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/crypto/secp"
	"github.com/renga-p2p/renga/net/api"
	"github.com/renga-p2p/renga/net/sock/netns"
	"github.com/renga-p2p/renga/wire"
)

// BenchmarkGossipLatency: 16 `renga node` processes, each in a network
// namespace of its own on one bridge (itself in a namespace: nothing is made
// in the host's), connected as a random graph in which every node has 4
// peers. One block at a time is mined on a random node (regtest,
// generatetoaddress), and its latency to every other node is the time from
// the miner's "new tip" log line (its chain has connected the block: the
// moment it announces it) to that node's (one clock: one machine). Reported: the median, 99th percentile and maximum
// over every block and node. Goals: p50 ≤ 20 ms, p99 ≤ 100 ms.
//
// It needs root (it makes namespaces from the benchmark's own process) and
// the ip command; it is skipped otherwise.
//
//	go test ./cmd/renga -run '^$' -bench GossipLatency -benchtime 1x -count 3
func BenchmarkGossipLatency(b *testing.B) {
	const nodes, degree, blocks = 16, 4, 60
	if _, err := exec.LookPath("ip"); err != nil {
		b.Skip("the ip command is missing (Debian package iproute2)")
	}
	for b.Loop() {
		lat, _ := gossipRun(b, nodes, degree, blocks, 0)
		slices.Sort(lat)
		q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		b.ReportMetric(q(0.5), "ms-p50")
		b.ReportMetric(q(0.99), "ms-p99")
		b.ReportMetric(lat[len(lat)-1], "ms-max")
		b.Logf("%d latencies over %d blocks: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
			len(lat), blocks, q(0.5), q(0.9), q(0.99), lat[len(lat)-1])
	}
}

// BenchmarkGossipFullBlocks: the same network relaying blocks of 2,000
// payments whose transactions every mempool already holds, with compact
// blocks (BIP152) and, in the same iteration, without (the nodes restarted
// with --compact-blocks=false): per mode the p50 and p99 latency and the
// bytes each node received of the block-carrying messages (block,
// cmpctblock, blocktxn) per block, as a share of the block's size.
//
//	go test ./cmd/renga -run '^$' -bench GossipFullBlocks -benchtime 1x -count 3
func BenchmarkGossipFullBlocks(b *testing.B) {
	const nodes, degree, blocks, payments = 16, 4, 6, 2000
	if _, err := exec.LookPath("ip"); err != nil {
		b.Skip("the ip command is missing (Debian package iproute2)")
	}
	for b.Loop() {
		for _, mode := range []string{"compact", "full"} {
			var extra []string
			if mode == "full" {
				extra = []string{"--compact-blocks=false"}
			}
			lat, share := gossipRun(b, nodes, degree, blocks, payments, extra...)
			slices.Sort(lat)
			q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
			b.ReportMetric(q(0.5), mode+"-ms-p50")
			b.ReportMetric(q(0.99), mode+"-ms-p99")
			b.ReportMetric(100*share, mode+"-bytes-%")
			b.Logf("%s: %d latencies over %d blocks of %d payments: p50 %.1f ms, p99 %.1f ms; %.2f%% of each block received per node",
				mode, len(lat), blocks, payments, q(0.5), q(0.99), 100*share)
		}
	}
}

// gossipRun builds the network, mines (blocks of payments transactions
// relayed first, if payments is not 0), stops the nodes and returns every
// block-to-node latency in milliseconds and the bytes each node received of
// block-carrying messages per block, as a share of the block's size.
func gossipRun(b *testing.B, nodes, degree, blocks, payments int, extra ...string) ([]float64, float64) {
	hub, err := netns.New()
	if err != nil {
		b.Skipf("cannot make network namespaces: %v (run as root)", err)
	}
	defer func() { _ = hub.Close() }()
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	must(hub.IP("link", "add", "gb0", "type", "bridge"))
	must(hub.IP("link", "set", "gb0", "up"))
	nss := make([]*netns.Namespace, nodes)
	for i := range nodes {
		ns, err := netns.New()
		must(err)
		defer func() { _ = ns.Close() }()
		nss[i] = ns
		veth := fmt.Sprintf("gv%d", i)
		must(hub.IP("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns.Path()))
		must(hub.IP("link", "set", veth, "master", "gb0", "up"))
		must(ns.IP("link", "set", "lo", "up"))
		must(ns.IP("addr", "add", gossipIP(i)+"/24", "dev", "eth0"))
		must(ns.IP("link", "set", "eth0", "up"))
	}
	edges := randomRegular(nodes, degree, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7)))

	root := b.TempDir()
	type proc struct {
		cmd  *exec.Cmd
		done chan error
		dir  string
		log  string
	}
	procs := make([]*proc, nodes)
	for i := range nodes {
		dir := filepath.Join(root, strconv.Itoa(i))
		must(os.MkdirAll(dir, 0o700))
		args := []string{"node", "--network", "regtest", "--datadir", dir, "--log-format", "json",
			"--listen", gossipIP(i) + ":18444", "--discover=false"}
		args = append(args, extra...)
		for _, e := range edges {
			if e[0] == i {
				args = append(args, "--connect", gossipIP(e[1])+":18444")
			}
		}
		cmd := rengaCommand(args...)
		logPath := filepath.Join(dir, "node.log")
		f, err := os.Create(logPath)
		must(err)
		cmd.Stdout, cmd.Stderr = f, f
		must(nss[i].Start(cmd))
		p := &proc{cmd: cmd, done: make(chan error, 1), dir: dir, log: logPath}
		go func() { p.done <- cmd.Wait(); _ = f.Close() }()
		procs[i] = p
		defer func() {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Kill()
			}
		}()
	}
	clients := make([]*api.Client, nodes)
	for i, p := range procs {
		deadline := time.Now().Add(time.Minute)
		for {
			c, err := api.NewClient("127.0.0.1:18443", filepath.Join(p.dir, "regtest", ".cookie"))
			if err == nil {
				c.SetDial(nss[i].DialContext)
				var n int
				if c.CallInto(b.Context(), &n, "getconnectioncount") == nil && n >= 1 {
					clients[i] = c
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("node %d not up and connected within a minute", i)
			}
			time.Sleep(50 * time.Millisecond) // polling another process
		}
	}
	// Every node connected to its 4 peers before mining.
	deadline := time.Now().Add(time.Minute)
	for i := 0; i < nodes; {
		var n int
		if clients[i].CallInto(b.Context(), &n, "getconnectioncount") == nil && n >= degree {
			i++
			continue
		}
		if time.Now().After(deadline) {
			b.Fatalf("node %d has %d of its %d peers", i, n, degree)
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
	key := chaintest.Key(b, 1)
	addr := address.FromPublicKey(chain.Regtest.PubKeyHashVersion, key.PublicKey().Compressed()).String()
	rng := rand.New(rand.NewPCG(1, 2))
	var fanouts []*wire.Tx
	if payments > 0 {
		fanouts = gossipFunds(b, clients, key, addr, blocks, payments)
	}
	var hashes []string
	var miners []int
	var received, blockBytes uint64
	for k := range blocks {
		if payments > 0 {
			gossipPayments(b, clients, key, fanouts[k], payments)
		}
		before := gossipBlockBytes(b, clients)
		var got []string
		m := rng.IntN(nodes)
		if err := clients[m].CallInto(b.Context(), &got, "generatetoaddress", 1, addr); err != nil {
			b.Fatal(err)
		}
		hashes, miners = append(hashes, got[0]), append(miners, m)
		time.Sleep(300 * time.Millisecond) // one block at a time: let it spread
		if payments > 0 {
			gossipWaitTip(b, clients, got[0])
			after := gossipBlockBytes(b, clients)
			for i := range clients {
				if i != m {
					received += after[i] - before[i]
				}
			}
			var raw string
			if err := clients[m].CallInto(b.Context(), &raw, "getblock", got[0], 0); err != nil {
				b.Fatal(err)
			}
			blockBytes += uint64(len(raw) / 2)
		}
	}
	last := hashes[len(hashes)-1]
	for i, c := range clients {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var tip string
			if c.CallInto(b.Context(), &tip, "getbestblockhash") == nil && tip == last {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("node %d never got the last block", i)
			}
			time.Sleep(50 * time.Millisecond) // polling another process
		}
	}
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM) // running: delivered
	}
	for i, p := range procs {
		if err := <-p.done; err != nil {
			b.Fatalf("node %d: %v", i, err)
		}
	}

	tipAt := make([]map[string]time.Time, nodes) // per node: block -> when it connected it
	for i, p := range procs {
		tipAt[i] = map[string]time.Time{}
		f, err := os.Open(p.log)
		must(err)
		s := bufio.NewScanner(f)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			var e struct {
				Time time.Time `json:"time"`
				Msg  string    `json:"msg"`
				Hash string    `json:"hash"`
			}
			if json.Unmarshal(s.Bytes(), &e) != nil {
				continue
			}
			if e.Msg == "new tip" {
				tipAt[i][e.Hash] = e.Time
			}
		}
		_ = f.Close() // read-only
	}
	// From the miner's own "new tip" line (its chain connected the block,
	// which is when it announces it) to each other node's.
	var lat []float64
	for k, h := range hashes {
		t0, ok := tipAt[miners[k]][h]
		if !ok {
			b.Fatalf("the miner, node %d, did not log block %s as its new tip", miners[k], h)
		}
		for i := range nodes {
			if i == miners[k] {
				continue
			}
			t, ok := tipAt[i][h]
			if !ok {
				b.Fatalf("node %d did not log block %s as its new tip", i, h)
			}
			lat = append(lat, float64(t.Sub(t0).Microseconds())/1000)
		}
	}
	share := 0.0
	if blockBytes > 0 {
		share = float64(received) / float64(nodes-1) / float64(blockBytes)
	}
	return lat, share
}

// gossipFunds mines mature coins and splits blocks of them into n coins
// each (one fan-out transaction per block to come), mined, on every node.
func gossipFunds(b *testing.B, clients []*api.Client, key *secp.PrivateKey, addr string, blocks, n int) []*wire.Tx {
	b.Helper()
	var hashes []string
	if err := clients[0].CallInto(b.Context(), &hashes, "generatetoaddress", 100+blocks, addr); err != nil {
		b.Fatal(err)
	}
	script := chaintest.P2PKH(key)
	var fanouts []*wire.Tx
	for k := range blocks {
		var raw string
		if err := clients[0].CallInto(b.Context(), &raw, "getblock", hashes[k], 0); err != nil {
			b.Fatal(err)
		}
		data, _ := hex.DecodeString(raw)
		blk := new(wire.Block)
		if err := blk.Decode(data); err != nil {
			b.Fatal(err)
		}
		cb := chaintest.CoinbaseCoin(blk)
		each := (cb.Value - 1_000_000) / int64(n)
		var outs []wire.TxOut
		for range n {
			outs = append(outs, wire.TxOut{Value: each, ScriptPubKey: script})
		}
		fan := chaintest.Spend(b, key, []chaintest.Coin{cb}, outs...)
		gossipSend(b, clients[0], fan)
		fanouts = append(fanouts, fan)
	}
	// A block each: together they pass what one block template takes.
	var last []string
	for range fanouts {
		if err := clients[0].CallInto(b.Context(), &last, "generatetoaddress", 1, addr); err != nil {
			b.Fatal(err)
		}
	}
	gossipWaitTip(b, clients, last[0])
	return fanouts
}

// gossipPayments sends n payments spending a fan-out's coins and waits
// until every mempool holds them.
func gossipPayments(b *testing.B, clients []*api.Client, key *secp.PrivateKey, fan *wire.Tx, n int) {
	b.Helper()
	id := fan.TxID()
	for i := range n {
		coin := chaintest.Coin{OutPoint: wire.OutPoint{Hash: id, Index: uint32(i)}, Value: fan.Outputs[i].Value,
			Script: fan.Outputs[i].ScriptPubKey}
		gossipSend(b, clients[i%len(clients)], chaintest.Spend(b, key, []chaintest.Coin{coin},
			wire.TxOut{Value: coin.Value - 1_000, ScriptPubKey: coin.Script}))
	}
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; i < len(clients); {
		var info struct {
			Size int `json:"size"`
		}
		if clients[i].CallInto(b.Context(), &info, "getmempoolinfo") == nil && info.Size >= n {
			i++
			continue
		}
		if time.Now().After(deadline) {
			b.Fatalf("node %d's mempool has %d of the %d payments after 3 minutes", i, info.Size, n)
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
}

func gossipSend(b *testing.B, c *api.Client, tx *wire.Tx) {
	b.Helper()
	raw, _ := tx.AppendBinary(nil)
	var txid string
	if err := c.CallInto(b.Context(), &txid, "sendrawtransaction", hex.EncodeToString(raw)); err != nil {
		b.Fatalf("sendrawtransaction of %s: %v", tx.TxID(), err)
	}
}

// gossipWaitTip waits until every node's tip is hash.
func gossipWaitTip(b *testing.B, clients []*api.Client, hash string) {
	b.Helper()
	for i, c := range clients {
		deadline := time.Now().Add(time.Minute)
		for {
			var tip string
			if c.CallInto(b.Context(), &tip, "getbestblockhash") == nil && tip == hash {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("node %d never got block %s", i, hash)
			}
			time.Sleep(20 * time.Millisecond) // polling another process
		}
	}
}

// gossipBlockBytes is, per node, the bytes received of block, cmpctblock
// and blocktxn messages from all its peers.
func gossipBlockBytes(b *testing.B, clients []*api.Client) []uint64 {
	b.Helper()
	var out []uint64
	for _, c := range clients {
		var peers []peerRecv
		if err := c.CallInto(b.Context(), &peers, "getpeerinfo"); err != nil {
			b.Fatal(err)
		}
		out = append(out, blockRecv(peers))
	}
	return out
}

func gossipIP(i int) string { return fmt.Sprintf("10.84.0.%d", i+1) }

// randomRegular returns the edges of a random connected graph on n nodes in
// which every node has degree d (n·d even), by the pairing model with
// retries.
func randomRegular(n, d int, rng *rand.Rand) [][2]int {
	for {
		var stubs []int
		for i := range n {
			for range d {
				stubs = append(stubs, i)
			}
		}
		rng.Shuffle(len(stubs), func(i, j int) { stubs[i], stubs[j] = stubs[j], stubs[i] })
		seen := map[[2]int]bool{}
		ok := true
		var edges [][2]int
		for k := 0; k < len(stubs); k += 2 {
			a, c := min(stubs[k], stubs[k+1]), max(stubs[k], stubs[k+1])
			if a == c || seen[[2]int{a, c}] {
				ok = false
				break
			}
			seen[[2]int{a, c}] = true
			edges = append(edges, [2]int{a, c})
		}
		if ok && connected(n, edges) {
			return edges
		}
	}
}

func connected(n int, edges [][2]int) bool {
	adj := make([][]int, n)
	for _, e := range edges {
		adj[e[0]] = append(adj[e[0]], e[1])
		adj[e[1]] = append(adj[e[1]], e[0])
	}
	seen := make([]bool, n)
	stack := []int{0}
	seen[0] = true
	count := 1
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range adj[v] {
			if !seen[w] {
				seen[w] = true
				count++
				stack = append(stack, w)
			}
		}
	}
	return count == n
}
