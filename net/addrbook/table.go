package addrbook

// Table geometry, as Bitcoin Core's addrman.
const (
	newBucketCount   = 1024 // buckets of the new table
	triedBucketCount = 256  // buckets of the tried table
	bucketSize       = 64   // positions per bucket

	newBucketsPerSourceGroup = 64 // how many new buckets one source group can reach
	triedBucketsPerGroup     = 8  // how many tried buckets one address group can reach
	maxNewRefs               = 8  // how many new buckets one address can be in
)

// A table is the new or the tried table: buckets of positions, each empty
// or holding an entry, and the list of non-empty buckets so that a random
// occupied bucket is found in constant time (uniform over non-empty buckets
// is what picking buckets at random until one is occupied amounts to).
type table struct {
	slots    []*entry // bucket*bucketSize + position
	fill     []uint8  // entries per bucket
	nonEmpty []int32  // buckets with fill > 0, in no order
	where    []int32  // 1 + index of the bucket in nonEmpty, 0 when empty
}

func newTable(buckets int) table {
	return table{
		slots: make([]*entry, buckets*bucketSize),
		fill:  make([]uint8, buckets),
		where: make([]int32, buckets),
	}
}

// set puts e (nil: nothing) at slot, keeping the counts.
func (t *table) set(slot int, e *entry) {
	b := slot / bucketSize
	switch old := t.slots[slot]; {
	case old == nil && e != nil:
		if t.fill[b] == 0 {
			t.nonEmpty = append(t.nonEmpty, int32(b))
			t.where[b] = int32(len(t.nonEmpty))
		}
		t.fill[b]++
	case old != nil && e == nil:
		t.fill[b]--
		if t.fill[b] == 0 {
			i := t.where[b] - 1
			last := t.nonEmpty[len(t.nonEmpty)-1]
			t.nonEmpty[i] = last
			t.where[last] = i + 1
			t.nonEmpty = t.nonEmpty[:len(t.nonEmpty)-1]
			t.where[b] = 0
		}
	}
	t.slots[slot] = e
}

// freeIn returns the first empty position of bucket at or after pos
// (wrapping), or -1.
func (t *table) freeIn(bucket, pos int) int {
	for i := range bucketSize {
		s := bucket*bucketSize + (pos+i)%bucketSize
		if t.slots[s] == nil {
			return s
		}
	}
	return -1
}

// firstFrom returns the first occupied slot of bucket at or after pos
// (wrapping), or -1.
func (t *table) firstFrom(bucket, pos int) int {
	for i := range bucketSize {
		s := bucket*bucketSize + (pos+i)%bucketSize
		if t.slots[s] != nil {
			return s
		}
	}
	return -1
}
