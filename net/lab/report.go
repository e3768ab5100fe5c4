package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/renga-p2p/renga/net/api"
)

// Report is what a lab run shows: how each block and payment spread
// against the topology's lower bound, how long the network took to agree
// after each heal and each restart, and the reorganizations it went
// through. [Lab.Run] makes it from the records and writes it.
type Report struct {
	Start, Stop time.Time
	Nodes       int
	Blocks      []Item
	Payments    []Item
	Heals       []Convergence
	Restarts    []Convergence
	Reorgs      []Reorg
	Stale       []string // blocks mined during the run that are not on the final chain
	FinalHeight int32
	FinalTips   int // distinct tips at the end (1: agreed)
	// HeardEvents: the nodes reported when they first heard of blocks
	// (block-heard events, which need the node's message tap).
	HeardEvents bool
	Conditions  map[string]int // link conditions in force at the start: count of links each

	tips     []tipPoint     // every node's tip over the run, for the timeline
	cutSpans [][2]time.Time // when partitions were in force
}

// Item is one block or payment and its arrival at every node.
type Item struct {
	Kind     string // "block" or "payment"
	Hash     string
	Height   int32 // blocks
	Origin   int   // the node it started at, from 1
	Time     time.Time
	Arrivals []Arrival // every node but the origin
}

// Arrival is when an item reached one node, against the lower bound.
type Arrival struct {
	Node      int       `json:"node"`
	Heard     time.Time `json:"-"`
	Connected time.Time `json:"-"` // blocks: connected; payments: accepted (zero: never)
	Bound     time.Duration
	Hops      int
	// Why the arrival is not compared with its bound: "down" (the node was
	// not running when the item started), "partitioned" (no path to it
	// then), "never" (it did not arrive before the end).
	Excluded string
}

// Delay is the arrival's delay from the item's start.
func (a Arrival) Delay(it Item) time.Duration {
	if a.Connected.IsZero() {
		return 0
	}
	return a.Connected.Sub(it.Time)
}

// Ratio is delay over bound (NaN without a bound).
func (a Arrival) Ratio(it Item) float64 {
	if a.Excluded != "" || a.Bound <= 0 {
		return math.NaN()
	}
	return float64(a.Delay(it)) / float64(a.Bound)
}

// Convergence is how long the network (or one node) took to agree after
// an event.
type Convergence struct {
	At     time.Time
	Node   int // restarts: the node, from 1
	Took   time.Duration
	Done   bool // false: not within the run
	Height int32
	Tip    string
	What   string
}

// Reorg is one node leaving Depth blocks of its chain for another branch.
type Reorg struct {
	Node  int
	At    time.Time
	Depth int
	From  string // the old tip
}

// analysis is the state analyze works from.
type analysis struct {
	top     *Topology
	recs    []Record
	start   time.Time
	cuts    []cutSpan
	changes []linkChange
	base    []Conditions // conditions at the start, per link
	rtt     []time.Duration
}

// weight is link k's one-way lower bound at t: its delay in force then, or
// half its measured round trip where that is more (a link's own latency
// counts even without netem).
func (a *analysis) weight(k int, t time.Time) time.Duration {
	c := a.base[k]
	for _, ch := range a.changes {
		if ch.Link == k && !ch.At.After(t) {
			c = ch.Cond
		}
	}
	return max(c.Delay, a.rtt[k]/2)
}

// paths are the lower bounds and hop counts from origin at t: shortest
// paths over the links not cut at t, each weighted as it was then.
func (a *analysis) paths(origin int, t time.Time) ([]time.Duration, []int) {
	g := &Topology{Nodes: a.top.Nodes}
	for k, l := range a.top.Links {
		cut := false
		for _, c := range a.cuts {
			if c.Link == k && !c.Start.After(t) && (c.End.IsZero() || c.End.After(t)) {
				cut = true
			}
		}
		if !cut {
			l.Cond.Delay = a.weight(k, t)
			g.Links = append(g.Links, l)
		}
	}
	return g.ShortestPaths(origin, DelayBound)
}

// analyze builds the report from the run's records.
func (l *Lab) analyze() *Report {
	l.mu.Lock()
	a := &analysis{top: l.top, recs: l.rec.all(), start: l.started, cuts: slices.Clone(l.cuts), changes: slices.Clone(l.changes)}
	l.mu.Unlock()
	a.base = make([]Conditions, len(l.top.Links))
	a.rtt = make([]time.Duration, len(l.top.Links))
	for k, lk := range l.top.Links {
		a.base[k] = lk.Cond
		if l.links != nil {
			a.base[k] = l.links.Applied(k)
		} else {
			a.base[k] = Conditions{} // loopback: no conditions
		}
		if v, err := strconv.ParseFloat(lk.Attrs["rtt_ms"], 64); err == nil {
			a.rtt[k] = time.Duration(v * 1e6)
		}
	}
	return a.report()
}

func (a *analysis) report() *Report {
	r := &Report{Start: a.start, Nodes: len(a.top.Nodes), Conditions: map[string]int{}}
	for _, c := range a.base {
		r.Conditions[c.String()]++
	}
	n := len(a.top.Nodes)
	type key struct {
		node int
		hash string
	}
	connected := map[key]time.Time{}
	heard := map[key]time.Time{}
	accepted := map[key]time.Time{}
	// down[i] lists node i's down spans.
	down := make([][][2]time.Time, n+1)
	var mined, paid []Record
	for _, rec := range a.recs {
		k := key{rec.Node, rec.Hash}
		switch rec.Kind {
		case LabStop:
			r.Stop = rec.Time
		case LabMined:
			if !rec.Time.Before(a.start) {
				mined = append(mined, rec)
			}
		case LabPaid:
			if !rec.Time.Before(a.start) {
				paid = append(paid, rec)
			}
		case api.EventBlockConnected:
			if _, ok := connected[k]; !ok {
				connected[k] = rec.Time
			}
			if !rec.Heard.IsZero() {
				if _, ok := heard[k]; !ok {
					heard[k] = rec.Heard
				}
			}
		case api.EventBlockHeard:
			r.HeardEvents = true
			if _, ok := heard[k]; !ok {
				heard[k] = rec.Time
			}
		case api.EventTxAccepted:
			if _, ok := accepted[k]; !ok {
				accepted[k] = rec.Time
			}
		case LabKilled:
			down[rec.Node] = append(down[rec.Node], [2]time.Time{rec.Time, {}})
		case LabStarted:
			if d := down[rec.Node]; len(d) > 0 && d[len(d)-1][1].IsZero() {
				d[len(d)-1][1] = rec.Time
			}
		}
	}
	if r.Stop.IsZero() && len(a.recs) > 0 {
		r.Stop = a.recs[len(a.recs)-1].Time
	}
	isDown := func(node int, t time.Time) bool {
		for _, d := range down[node] {
			if !d[0].After(t) && (d[1].IsZero() || d[1].After(t)) {
				return true
			}
		}
		return false
	}
	item := func(kind string, rec Record, at map[key]time.Time) Item {
		it := Item{Kind: kind, Hash: rec.Hash, Height: rec.Height, Origin: rec.Node, Time: rec.Time}
		if t, ok := at[key{rec.Node, rec.Hash}]; ok {
			it.Time = t
		}
		bounds, hops := a.paths(rec.Node-1, it.Time)
		for i := range n {
			if i == rec.Node-1 {
				continue
			}
			ar := Arrival{Node: i + 1, Bound: bounds[i], Hops: hops[i], Connected: at[key{i + 1, rec.Hash}],
				Heard: heard[key{i + 1, rec.Hash}]}
			switch {
			case isDown(i+1, it.Time):
				ar.Excluded = "down"
			case hops[i] < 0:
				ar.Excluded = "partitioned"
			case ar.Connected.IsZero():
				ar.Excluded = "never"
			}
			it.Arrivals = append(it.Arrivals, ar)
		}
		return it
	}
	for _, rec := range mined {
		r.Blocks = append(r.Blocks, item("block", rec, connected))
	}
	for _, rec := range paid {
		r.Payments = append(r.Payments, item("payment", rec, accepted))
	}
	a.convergence(r)
	a.reorgs(r, mined)
	r.tips = tipsSince(a.tips(), a.start)
	spans := map[time.Time]time.Time{}
	for _, c := range a.cuts {
		if end, ok := spans[c.Start]; !ok || c.End.IsZero() || (!end.IsZero() && c.End.After(end)) {
			spans[c.Start] = c.End
		}
	}
	for start, end := range spans {
		r.cutSpans = append(r.cutSpans, [2]time.Time{start, end})
	}
	slices.SortFunc(r.cutSpans, func(x, y [2]time.Time) int { return x[0].Compare(y[0]) })
	return r
}

// tipTimeline is each node's tip over time, from tip events.
type tipPoint struct {
	at     time.Time
	node   int
	hash   string
	height int32
}

func (a *analysis) tips() []tipPoint {
	var out []tipPoint
	for _, rec := range a.recs {
		if rec.Kind == api.EventTip && rec.Node > 0 {
			out = append(out, tipPoint{rec.Time, rec.Node, rec.Hash, rec.Height})
		}
	}
	return out
}

// convergence finds, after each heal, the first moment every running
// node had the same tip; and after each restart, the first moment the
// node's tip reached the height the others had when it came back.
func (a *analysis) convergence(r *Report) {
	tips := a.tips()
	n := len(a.top.Nodes)
	var heals, restarts []Record
	killed := map[int]bool{}
	for _, rec := range a.recs {
		switch rec.Kind {
		case LabHealed:
			heals = append(heals, rec)
		case LabStarted:
			restarts = append(restarts, rec)
		}
	}
	stateAt := func(t time.Time) ([]string, []int32) {
		hash, height := make([]string, n+1), make([]int32, n+1)
		for _, p := range tips {
			if p.at.After(t) {
				break
			}
			hash[p.node], height[p.node] = p.hash, p.height
		}
		return hash, height
	}
	for _, h := range heals {
		c := Convergence{At: h.Time, What: "heal (" + h.Detail + ")"}
		hash, height := stateAt(h.Time)
		check := func(t time.Time) bool {
			var tip string
			for i := 1; i <= n; i++ {
				if killed[i] {
					continue
				}
				if tip == "" {
					tip = hash[i]
				}
				if hash[i] != tip || tip == "" {
					return false
				}
			}
			c.Done, c.Took, c.Tip = true, t.Sub(h.Time), tip
			for i := 1; i <= n; i++ {
				c.Height = max(c.Height, height[i])
			}
			return true
		}
		for _, rec := range a.recs {
			if rec.Time.After(h.Time) {
				break
			}
			switch rec.Kind {
			case LabKilled:
				killed[rec.Node] = true
			case LabStarted:
				delete(killed, rec.Node)
			}
		}
		if !check(h.Time) {
			for _, p := range tips {
				if !p.at.After(h.Time) {
					continue
				}
				hash[p.node], height[p.node] = p.hash, p.height
				if check(p.at) {
					break
				}
			}
		}
		r.Heals = append(r.Heals, c)
	}
	for _, s := range restarts {
		c := Convergence{At: s.Time, Node: s.Node, What: fmt.Sprintf("node %d restarted", s.Node)}
		_, height := stateAt(s.Time)
		var target int32
		for i := 1; i <= n; i++ {
			if i != s.Node {
				target = max(target, height[i])
			}
		}
		c.Height = target
		for _, p := range tips {
			if p.node == s.Node && p.at.After(s.Time) && p.height >= target {
				c.Done, c.Took, c.Tip = true, p.at.Sub(s.Time), p.hash
				break
			}
		}
		r.Restarts = append(r.Restarts, c)
	}
	final, height := stateAt(r.Stop.Add(time.Hour))
	distinct := map[string]bool{}
	for i := 1; i <= n; i++ {
		if final[i] != "" {
			distinct[final[i]] = true
		}
		r.FinalHeight = max(r.FinalHeight, height[i])
	}
	r.FinalTips = len(distinct)
}

// reorgs lists each run of disconnected blocks on a node, and the blocks
// mined that the final chain left out.
func (a *analysis) reorgs(r *Report, mined []Record) {
	lastTip := map[int]string{}
	var cur *Reorg
	onChain := map[int]map[string]bool{}
	for _, rec := range a.recs {
		if rec.Node == 0 {
			continue
		}
		if onChain[rec.Node] == nil {
			onChain[rec.Node] = map[string]bool{}
		}
		switch rec.Kind {
		case api.EventBlockGone:
			if cur == nil || cur.Node != rec.Node {
				r.Reorgs = append(r.Reorgs, Reorg{Node: rec.Node, At: rec.Time, From: lastTip[rec.Node]})
				cur = &r.Reorgs[len(r.Reorgs)-1]
			}
			cur.Depth++
			delete(onChain[rec.Node], rec.Hash)
		case api.EventBlockConnected:
			cur = nil
			onChain[rec.Node][rec.Hash] = true
		case api.EventTip:
			lastTip[rec.Node] = rec.Hash
		}
	}
	// The final chain: the one most nodes hold the last mined blocks on.
	best := 0
	for node, set := range onChain {
		if best == 0 || len(set) > len(onChain[best]) {
			best = node
		}
	}
	for _, m := range mined {
		if best != 0 && !onChain[best][m.Hash] {
			r.Stale = append(r.Stale, m.Hash)
		}
	}
}

// quantiles of xs (sorted in place) at each q; NaN for none.
func quantiles(xs []float64, qs ...float64) []float64 {
	out := make([]float64, len(qs))
	slices.Sort(xs)
	for i, q := range qs {
		if len(xs) == 0 {
			out[i] = math.NaN()
			continue
		}
		j := int(math.Ceil(q*float64(len(xs)))) - 1
		out[i] = xs[max(0, min(j, len(xs)-1))]
	}
	return out
}

// Stats gathers the compared arrivals of items: delays (ms), bounds
// (ms), ratios and hops.
func Stats(items []Item) (delays, bounds, ratios []float64, hops []int) {
	for _, it := range items {
		for _, a := range it.Arrivals {
			if a.Excluded != "" {
				continue
			}
			delays = append(delays, float64(a.Delay(it))/1e6)
			bounds = append(bounds, float64(a.Bound)/1e6)
			hops = append(hops, a.Hops)
			if r := a.Ratio(it); !math.IsNaN(r) {
				ratios = append(ratios, r)
			}
		}
	}
	return delays, bounds, ratios, hops
}

// BelowBound counts compared arrivals sooner than their lower bound: a
// measurement error if ever more than none.
func BelowBound(items []Item) int {
	n := 0
	for _, it := range items {
		for _, a := range it.Arrivals {
			if a.Excluded == "" && a.Bound > 0 && a.Delay(it) < a.Bound {
				n++
			}
		}
	}
	return n
}

// Summary writes the report as tables for people.
func (r *Report) Summary(w io.Writer) {
	dur := r.Stop.Sub(r.Start).Round(100 * time.Millisecond)
	fmt.Fprintf(w, "propagation report: %d nodes, %d blocks and %d payments in %v\n", r.Nodes, len(r.Blocks), len(r.Payments), dur)
	var conds []string
	for c, k := range r.Conditions {
		conds = append(conds, fmt.Sprintf("%d links %s", k, c))
	}
	slices.Sort(conds)
	fmt.Fprintf(w, "link conditions in force: %s\n", strings.Join(conds, ", "))
	if !r.HeardEvents {
		fmt.Fprintln(w, "(the nodes sent no block-heard events: \"heard\" times need the node's message tap)")
	}
	for _, sec := range []struct {
		name  string
		items []Item
		verb  string
	}{{"blocks", r.Blocks, "connected"}, {"payments", r.Payments, "accepted"}} {
		if len(sec.items) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: delay from the origin until each node %s it\n", sec.name, sec.verb)
		fmt.Fprintf(w, "  %-10s %7s %9s %9s %9s %9s %8s %8s %8s\n", "", "arrivals", "p50", "p90", "max", "bound p50", "÷bound50", "÷bound90", "÷bound99")
		row := func(label string, items []Item, hopFilter int) {
			var ds, bs, rs []float64
			for _, it := range items {
				for _, a := range it.Arrivals {
					if a.Excluded != "" || (hopFilter > 0 && a.Hops != hopFilter) {
						continue
					}
					ds = append(ds, float64(a.Delay(it))/1e6)
					bs = append(bs, float64(a.Bound)/1e6)
					if x := a.Ratio(it); !math.IsNaN(x) {
						rs = append(rs, x)
					}
				}
			}
			if len(ds) == 0 {
				return
			}
			d := quantiles(ds, 0.5, 0.9, 1)
			b := quantiles(bs, 0.5)
			q := quantiles(rs, 0.5, 0.9, 0.99)
			fmt.Fprintf(w, "  %-10s %7d %7.1fms %7.1fms %7.1fms %7.2fms %8s %8s %8s\n", label, len(ds), d[0], d[1], d[2], b[0], fx(q[0]), fx(q[1]), fx(q[2]))
		}
		row("all", sec.items, 0)
		maxHops := 0
		for _, it := range sec.items {
			for _, a := range it.Arrivals {
				maxHops = max(maxHops, a.Hops)
			}
		}
		for h := 1; h <= maxHops; h++ {
			label := fmt.Sprintf("%d hop", h)
			if h > 1 {
				label += "s"
			}
			row(label, sec.items, h)
		}
		excluded := map[string]int{}
		for _, it := range sec.items {
			for _, a := range it.Arrivals {
				if a.Excluded != "" {
					excluded[a.Excluded]++
				}
			}
		}
		if len(excluded) > 0 {
			never := "never arrived"
			if sec.name == "payments" {
				// A node that gets a payment first in a block never takes
				// it into its mempool: the pool would not relay it.
				never = "never accepted (mined first, or lost)"
			}
			fmt.Fprintf(w, "  not compared: %d partitioned, %d down, %d %s\n", excluded["partitioned"], excluded["down"], excluded["never"], never)
		}
		if n := BelowBound(sec.items); n > 0 {
			fmt.Fprintf(w, "  WARNING: %d arrivals came sooner than their lower bound\n", n)
		}
	}
	if len(r.Heals) > 0 || len(r.Restarts) > 0 {
		fmt.Fprintln(w, "\nconvergence:")
		for _, c := range append(slices.Clone(r.Heals), r.Restarts...) {
			at := c.At.Sub(r.Start).Round(100 * time.Millisecond)
			if !c.Done {
				fmt.Fprintf(w, "  +%-8v %s: not converged by the end\n", at, c.What)
				continue
			}
			fmt.Fprintf(w, "  +%-8v %s: agreed after %v at height %d (tip %s)\n", at, c.What, c.Took.Round(time.Millisecond), c.Height, short(c.Tip))
		}
	}
	fmt.Fprintf(w, "\nreorganizations: %d", len(r.Reorgs))
	if len(r.Reorgs) > 0 {
		depth := 0
		for _, g := range r.Reorgs {
			depth = max(depth, g.Depth)
		}
		fmt.Fprintf(w, " (deepest %d blocks)", depth)
	}
	fmt.Fprintln(w)
	for i, g := range r.Reorgs {
		if i == 20 {
			fmt.Fprintf(w, "  … %d more\n", len(r.Reorgs)-20)
			break
		}
		fmt.Fprintf(w, "  +%-8v node %d left %d block(s) (tip was %s)\n", g.At.Sub(r.Start).Round(100*time.Millisecond), g.Node, g.Depth, short(g.From))
	}
	fmt.Fprintf(w, "stale blocks (mined, not on the final chain): %d\n", len(r.Stale))
	if r.FinalTips == 1 {
		fmt.Fprintf(w, "final: every node on one tip at height %d\n", r.FinalHeight)
	} else {
		fmt.Fprintf(w, "final: %d different tips (best height %d)\n", r.FinalTips, r.FinalHeight)
	}
}

func fx(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', 2, 64) + "x"
}

// WriteJSONLines writes one line per arrival of every item.
func (r *Report) WriteJSONLines(w io.Writer) error {
	enc := json.NewEncoder(w)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	for _, it := range append(slices.Clone(r.Blocks), r.Payments...) {
		for _, a := range it.Arrivals {
			line := map[string]any{
				"kind": it.Kind, "hash": it.Hash, "origin": it.Origin, "node": a.Node,
				"start": it.Time, "bound_ms": ms(a.Bound), "hops": a.Hops,
			}
			if it.Kind == "block" {
				line["height"] = it.Height
			}
			if !a.Connected.IsZero() {
				line["delay_ms"] = ms(a.Delay(it))
			}
			if !a.Heard.IsZero() {
				line["heard_ms"] = ms(a.Heard.Sub(it.Time))
			}
			if x := a.Ratio(it); !math.IsNaN(x) {
				line["ratio"] = math.Round(x*1000) / 1000
			}
			if a.Excluded != "" {
				line["excluded"] = a.Excluded
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeReport analyzes the run and writes the summary to Out and, with a
// report directory, the files.
func (l *Lab) writeReport() error {
	r := l.analyze()
	l.annotate(r)
	fmt.Fprintln(l.cfg.Out)
	r.Summary(l.cfg.Out)
	dir := l.cfg.ReportDir
	if dir == "" {
		return nil
	}
	var sb strings.Builder
	r.Summary(&sb)
	files := map[string]func(io.Writer) error{
		"summary.txt":       func(w io.Writer) error { _, err := io.WriteString(w, sb.String()); return err },
		"propagation.jsonl": r.WriteJSONLines,
		"topology.graphml":  func(w io.Writer) error { return WriteGraphML(w, l.top) },
	}
	for name, write := range files {
		if err := writeFile(filepath.Join(dir, name), write); err != nil {
			return err
		}
	}
	if err := r.Plots(dir, l.top); err != nil {
		return err
	}
	fmt.Fprintf(l.cfg.Out, "report written to %s (summary.txt, propagation.jsonl, events.jsonl, topology.graphml, cdf/hops/timeline .png and .svg)\n", dir)
	return nil
}

// annotate adds the run's results to the topology, for its GraphML.
func (l *Lab) annotate(r *Report) {
	per := make([][]float64, len(l.top.Nodes))
	for _, it := range r.Blocks {
		for _, a := range it.Arrivals {
			if a.Excluded == "" {
				per[a.Node-1] = append(per[a.Node-1], float64(a.Delay(it))/1e6)
			}
		}
	}
	for i, n := range l.nodes {
		n.mu.Lock()
		l.top.SetNodeAttr(i, "height", strconv.Itoa(int(n.height)))
		l.top.SetNodeAttr(i, "tip", n.tip)
		l.top.SetNodeAttr(i, "restarts", strconv.Itoa(n.restarts))
		n.mu.Unlock()
		if len(per[i]) > 0 {
			l.top.SetNodeAttr(i, "block_delay_p50_ms", strconv.FormatFloat(quantiles(per[i], 0.5)[0], 'f', 3, 64))
		}
		if kib, ok := rssKiB(n); ok {
			l.top.SetNodeAttr(i, "rss_kib", strconv.Itoa(kib))
		}
	}
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
