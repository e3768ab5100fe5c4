package chain

import (
	"slices"
	"unsafe"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// DefaultMaxOrphanBytes bounds the memory the orphan pool holds (see
// Options.MaxOrphanBytes): room for several blocks of the largest possible
// shape (a 4 MB block decodes to at most 4 MB plus wire.MaxDecodeOverhead
// times that), and for hundreds of ordinary ones.
const DefaultMaxOrphanBytes = 32 << 20

// orphanPool keeps blocks whose parent is not known yet, bounded both in
// number and in the memory they hold; the oldest is dropped first. Only
// blocks that passed CheckBlock (proof of work against their own bits and
// the network's limit, merkle root, size, transactions) come here, so each
// cost whoever made it a block's worth of work. Headers-first sync makes no
// orphans: the pool serves imports of out-of-order block files, and blocks
// announced out of order.
type orphanPool struct {
	max, maxBytes int
	bytes         int
	byHash        map[sha256d.Hash]*orphan
	byParent      map[sha256d.Hash][]*orphan
	order         []sha256d.Hash // arrival order, for eviction
}

type orphan struct {
	block *wire.Block
	raw   []byte
	cost  int
}

func newOrphanPool(max, maxBytes int) *orphanPool {
	return &orphanPool{max: max, maxBytes: maxBytes, byHash: map[sha256d.Hash]*orphan{}, byParent: map[sha256d.Hash][]*orphan{}}
}

// blockMemory estimates the memory a decoded block holds: its serialization
// (the payload its scripts alias, which raw is when given) and the decoded
// structures.
func blockMemory(b *wire.Block) int {
	n := b.SerializeSize() + len(b.Txs)*int(unsafe.Sizeof(wire.Tx{}))
	for i := range b.Txs {
		n += len(b.Txs[i].Inputs)*int(unsafe.Sizeof(wire.TxIn{})) + len(b.Txs[i].Outputs)*int(unsafe.Sizeof(wire.TxOut{}))
	}
	return n
}

// add keeps b, dropping the oldest orphans until both bounds hold. It
// reports whether b is kept (a block alone over the byte bound is not).
func (p *orphanPool) add(b *wire.Block, raw []byte) bool {
	h := b.Hash()
	if _, ok := p.byHash[h]; ok {
		return true
	}
	cost := blockMemory(b)
	if cost > p.maxBytes {
		return false
	}
	for len(p.order) > 0 && (len(p.order) >= p.max || p.bytes+cost > p.maxBytes) {
		p.remove(p.order[0])
	}
	o := &orphan{block: b, raw: raw, cost: cost}
	p.byHash[h] = o
	p.byParent[b.Header.PrevBlock] = append(p.byParent[b.Header.PrevBlock], o)
	p.order = append(p.order, h)
	p.bytes += cost
	return true
}

func (p *orphanPool) remove(h sha256d.Hash) {
	o, ok := p.byHash[h]
	if !ok {
		return
	}
	delete(p.byHash, h)
	p.bytes -= o.cost
	prev := o.block.Header.PrevBlock
	kids := p.byParent[prev]
	for i, k := range kids {
		if k == o {
			kids = append(kids[:i], kids[i+1:]...)
			break
		}
	}
	if len(kids) == 0 {
		delete(p.byParent, prev)
	} else {
		p.byParent[prev] = kids
	}
	for i, oh := range p.order {
		if oh == h {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

// takeChildren removes and returns the orphans whose parent is h.
func (p *orphanPool) takeChildren(h sha256d.Hash) []*orphan {
	kids := slices.Clone(p.byParent[h]) // remove edits the list in place
	for _, k := range kids {
		p.remove(k.block.Hash())
	}
	return kids
}

// stats returns how many blocks are held and what they cost.
func (p *orphanPool) stats() (count, bytes int) { return len(p.byHash), p.bytes }
