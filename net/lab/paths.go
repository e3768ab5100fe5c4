package lab

import (
	"container/heap"
	"time"
)

// ShortestPaths finds, from node from, the least total weight to every node
// and the hop count of that path (fewest hops among the lightest paths).
// weight gives a link's one-way cost; nil counts every link as zero, which
// makes hops the plain hop distance. An unreachable node has hops -1.
//
// With Link.Cond.Delay as the weight this is the propagation lower bound:
// nothing can reach a node sooner than one one-way trip per hop of the
// quickest path.
func (t *Topology) ShortestPaths(from int, weight func(Link) time.Duration) (dist []time.Duration, hops []int) {
	n := len(t.Nodes)
	dist = make([]time.Duration, n)
	hops = make([]int, n)
	for i := range hops {
		hops[i] = -1
	}
	if from < 0 || from >= n {
		return dist, hops
	}
	adj := t.Neighbours()
	done := make([]bool, n)
	dist[from], hops[from] = 0, 0
	q := &pathQueue{{node: from}}
	for q.Len() > 0 {
		it := heap.Pop(q).(pathItem)
		if done[it.node] {
			continue
		}
		done[it.node] = true
		for _, li := range adj[it.node] {
			l := t.Links[li]
			next := l.Other(it.node)
			if done[next] {
				continue
			}
			var w time.Duration
			if weight != nil {
				w = weight(l)
			}
			d, h := it.dist+w, it.hops+1
			if hops[next] == -1 || d < dist[next] || (d == dist[next] && h < hops[next]) {
				dist[next], hops[next] = d, h
				heap.Push(q, pathItem{node: next, dist: d, hops: h})
			}
		}
	}
	return dist, hops
}

// DelayBound is the weight of the propagation lower bound: a link's
// configured one-way delay.
func DelayBound(l Link) time.Duration { return l.Cond.Delay }

// Diameter is the greatest hop distance between two nodes (-1 if the
// topology is not connected).
func (t *Topology) Diameter() int {
	d := 0
	for i := range t.Nodes {
		_, hops := t.ShortestPaths(i, nil)
		for _, h := range hops {
			if h < 0 {
				return -1
			}
			d = max(d, h)
		}
	}
	return d
}

type pathItem struct {
	node int
	dist time.Duration
	hops int
}

// pathQueue is a min-heap by (dist, hops).
type pathQueue []pathItem

func (q pathQueue) Len() int { return len(q) }
func (q pathQueue) Less(i, j int) bool {
	if q[i].dist != q[j].dist {
		return q[i].dist < q[j].dist
	}
	return q[i].hops < q[j].hops
}
func (q pathQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *pathQueue) Push(x any)   { *q = append(*q, x.(pathItem)) }
func (q *pathQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
