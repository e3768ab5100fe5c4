package chain

import (
	"slices"

	"github.com/holiman/uint256"

	"github.com/renga-p2p/renga/chain/store"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// Status flags of a block index entry.
type Status uint8

const (
	// StatusHaveData: the block's body is stored (or accepted and waiting
	// for the next commit to write it; Chain.Block serves it either way).
	StatusHaveData Status = 1 << iota
	// StatusValid: the block was fully validated and connected (it may have
	// been disconnected since by a reorganization).
	StatusValid
	// StatusInvalid: the block broke a consensus rule.
	StatusInvalid
	// StatusInvalidParent: an ancestor is invalid, so this block is too.
	StatusInvalidParent
)

// Invalid reports whether the block or an ancestor broke a rule.
func (s Status) Invalid() bool { return s&(StatusInvalid|StatusInvalidParent) != 0 }

// Node is a block index entry: a header the chain accepted, where it sits and
// what is known of it. Nodes are created and changed only by the Chain, under
// its lock; callers get them from Chain methods and must treat them as
// read-only. Every field but Status and Pos is fixed once the node exists;
// those two change under the chain's lock, so others read Status through
// Chain.Status.
type Node struct {
	Hash   sha256d.Hash
	Header wire.Header
	Parent *Node
	Height int32
	Work   uint256.Int // total work of the chain ending here
	Status Status
	Seq    uint64         // arrival order: the first seen wins between equal work
	Pos    store.BlockPos // where the body is stored (zero until it is written)

	// skip points to an ancestor further back (chosen as in Bitcoin Core), so
	// that Ancestor takes O(log n) steps instead of walking every parent.
	skip *Node
}

// newNode links a header into the index under parent (nil for genesis).
func newNode(h *wire.Header, hash sha256d.Hash, parent *Node) *Node {
	n := &Node{Hash: hash, Header: *h, Parent: parent}
	work := Work(h.Bits)
	if parent != nil {
		n.Height = parent.Height + 1
		n.Work.Add(&parent.Work, &work)
		n.skip = parent.Ancestor(skipHeight(n.Height))
	} else {
		n.Work = work
	}
	return n
}

// skipHeight is Core's GetSkipHeight: turn off the lowest set bit, twice for
// odd heights, which gives skip pointers that make Ancestor logarithmic.
func skipHeight(h int32) int32 {
	if h < 2 {
		return 0
	}
	invertLowest := func(n int32) int32 { return n & (n - 1) }
	if h&1 != 0 {
		return invertLowest(invertLowest(h-1)) + 1
	}
	return invertLowest(h)
}

// Ancestor returns the ancestor at height (n itself at its own height), or nil
// if height is out of range.
func (n *Node) Ancestor(height int32) *Node {
	if height > n.Height || height < 0 {
		return nil
	}
	walk := n
	for walk.Height > height {
		hs := skipHeight(walk.Height)
		hsPrev := skipHeight(walk.Height - 1)
		if walk.skip != nil && (hs == height || (hs > height && (hsPrev >= hs-2 || hsPrev < height))) {
			walk = walk.skip
		} else {
			walk = walk.Parent
		}
	}
	return walk
}

// MedianTimePast is the median of the times of this block and the ten before
// it: the clock consensus uses for lock times and the next block's minimum time.
func (n *Node) MedianTimePast() int64 {
	var times [medianTimeBlocks]int64
	k := 0
	for walk := n; walk != nil && k < medianTimeBlocks; walk = walk.Parent {
		times[k] = int64(walk.Header.Time)
		k++
	}
	t := times[:k]
	slices.Sort(t)
	return t[k/2]
}

// entry is the node as the store keeps it.
func (n *Node) entry() store.IndexEntry {
	return store.IndexEntry{Header: n.Header, Height: n.Height, Status: uint8(n.Status), Seq: n.Seq, Pos: n.Pos}
}

// moreWork orders candidate tips: more work first, then first seen.
func moreWork(a, b *Node) bool {
	if c := a.Work.Cmp(&b.Work); c != 0 {
		return c > 0
	}
	return a.Seq < b.Seq
}

// commonAncestor returns the last block two chains share.
func commonAncestor(a, b *Node) *Node {
	if a.Height > b.Height {
		a = a.Ancestor(b.Height)
	} else if b.Height > a.Height {
		b = b.Ancestor(a.Height)
	}
	for a != b {
		a, b = a.Parent, b.Parent
	}
	return a
}

// NewTestNode links a header into a free-standing index (no Chain): for tests
// of the difficulty rules.
func NewTestNode(h *wire.Header, parent *Node) *Node { return newNode(h, h.Hash(), parent) }
