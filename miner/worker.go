package miner

import (
	"context"
	"sync/atomic"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/miner/internal/kernel"
)

// job is one header to search: a template with one extranonce and time. The
// workers share it and claim its nonces in ranges from next.
type job struct {
	tmpl       *Template
	extranonce uint64
	time       uint32
	why        string // what started it: "tip", "pool", "time" or "roll" (for tests and logs)

	kjob   kernel.Job
	target sha256d.Hash // the full target candidates are confirmed against
	limit  uint64       // size of the nonce space (2^32 outside tests)

	// next is the first nonce not yet claimed. It is 64 bits wide so that
	// claims past the end of the nonce space stay visible as such.
	next atomic.Uint64
	// stale is closed when a newer job replaces this one.
	stale chan struct{}
}

func newJob(t *Template, en uint64, time uint32, limit uint64, why string, targetFor func(*Template) sha256d.Hash) *job {
	j := &job{tmpl: t, extranonce: en, time: time, why: why, target: t.Target, limit: limit, stale: make(chan struct{})}
	if targetFor != nil {
		j.target = targetFor(t)
	}
	h := t.Header
	h.MerkleRoot = t.MerkleRoot(en)
	h.Time = time
	var raw [kernel.HeaderSize]byte
	h.Put(&raw)
	j.kjob = kernel.NewJob(&raw, kernel.TargetFilter(&j.target))
	return j
}

// maxHits is the size of a worker's candidate buffer. With regtest's target
// about half of all nonces are candidates, so the kernel fills it within a
// step or two; then the first candidate confirmed ends the search anyway.
const maxHits = 16

// worker is one worker's state: the kernel and its candidate buffer, made
// once so that the scan loop allocates nothing.
type worker struct {
	k      kernel.Kernel
	chunk  uint64
	hashes *atomic.Uint64
	hits   [maxHits]uint32
}

func newWorker(m *Miner) *worker {
	return &worker{k: m.kernel, chunk: uint64(m.kernel.Chunk), hashes: &m.hashes}
}

// stepResult says what a worker's step ended with.
type stepResult int

const (
	// stepMore: a range was scanned; step again (on the current job).
	stepMore stepResult = iota
	// stepFound: this step found a solution, which the worker must hand over.
	stepFound
	// stepSolved: another worker solved the job's template; wait for a new job.
	stepSolved
	// stepExhausted: the job's nonce space is used up; ask for a roll and wait.
	stepExhausted
)

// step claims the next range of j's nonces (the kernel's chunk, about 4 ms of
// work), scans it and confirms every candidate against the full target. It
// is the hot loop: it must not allocate (TestStepDoesNotAllocate).
func (w *worker) step(j *job) (res stepResult, nonce uint32, hash sha256d.Hash) {
	if j.tmpl.solved.Load() {
		return stepSolved, 0, hash
	}
	start := j.next.Add(w.chunk) - w.chunk
	if start >= j.limit {
		return stepExhausted, 0, hash
	}
	count := uint32(min(w.chunk, j.limit-start))
	at := uint32(start)
	for count > 0 {
		n, scanned := w.k.Scan(&j.kjob, at, count, w.hits[:])
		w.hashes.Add(uint64(scanned))
		for _, cand := range w.hits[:n] {
			h, ok := j.kjob.Confirm(cand, &j.target)
			if !ok {
				continue
			}
			if !j.tmpl.solved.CompareAndSwap(false, true) {
				return stepSolved, 0, hash
			}
			return stepFound, cand, h
		}
		at += scanned
		count -= scanned
	}
	return stepMore, 0, hash
}

// work is a worker goroutine: it scans the current job until a newer one
// replaces it (checked between steps, so within a kernel call), waits when
// the job is solved or used up, and returns when ctx is done.
func (s *session) work(ctx context.Context) {
	w := newWorker(s.m)
	for {
		j := s.cur.Load()
		res, nonce, hash := w.step(j)
		switch res {
		case stepMore:
			select {
			case <-ctx.Done():
				return
			default:
			}
			continue
		case stepFound:
			select {
			case s.found <- foundNonce{job: j, nonce: nonce, hash: hash}:
			case <-ctx.Done():
				return
			}
		case stepExhausted:
			signal(s.roll)
		}
		select {
		case <-j.stale:
		case <-ctx.Done():
			return
		}
	}
}
