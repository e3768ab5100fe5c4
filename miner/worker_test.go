package miner

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/miner/internal/kernel"
)

// testTemplate makes a coinbase-only template on a fresh regtest chain.
func testTemplate(t testing.TB) *Template {
	t.Helper()
	h := chaintest.New(t, chain.Regtest)
	tm, err := newTemplate(chain.Regtest, h.Chain.Tip(), nil, templateOptions{
		script: h.Script, tag: []byte(DefaultTag), maxWeight: chain.MaxBlockWeight, now: h.Clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestStepDoesNotAllocate(t *testing.T) {
	tm := testTemplate(t)
	for _, k := range kernel.Kernels() {
		t.Run(k.Name, func(t *testing.T) {
			if !k.Available {
				t.Skipf("kernel %s not available here (needs %s)", k.Name, k.Requires)
			}
			var hashes atomic.Uint64
			w := &worker{k: k, chunk: uint64(k.Chunk), hashes: &hashes}
			t.Run("scanning", func(t *testing.T) {
				tm.solved.Store(false)
				j := newJob(tm, 1, tm.MinTime, 1<<32, "test", func(*Template) sha256d.Hash { return impossible })
				allocs := testing.AllocsPerRun(20, func() {
					if res, _, _ := w.step(j); res != stepMore {
						t.Fatalf("step: %v", res)
					}
				})
				if allocs != 0 {
					t.Fatalf("%v allocations per step", allocs)
				}
			})
			t.Run("finding", func(t *testing.T) {
				// Regtest's target: candidates in every step, confirmed, found.
				j := newJob(tm, 2, tm.MinTime, 1<<32, "test", nil)
				allocs := testing.AllocsPerRun(20, func() {
					tm.solved.Store(false)
					if res, nonce, hash := w.step(j); res != stepFound || hash != j.kjob.Hash(nonce) {
						t.Fatalf("step: %v, nonce %d", res, nonce)
					}
				})
				if allocs != 0 {
					t.Fatalf("%v allocations per step", allocs)
				}
			})
		})
	}
}

func TestStepsCoverTheNonceSpaceOnce(t *testing.T) {
	tm := testTemplate(t)
	k, err := kernel.Lookup("generic")
	if err != nil {
		t.Fatal(err)
	}
	// A limit that is not a multiple of the chunk, shared by four workers:
	// every nonce is scanned exactly once, then all see the space used up.
	limit := uint64(5*k.Chunk + 123)
	j := newJob(tm, 1, tm.MinTime, limit, "test", func(*Template) sha256d.Hash { return impossible })
	var hashes atomic.Uint64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			w := &worker{k: k, chunk: uint64(k.Chunk), hashes: &hashes}
			for {
				res, _, _ := w.step(j)
				if res == stepExhausted {
					return
				}
				if res != stepMore {
					t.Errorf("step: %v", res)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := hashes.Load(); got != limit {
		t.Fatalf("scanned %d nonces, want %d", got, limit)
	}
	// A solved template stops every worker before it claims anything.
	tm.solved.Store(true)
	before := j.next.Load()
	if res, _, _ := (&worker{k: k, chunk: uint64(k.Chunk), hashes: &hashes}).step(j); res != stepSolved || j.next.Load() != before {
		t.Fatalf("step on a solved template: %v", res)
	}
}

func TestPoolRefreshIsRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newPoolEnv(t, 4)
		// Kernel named: calibration times kernels, and time stands still in
		// the bubble while a goroutine computes.
		m := newMiner(t, e.h, e.pool, Config{Kernel: "generic", RefreshInterval: time.Second, Now: time.Now})
		m.cfg.Threads = 0 // the coordinator alone: workers never block, and the bubble's time would stand still
		jobs := newJobLog(m)
		whys := func() []string {
			jobs.mu.Lock()
			defer jobs.mu.Unlock()
			var out []string
			for _, j := range jobs.jobs {
				out = append(out, j.why)
			}
			return out
		}
		last := func() *job {
			jobs.mu.Lock()
			defer jobs.mu.Unlock()
			return jobs.jobs[len(jobs.jobs)-1]
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		synctest.Wait()
		if got := whys(); len(got) != 1 || got[0] != "tip" {
			t.Fatalf("jobs %v, want the first template", got)
		}

		// After a quiet interval the first transaction is taken at once.
		e.accept(t, e.pay(t, 10_000, e.coins[0]))
		synctest.Wait()
		if got := whys(); len(got) != 2 || got[1] != "pool" || len(last().tmpl.Txs) != 1 {
			t.Fatalf("jobs %v after the first transaction", got)
		}
		// More within the interval wait for its end, and come together.
		time.Sleep(100 * time.Millisecond)
		e.accept(t, e.pay(t, 10_000, e.coins[1]))
		time.Sleep(100 * time.Millisecond)
		e.accept(t, e.pay(t, 10_000, e.coins[2]))
		time.Sleep(799 * time.Millisecond)
		synctest.Wait()
		if got := whys(); len(got) != 2 {
			t.Fatalf("jobs %v within the interval", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := whys(); len(got) != 3 || got[2] != "pool" || len(last().tmpl.Txs) != 3 {
			t.Fatalf("jobs %v at the end of the interval (%d transactions)", got, len(last().tmpl.Txs))
		}
		// A new tip is taken at once, whatever the interval.
		e.accept(t, e.pay(t, 10_000, e.coins[3]))
		e.h.Mine(1)
		synctest.Wait()
		if got := whys(); len(got) != 4 || got[3] != "tip" || last().tmpl.Parent != e.h.Chain.Tip() || len(last().tmpl.Txs) != 4 {
			t.Fatalf("jobs %v after a new tip", got)
		}
		// The transaction that came just before the tip is in it: no
		// template for the pool follows.
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := whys(); len(got) != 4 {
			t.Fatalf("jobs %v after the interval", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestTimeFollowsTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := chaintest.New(t, chain.Regtest)
		// The bubble's clock starts in 2000, before regtest's genesis: the
		// miner's runs a day after it.
		offset := time.Until(time.Unix(int64(chain.Regtest.Genesis.Header.Time), 0).Add(24 * time.Hour))
		m := newMiner(t, h, nil, Config{Kernel: "generic", Now: func() time.Time { return time.Now().Add(offset) }})
		m.cfg.Threads = 0
		jobs := newJobLog(m)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		synctest.Wait()
		jobs.mu.Lock()
		first := jobs.jobs[0]
		jobs.mu.Unlock()
		if now := m.cfg.Now().Unix(); int64(first.time) != now || now <= int64(first.tmpl.MinTime) {
			t.Fatalf("job time %d, clock %d, min %d", first.time, now, first.tmpl.MinTime)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		jobs.mu.Lock()
		got := jobs.jobs
		jobs.mu.Unlock()
		if len(got) != 4 {
			t.Fatalf("%d jobs after 3 s, want one a second", len(got))
		}
		for i, j := range got[1:] {
			if j.why != "time" || j.tmpl != first.tmpl || j.time != first.time+uint32(i+1) || j.extranonce != first.extranonce+uint64(i+1) {
				t.Fatalf("job %d: %q time %d extranonce %#x", i+1, j.why, j.time, j.extranonce)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestMeasure(t *testing.T) {
	for _, name := range []string{Baseline, "generic"} {
		t.Run(name, func(t *testing.T) {
			m, err := Measure(t.Context(), name, 2, 10*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if m.Kernel != name || m.Threads != 2 || m.Nonces == 0 || m.Rate() <= 0 {
				t.Fatalf("measurement %+v", m)
			}
		})
	}
	t.Run("unknown kernel", func(t *testing.T) {
		if _, err := Measure(t.Context(), "nope", 1, time.Millisecond); !errors.Is(err, kernel.ErrUnknownKernel) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("no threads", func(t *testing.T) {
		if _, err := Measure(t.Context(), Baseline, 0, time.Millisecond); err == nil {
			t.Fatal("measured with no threads")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := Measure(ctx, Baseline, 1, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("kernels", func(t *testing.T) {
		ks := Kernels()
		if len(ks) == 0 || ks[0].Name != "generic" || !ks[0].Available {
			t.Fatalf("kernels %+v", ks)
		}
		for _, k := range ks {
			if _, err := kernel.Lookup(k.Name); (err == nil) != k.Available {
				t.Fatalf("kernel %s: available %v, lookup %v", k.Name, k.Available, err)
			}
		}
	})
}
