//go:build unix

package p2p

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/secp"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// BenchmarkCompression measures link compression (cmpr, design.md §3) during
// a block sync: a fresh node syncs a chain from one peer over loopback TCP,
// with compression off on both sides and then on on both sides, in the same
// iteration. It reports, per sync,
//
//   - off-MB, on-MB: bytes on the wire between the two nodes (both
//     directions, frames as written to the socket, so after compression);
//   - off-cpu-s, on-cpu-s: CPU time (user+sys, getrusage) of the whole
//     process, which holds both nodes, so it counts compressing, decompressing
//     and everything else (validation above all);
//   - off-s, on-s: wall time;
//   - and their ratios, on/off.
//
// On its own, with no network in the way, it also times what compression adds
// to a sync: every block of the chain compressed and decompressed once with
// the codec the peers negotiate (zstd, fastest level), on one core
// (codec-cpu-s), the bytes that saves (saved-MB), and so the break-even
// bandwidth (breakeven-Mbit/s): on a link slower than that, the transfer time
// compression saves exceeds the CPU time it costs; on a faster one it costs
// more than it saves.
//
// Two chains: tx5000 (syncChain: 5,000 tiny blocks of one or two
// transactions to a single key) and p2pkh (p2pkhChain: 40 blocks of 1,000
// P2PKH payments, about 250 kB each, every output to its own key, the way
// real blocks look).
//
//	go test ./net/p2p -run '^$' -bench Compression -benchtime 1x -count 5
//
// Results, and why cmd/renga's --compress stays off by default, are in the
// README's measurements.
func BenchmarkCompression(b *testing.B) {
	for _, c := range benchChains {
		b.Run("chain="+c.name, func(b *testing.B) {
			blocks := c.blocks(b)
			src := chainOf(b, blocks)
			addr := map[bool]string{}
			for _, compress := range []bool{false, true} {
				n := startNode(b, src, func(cfg *Config) { cfg.Compression = compress })
				addr[compress] = n.srv.ListenAddr().String()
			}
			codec := measureCodec(b, blocks)

			var off, on syncCost
			b.ResetTimer()
			for b.Loop() {
				off.add(compressedSync(b, blocks, addr[false], false))
				on.add(compressedSync(b, blocks, addr[true], true))
			}
			n := float64(b.N)
			const mb = 1e6
			b.ReportMetric(float64(off.wire)/n/mb, "off-MB")
			b.ReportMetric(float64(on.wire)/n/mb, "on-MB")
			b.ReportMetric(float64(on.wire)/float64(off.wire), "on/off-bytes")
			b.ReportMetric(off.cpu.Seconds()/n, "off-cpu-s")
			b.ReportMetric(on.cpu.Seconds()/n, "on-cpu-s")
			b.ReportMetric(on.cpu.Seconds()/off.cpu.Seconds(), "on/off-cpu")
			b.ReportMetric(off.wall.Seconds()/n, "off-s")
			b.ReportMetric(on.wall.Seconds()/n, "on-s")
			b.ReportMetric(on.wall.Seconds()/off.wall.Seconds(), "on/off-time")
			b.ReportMetric(codec.cpu.Seconds(), "codec-cpu-s")
			b.ReportMetric(float64(codec.saved)/mb, "saved-MB")
			if codec.saved > 0 && codec.cpu > 0 {
				b.ReportMetric(float64(codec.saved)*8/codec.cpu.Seconds()/1e6, "breakeven-Mbit/s")
			}
		})
	}
}

// benchChains are the chains the sync benchmarks run on.
var benchChains = []struct {
	name   string
	blocks func(testing.TB) []*wire.Block
}{
	{"tx5000", syncChain},
	{"p2pkh", p2pkhChain},
}

// syncCost adds up what syncs cost.
type syncCost struct {
	wire      uint64 // bytes on the wire, both directions
	cpu, wall time.Duration
}

func (c *syncCost) add(o syncCost) {
	c.wire += o.wire
	c.cpu += o.cpu
	c.wall += o.wall
}

// compressedSync syncs a fresh node from addr, with compression offered or
// not, and returns what that cost.
func compressedSync(b *testing.B, blocks []*wire.Block, addr string, compress bool) syncCost {
	b.Helper()
	h := chaintest.New(b, chain.Regtest)
	cpu0, start := processCPU(b), time.Now()
	fresh := startNode(b, h, func(c *Config) {
		c.Connect = []string{addr}
		c.Compression = compress
	})
	fresh.waitTip(blocks[len(blocks)-1].Hash())
	cost := syncCost{wall: time.Since(start), cpu: processCPU(b) - cpu0}
	peers := fresh.srv.Peers()
	if len(peers) != 1 {
		b.Fatalf("the fresh node has %d peers, want 1", len(peers))
	}
	st := peers[0].Stats
	if st.Compressing != compress {
		b.Fatalf("compression negotiated: %v, want %v", st.Compressing, compress)
	}
	cost.wire = st.BytesRecv + st.BytesSent
	fresh.stop()
	return cost
}

// codecCost is what compressing a chain's blocks costs and saves.
type codecCost struct {
	cpu   time.Duration // compressing and decompressing, one core
	saved int64         // bytes
}

const codecRounds = 3

// measureCodec compresses and decompresses every block the way a peer does
// (zstd, blocks under the default minimum size left alone, a result kept only
// if smaller) and returns the time that took and the bytes it saved.
func measureCodec(b *testing.B, blocks []*wire.Block) codecCost {
	b.Helper()
	codecs, err := peer.NewCodecs()
	if err != nil {
		b.Fatal(err)
	}
	var cost codecCost
	var raw, data []byte
	for _, blk := range blocks {
		if raw, err = blk.AppendBinary(raw[:0]); err != nil {
			b.Fatal(err)
		}
		if len(raw) < 512 { // peer.Config.MinCompressSize's default
			continue
		}
		// The fastest of a few rounds: the machine is shared, and a
		// round may be preempted.
		best := time.Duration(math.MaxInt64)
		for range codecRounds {
			start := time.Now()
			if data, err = codecs.Compress(data[:0], wire.CodecZstd, raw); err != nil {
				b.Fatal(err)
			}
			got, err := codecs.Decompress(&wire.MsgCmpr{Inner: wire.CmdBlock, Length: uint32(len(raw)), Codec: wire.CodecZstd, Data: data})
			best = min(best, time.Since(start))
			if err != nil || len(got) != len(raw) {
				b.Fatalf("decompressed %d bytes of %d: %v", len(got), len(raw), err)
			}
		}
		cost.cpu += best
		// A cmpr frame carries the inner command and a length, and is
		// sent only if smaller (peer.compress).
		if saved := len(raw) - (len(data) + wire.CommandSize + 6); saved > 0 {
			cost.saved += int64(saved)
		}
	}
	return cost
}

// processCPU is the CPU time, user and system, the process has used.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The chain of full blocks (p2pkhChain).
const (
	fullBlocks   = 40   // blocks of payments
	fullBlockTxs = 1000 // payments in each: about 250 kB, a full-sized 2013 block
	fanOutCoins  = 1000 // outputs of each transaction that makes the first coins
	minCoin      = 20_000
)

var (
	fullOnce   sync.Once
	fullChain  []*wire.Block
	fullFailed error
)

// ownCoin is an output the chain's builder can spend.
type ownCoin struct {
	chaintest.Coin
	key *secp.PrivateKey
}

// p2pkhChain returns a regtest chain that ends in fullBlocks blocks of
// fullBlockTxs P2PKH payments each, built the way real blocks look to a
// compressor: every payment spends one or (one time in ten) two earlier
// outputs, each locked to a key of its own, and pays 5-30% of them to a
// random key hash and the rest, less a fee of 1 to 20 satoshis a byte, as
// change to a fresh key, the two outputs in random order. The first coins come from a few coinbases
// split fanOutCoins ways.
func p2pkhChain(tb testing.TB) []*wire.Block {
	fullOnce.Do(func() { fullChain, fullFailed = buildP2PKHChain(tb) })
	if fullFailed != nil || fullChain == nil {
		tb.Fatalf("building the chain of P2PKH blocks failed: %v", fullFailed)
	}
	return fullChain
}

func buildP2PKHChain(tb testing.TB) ([]*wire.Block, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	keySource := rand.NewChaCha8([32]byte{'p', '2', 'p', 'k', 'h'})
	newKey := func() (*secp.PrivateKey, error) { return secp.GenerateKeyFrom(keySource) }
	h := chaintest.New(tb, chain.Regtest)
	// Enough first coins that every block finds its inputs among confirmed
	// ones, though two-input payments shrink the pool.
	need := fullBlockTxs*11/10 + fullBlocks*fullBlockTxs/10
	fanOuts := need/fanOutCoins + 2
	blocks := h.Mine(int(h.Params.CoinbaseMaturity) - 1 + fanOuts)
	mine := func(fees int64, txs []*wire.Tx) error {
		blk := h.Next(nil, fees, txs...)
		if _, err := h.Chain.ProcessBlock(blk, nil); err != nil {
			return fmt.Errorf("block %d: %w", len(blocks), err)
		}
		blocks = append(blocks, blk)
		return nil
	}

	var pool []ownCoin
	var txs []*wire.Tx
	var fees int64
	for i := range fanOuts {
		cb := chaintest.CoinbaseCoin(blocks[i])
		value := (cb.Value - 100_000) / fanOutCoins
		tx := &wire.Tx{Version: 1, Inputs: []wire.TxIn{{PrevOut: cb.OutPoint, Sequence: chain.SequenceFinal}}}
		var keys []*secp.PrivateKey
		for range fanOutCoins {
			k, err := newKey()
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
			tx.Outputs = append(tx.Outputs, wire.TxOut{Value: value, ScriptPubKey: chaintest.P2PKH(k)})
		}
		if err := chain.SignInput(tx, 0, cb.Script, h.Key, chain.SigHashAll); err != nil {
			return nil, err
		}
		id := tx.TxID()
		for j, k := range keys {
			pool = append(pool, ownCoin{Coin: chaintest.Coin{OutPoint: wire.OutPoint{Hash: id, Index: uint32(j)},
				Value: value, Script: tx.Outputs[j].ScriptPubKey}, key: k})
		}
		txs = append(txs, tx)
		fees += cb.Value - value*fanOutCoins
	}
	if err := mine(fees, txs); err != nil {
		return nil, err
	}

	for range fullBlocks {
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		txs, fees = txs[:0], 0
		var change []ownCoin
		for range fullBlockTxs {
			n := 1
			if rng.IntN(10) == 0 {
				n = 2
			}
			if len(pool) < n {
				return nil, fmt.Errorf("block %d: out of coins", len(blocks))
			}
			in := pool[:n]
			pool = pool[n:]
			tx := &wire.Tx{Version: 1}
			var total int64
			for _, c := range in {
				tx.Inputs = append(tx.Inputs, wire.TxIn{PrevOut: c.OutPoint, Sequence: chain.SequenceFinal})
				total += c.Value
			}
			size := 10 + 148*n + 2*34
			fee := int64(size * (1 + rng.IntN(20)))
			pay := (total - fee) * int64(5+rng.IntN(26)) / 100
			var payee [20]byte
			for k := range payee {
				payee[k] = byte(rng.Uint32())
			}
			key, err := newKey()
			if err != nil {
				return nil, err
			}
			outs := []wire.TxOut{
				{Value: pay, ScriptPubKey: chain.PayToPubKeyHashScript(payee)},
				{Value: total - pay - fee, ScriptPubKey: chaintest.P2PKH(key)},
			}
			ci := 1
			if rng.IntN(2) == 0 {
				outs[0], outs[1], ci = outs[1], outs[0], 0
			}
			tx.Outputs = outs
			for k, c := range in {
				if err := chain.SignInput(tx, k, c.Script, c.key, chain.SigHashAll); err != nil {
					return nil, err
				}
			}
			txs = append(txs, tx)
			fees += fee
			if outs[ci].Value >= minCoin { // smaller change is left alone
				change = append(change, ownCoin{Coin: chaintest.Coin{OutPoint: wire.OutPoint{Hash: tx.TxID(), Index: uint32(ci)},
					Value: outs[ci].Value, Script: outs[ci].ScriptPubKey}, key: key})
			}
		}
		if err := mine(fees, txs); err != nil {
			return nil, err
		}
		pool = append(pool, change...)
	}
	return blocks, nil
}
