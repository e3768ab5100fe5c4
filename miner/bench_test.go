package miner

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/miner/internal/kernel"
)

// The benchmarks compare the miner's throughput with its kernel's, each
// reported in MH/s (millions of nonces per second) over all GOMAXPROCS
// threads, with the best kernel (calibrated, or $RENGA_KERNEL):
//
//	BenchmarkThroughput/kernel  the kernel alone: each goroutine scans its own job
//	BenchmarkThroughput/pool    workers' steps on one shared job (claims, stats, confirmation)
//	BenchmarkThroughput/miner   a running Miner (coordinator, jobs, workers) through b.N chunks
//
// The ratio pool/kernel and miner/kernel is the overhead of the pool.

func bestKernel(b *testing.B) kernel.Kernel {
	k, err := kernel.Select()
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkThroughput(b *testing.B) {
	k := bestKernel(b)
	tm := testTemplate(b)
	hard := func(*Template) sha256d.Hash { return impossible }
	report := func(b *testing.B, nonces float64) {
		b.ReportMetric(nonces/b.Elapsed().Seconds()/1e6, "MH/s")
	}
	b.Run("kernel="+k.Name+"/kernel", func(b *testing.B) {
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			j := newJob(tm, seq.Add(1), tm.MinTime, 1<<32, "bench", hard)
			var hits [maxHits]uint32
			start := uint32(0)
			for pb.Next() {
				_, scanned := k.Scan(&j.kjob, start, k.Chunk, hits[:])
				start += scanned
			}
		})
		report(b, float64(b.N)*float64(k.Chunk))
	})
	b.Run("kernel="+k.Name+"/pool", func(b *testing.B) {
		var hashes atomic.Uint64
		var cur atomic.Pointer[job]
		cur.Store(newJob(tm, 0, tm.MinTime, 1<<32, "bench", hard))
		b.RunParallel(func(pb *testing.PB) {
			w := &worker{k: k, chunk: uint64(k.Chunk), hashes: &hashes}
			for pb.Next() {
				j := cur.Load()
				if res, _, _ := w.step(j); res == stepExhausted {
					cur.CompareAndSwap(j, newJob(tm, j.extranonce+1, tm.MinTime, 1<<32, "bench", hard))
				}
			}
		})
		report(b, float64(hashes.Load()))
	})
	b.Run("kernel="+k.Name+"/miner", func(b *testing.B) {
		h := chaintest.New(b, chain.Regtest)
		m, err := New(Config{Chain: h.Chain, Script: h.Script, Kernel: k.Name, Now: func() time.Time { return h.Clock }})
		if err != nil {
			b.Fatal(err)
		}
		// One job of b.N chunks: the run ends at its roll, when every
		// nonce is claimed (the last few chunks still being scanned).
		m.nonceLimit = min(uint64(b.N)*uint64(k.Chunk), 1<<32)
		m.targetFor = hard
		rolled := make(chan struct{})
		m.onJob = func(j *job) {
			if j.why == "roll" {
				select {
				case <-rolled:
				default:
					close(rolled)
				}
			}
		}
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan error, 1)
		b.ResetTimer()
		go func() { done <- m.Run(ctx) }()
		select {
		case <-rolled:
		case <-time.After(10 * time.Minute):
			cancel()
			b.Fatal("the extranonce did not roll in 10 minutes")
		}
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		report(b, float64(m.nonceLimit))
	})
}

// BenchmarkRestart is the time from a block arriving from elsewhere (the
// chain processing it included) to the miner's first job on it.
func BenchmarkRestart(b *testing.B) {
	h := chaintest.New(b, chain.Regtest)
	m, err := New(Config{Chain: h.Chain, Script: h.Script, Now: func() time.Time { return h.Clock }})
	if err != nil {
		b.Fatal(err)
	}
	m.targetFor = func(*Template) sha256d.Hash { return impossible }
	onTip := make(chan *job, 1)
	m.onJob = func(j *job) {
		if j.why == "tip" {
			select {
			case onTip <- j:
			default:
			}
		}
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-onTip:
	case <-time.After(time.Minute):
		cancel()
		b.Fatal("the miner made no job for the tip in a minute")
	}
	for b.Loop() {
		b.StopTimer()
		blk := h.Next(nil, 0)
		b.StartTimer()
		if _, err := h.Chain.ProcessBlock(blk, nil); err != nil {
			b.Fatal(err)
		}
		for j := <-onTip; j.tmpl.Parent.Hash != blk.Hash(); j = <-onTip {
		}
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
