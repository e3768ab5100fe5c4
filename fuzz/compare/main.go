// Command compare benchmarks Renga's wire codec and btcd's side by side on the
// same bytes and prints one line per case:
//
//	<case> renga=<ns/op> btcd=<ns/op> speedup=<x> renga_allocs=<n> btcd_allocs=<n>
//
// and then imports mainnet blocks 0–14131 with both (see compareImport):
//
//	import_0_14131 renga=<ns> btcd=<ns> speedup=<x> renga_rss_mb=<MB> btcd_rss_mb=<MB>
//
// (-purego adds the same with renga built with CGO_ENABLED=0, and the ratio of
// the two builds: import_0_14131_cgo_purego cgo=<ns> purego=<ns> speedup=<x>)
//
// Each side runs -count times, alternating, and the medians are printed, since
// the machines it runs on are shared and noisy. Run it with `make compare`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	btcwire "github.com/btcsuite/btcd/wire/v2"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/fuzz/realdata"
	"github.com/renga-p2p/renga/wire"
)

// A side of a case: one operation, run b.N times by testing.Benchmark.
type side func(b *testing.B)

type benchCase struct {
	name        string
	renga, btcd side
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == spawnFlag {
		os.Exit(spawnMeasured(os.Args[2:]))
	}
	count := flag.Int("count", 5, "runs of each side; the median is printed")
	benchtime := flag.Duration("benchtime", 300*time.Millisecond, "target duration of each run")
	only := flag.String("run", "", "only cases whose name contains this")
	imports := flag.Bool("import", true, "also compare importing mainnet blocks 0-14131 (processes; ~1 minute)")
	pureGo := flag.Bool("purego", false, "also import with renga built with CGO_ENABLED=0 (dcrd verifies signatures instead of libsecp256k1)")
	flag.Parse()
	testing.Init()
	if err := flag.Set("test.benchtime", benchtime.String()); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}

	cases, err := buildCases()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
	for _, c := range cases {
		if !strings.Contains(c.name, *only) {
			continue
		}
		var rNs, bNs, rAllocs, bAllocs []float64
		for range *count {
			r := testing.Benchmark(c.renga)
			b := testing.Benchmark(c.btcd)
			rNs = append(rNs, float64(r.NsPerOp()))
			bNs = append(bNs, float64(b.NsPerOp()))
			rAllocs = append(rAllocs, float64(r.AllocsPerOp()))
			bAllocs = append(bAllocs, float64(b.AllocsPerOp()))
		}
		rm, bm := median(rNs), median(bNs)
		fmt.Printf("%-26s renga=%.0f btcd=%.0f speedup=%.2f renga_allocs=%.0f btcd_allocs=%.0f\n",
			c.name, rm, bm, bm/rm, median(rAllocs), median(bAllocs))
	}
	if *imports && strings.Contains("import_0_14131", *only) {
		if err := compareImport(*count, *pureGo); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
	}
}

func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func buildCases() ([]benchCase, error) {
	var cases []benchCase
	for _, blk := range []struct{ name, hash string }{
		{"574200", realdata.Block574200},
		{"540107", realdata.Block540107},
	} {
		raw, err := realdata.LoadBlock(blk.hash)
		if err != nil {
			return nil, err
		}
		cases = append(cases, decodeCase("block_decode_"+blk.name, wire.CmdBlock, raw,
			func() btcwire.Message { return new(btcwire.MsgBlock) }))
		ec, err := encodeBlockCase("block_encode_"+blk.name, raw)
		if err != nil {
			return nil, err
		}
		cases = append(cases, ec)
	}

	raw, err := realdata.LoadBlock(realdata.Block574200)
	if err != nil {
		return nil, err
	}
	tc, err := txidsCase("txids_574200", raw)
	if err != nil {
		return nil, err
	}
	cases = append(cases,
		decodeCase("headers_decode_2000", wire.CmdHeaders, headersPayload(raw),
			func() btcwire.Message { return new(btcwire.MsgHeaders) }),
		decodeCase("inv_decode_50000", wire.CmdInv, invPayload(),
			func() btcwire.Message { return new(btcwire.MsgInv) }),
		frameReadCase("frame_read_574200", raw),
		tc,
	)
	return cases, nil
}

// decodeCase decodes the same payload with both codecs, btcd the way its peer
// code does (protocol 70016, witness encoding).
func decodeCase(name, cmd string, payload []byte, newBtcd func() btcwire.Message) benchCase {
	return benchCase{
		name: name,
		renga: func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, _ := wire.NewMessage(cmd)
				if err := m.Decode(payload); err != nil {
					b.Fatal(err)
				}
			}
		},
		btcd: func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m := newBtcd()
				if err := m.BtcDecode(bytes.NewReader(payload), btcwire.ProtocolVersion, btcwire.WitnessEncoding); err != nil {
					b.Fatal(err)
				}
			}
		},
	}
}

// encodeBlockCase serializes the same decoded block with both codecs into a
// buffer that already has room for it.
func encodeBlockCase(name string, raw []byte) (benchCase, error) {
	var ours wire.Block
	if err := ours.Decode(raw); err != nil {
		return benchCase{}, err
	}
	var theirs btcwire.MsgBlock
	if err := theirs.Deserialize(bytes.NewReader(raw)); err != nil {
		return benchCase{}, err
	}
	return benchCase{
		name: name,
		renga: func(b *testing.B) {
			buf := make([]byte, 0, len(raw))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = ours.AppendBinary(buf[:0])
			}
		},
		btcd: func(b *testing.B) {
			buf := bytes.NewBuffer(make([]byte, 0, len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := theirs.BtcEncode(buf, btcwire.ProtocolVersion, btcwire.WitnessEncoding); err != nil {
					b.Fatal(err)
				}
			}
		},
	}, nil
}

// frameReadCase reads a whole frame (header, payload, checksum, decode).
func frameReadCase(name string, raw []byte) benchCase {
	magic := wire.Magic{0xf9, 0xbe, 0xb4, 0xd9}
	frame := wire.AppendRawFrame(nil, magic, wire.CmdBlock, raw)
	return benchCase{
		name: name,
		renga: func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := wire.NewReader(bytes.NewReader(frame), magic).ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
		},
		btcd: func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, _, err := btcwire.ReadMessageWithEncodingN(bytes.NewReader(frame),
					btcwire.ProtocolVersion, btcwire.MainNet, btcwire.WitnessEncoding)
				if err != nil {
					b.Fatal(err)
				}
			}
		},
	}
}

// txidsCase computes the txid of every transaction of a decoded block.
func txidsCase(name string, raw []byte) (benchCase, error) {
	var ours wire.Block
	if err := ours.Decode(raw); err != nil {
		return benchCase{}, err
	}
	var theirs btcwire.MsgBlock
	if err := theirs.Deserialize(bytes.NewReader(raw)); err != nil {
		return benchCase{}, err
	}
	return benchCase{
		name: name,
		renga: func(b *testing.B) {
			ids := make([]sha256d.Hash, 0, len(ours.Txs))
			b.ReportAllocs()
			for b.Loop() {
				ids = ours.TxIDs(ids[:0])
			}
		},
		btcd: func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, tx := range theirs.Transactions {
					tx.TxHash()
				}
			}
		},
	}, nil
}

// headersPayload is a headers message of 2,000 headers derived from a real one.
func headersPayload(raw []byte) []byte {
	var h wire.Header
	h.SetBytes((*[wire.HeaderSize]byte)(raw[:wire.HeaderSize]))
	m := &wire.MsgHeaders{Headers: make([]wire.Header, wire.MaxHeaders)}
	for i := range m.Headers {
		m.Headers[i] = h
		m.Headers[i].Nonce += uint32(i)
		h.PrevBlock = m.Headers[i].Hash()
	}
	p, _ := m.AppendBinary(nil)
	return p
}

// invPayload is an inv message of 50,000 transaction announcements.
func invPayload() []byte {
	m := &wire.MsgInv{Inv: make([]wire.InvVect, wire.MaxInvEntries)}
	for i := range m.Inv {
		m.Inv[i] = wire.InvVect{Type: wire.InvWitnessTx, Hash: sha256d.Sum([]byte{byte(i), byte(i >> 8), byte(i >> 16)})}
	}
	p, _ := m.AppendBinary(nil)
	return p
}
