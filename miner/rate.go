package miner

import "time"

// rateMeter turns a growing count of hashes into a rate over a sliding
// window: it keeps a sample per tick and measures from the oldest one within
// rateWindow, so the rate follows changes within seconds yet does not jump
// with every kernel call.
type rateMeter struct {
	times  [rateSamples]time.Time
	counts [rateSamples]uint64
	n      int // samples held
	head   int // index of the oldest
}

// reset starts over from one sample.
func (r *rateMeter) reset(now time.Time, count uint64) {
	*r = rateMeter{}
	r.add(now, count)
}

// add records a sample, dropping the oldest when full.
func (r *rateMeter) add(now time.Time, count uint64) {
	if r.n == rateSamples {
		r.head = (r.head + 1) % rateSamples
		r.n--
	}
	i := (r.head + r.n) % rateSamples
	r.times[i], r.counts[i] = now, count
	r.n++
}

// rate returns the hashes per second from the oldest sample no older than
// rateWindow (the newest one if all are older) to (now, count).
func (r *rateMeter) rate(now time.Time, count uint64) float64 {
	if r.n == 0 {
		return 0
	}
	from := (r.head + r.n - 1) % rateSamples
	for k := range r.n {
		i := (r.head + k) % rateSamples
		if now.Sub(r.times[i]) <= rateWindow {
			from = i
			break
		}
	}
	dt := now.Sub(r.times[from]).Seconds()
	if dt <= 0 || count < r.counts[from] {
		return 0
	}
	return float64(count-r.counts[from]) / dt
}
