package chain

import (
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// orphanPool keeps blocks whose parent is not known yet, bounded in number;
// the oldest is dropped first. (Headers-first sync rarely makes orphans; a
// block announced out of order does.)
type orphanPool struct {
	max      int
	byHash   map[sha256d.Hash]*orphan
	byParent map[sha256d.Hash][]*orphan
	order    []sha256d.Hash // arrival order, for eviction
}

type orphan struct {
	block *wire.Block
	raw   []byte
}

func newOrphanPool(max int) *orphanPool {
	return &orphanPool{max: max, byHash: map[sha256d.Hash]*orphan{}, byParent: map[sha256d.Hash][]*orphan{}}
}

func (p *orphanPool) add(b *wire.Block, raw []byte) {
	h := b.Hash()
	if _, ok := p.byHash[h]; ok {
		return
	}
	for len(p.order) >= p.max {
		p.remove(p.order[0])
	}
	o := &orphan{block: b, raw: raw}
	p.byHash[h] = o
	p.byParent[b.Header.PrevBlock] = append(p.byParent[b.Header.PrevBlock], o)
	p.order = append(p.order, h)
}

func (p *orphanPool) remove(h sha256d.Hash) {
	o, ok := p.byHash[h]
	if !ok {
		return
	}
	delete(p.byHash, h)
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
	kids := p.byParent[h]
	for _, k := range kids {
		p.remove(k.block.Hash())
	}
	return kids
}
