package kernel

// scanGeneric is the generic kernel and the specification of every other one:
// it hashes each nonce of the range in order with [sha256d.Compress] (through
// [Job.digest]) and records those whose [Top32] is at most the filter, stopping
// as soon as hits is full. Its arguments are normalized by [Kernel.Scan]: count ≥
// 1, start+count ≤ 2³², len(hits) ≥ 1.
func scanGeneric(j *Job, start, count uint32, hits []uint32) (int, uint32) {
	n := 0
	for i := range count {
		nonce := start + i
		if j.top32(nonce) <= j.Filter {
			hits[n] = nonce
			n++
			if n == len(hits) {
				return n, i + 1
			}
		}
	}
	return n, count
}
