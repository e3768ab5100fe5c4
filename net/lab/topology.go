package lab

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxNodes bounds a topology: a generator's N, a GraphML file's node count.
// 1,024 namespaces and node processes is already far past what one machine
// runs (see the package doc's scale figures).
const MaxNodes = 1024

// MaxLinks bounds the links of a topology. Each link is a veth pair, a /30
// subnet (10.200.0.0/13 holds 2^17 of them) and two interface names.
const MaxLinks = 32768

// Sentinel errors. Every error about a topology's content wraps
// ErrTopology; about a link condition, ErrCondition.
var (
	ErrTopology  = errors.New("lab: bad topology")
	ErrCondition = errors.New("lab: bad link condition")
)

// Topology is a network to build: nodes and the links between them. A link
// is undirected (both ways) and carries its own conditions; a node may mine.
// Node i is named Nodes[i].ID in GraphML and "node i+1" to people.
type Topology struct {
	Nodes []Node
	Links []Link
}

// Node is one node of a topology.
type Node struct {
	ID      string // GraphML id ("n0", ...); unique
	Mine    bool   // the node mines from the start
	Threads int    // mining threads (0: the lab's default)
	// Attrs are further attributes, read from GraphML and written back: the
	// lab adds its measurements here ("height", "rss_kib", ...).
	Attrs map[string]string
}

// Link is an undirected link between nodes A and B (indexes into Nodes,
// A < B) with the conditions each direction gets.
type Link struct {
	A, B  int
	Cond  Conditions
	Attrs map[string]string // as Node.Attrs ("rtt_ms", "applied", ...)
}

// Conditions are what a link does to packets, in each direction: netem's
// delay, jitter and loss, and a rate limit. The zero value is a plain link.
type Conditions struct {
	Delay  time.Duration // one-way delay added to each packet
	Jitter time.Duration // ± spread of Delay (netem's second delay value)
	Loss   float64       // percent of packets dropped, 0 to 100
	Rate   uint64        // bits per second; 0: unlimited
}

// IsZero reports whether the conditions change nothing.
func (c Conditions) IsZero() bool { return c == Conditions{} }

// Validate checks the conditions' ranges.
func (c Conditions) Validate() error {
	var errs []error
	if c.Delay < 0 || c.Jitter < 0 {
		errs = append(errs, fmt.Errorf("%w: negative delay or jitter", ErrCondition))
	}
	if c.Delay > time.Minute {
		errs = append(errs, fmt.Errorf("%w: delay %v is over a minute", ErrCondition, c.Delay))
	}
	if c.Jitter > c.Delay {
		errs = append(errs, fmt.Errorf("%w: jitter %v exceeds delay %v", ErrCondition, c.Jitter, c.Delay))
	}
	if c.Loss < 0 || c.Loss > 100 || c.Loss != c.Loss {
		errs = append(errs, fmt.Errorf("%w: loss %v%% is not 0 to 100", ErrCondition, c.Loss))
	}
	if c.Rate != 0 && c.Rate < 8000 {
		errs = append(errs, fmt.Errorf("%w: rate %d bit/s is under 8 kbit/s", ErrCondition, c.Rate))
	}
	return errors.Join(errs...)
}

// String is the conditions in tc's words: "20ms±5ms loss 1% rate 10mbit".
func (c Conditions) String() string {
	if c.IsZero() {
		return "plain"
	}
	var parts []string
	if c.Delay > 0 || c.Jitter > 0 {
		s := c.Delay.String()
		if c.Jitter > 0 {
			s += "±" + c.Jitter.String()
		}
		parts = append(parts, s)
	}
	if c.Loss > 0 {
		parts = append(parts, "loss "+FormatLoss(c.Loss))
	}
	if c.Rate > 0 {
		parts = append(parts, "rate "+FormatRate(c.Rate))
	}
	return strings.Join(parts, " ")
}

// Validate checks the topology: ids unique, links between existing
// distinct nodes with A < B, no link twice, conditions in range, within
// MaxNodes and MaxLinks.
func (t *Topology) Validate() error {
	if len(t.Nodes) == 0 {
		return fmt.Errorf("%w: no nodes", ErrTopology)
	}
	if len(t.Nodes) > MaxNodes {
		return fmt.Errorf("%w: %d nodes, at most %d", ErrTopology, len(t.Nodes), MaxNodes)
	}
	if len(t.Links) > MaxLinks {
		return fmt.Errorf("%w: %d links, at most %d", ErrTopology, len(t.Links), MaxLinks)
	}
	var errs []error
	ids := make(map[string]bool, len(t.Nodes))
	for i, n := range t.Nodes {
		switch {
		case n.ID == "":
			errs = append(errs, fmt.Errorf("%w: node %d has no id", ErrTopology, i+1))
		case ids[n.ID]:
			errs = append(errs, fmt.Errorf("%w: node id %q twice", ErrTopology, n.ID))
		}
		ids[n.ID] = true
		if n.Threads < 0 || n.Threads > 1024 {
			errs = append(errs, fmt.Errorf("%w: node %s: %d threads", ErrTopology, n.ID, n.Threads))
		}
	}
	seen := make(map[[2]int]bool, len(t.Links))
	for _, l := range t.Links {
		if l.A < 0 || l.B >= len(t.Nodes) || l.A >= l.B {
			errs = append(errs, fmt.Errorf("%w: link %d-%d: want node indexes 0 <= A < B < %d", ErrTopology, l.A, l.B, len(t.Nodes)))
			continue
		}
		if seen[[2]int{l.A, l.B}] {
			errs = append(errs, fmt.Errorf("%w: link %s-%s twice", ErrTopology, t.Nodes[l.A].ID, t.Nodes[l.B].ID))
		}
		seen[[2]int{l.A, l.B}] = true
		if err := l.Cond.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("link %s-%s: %w", t.Nodes[l.A].ID, t.Nodes[l.B].ID, err))
		}
	}
	return errors.Join(errs...)
}

// Neighbours lists, for each node, the indexes of the links it is on.
func (t *Topology) Neighbours() [][]int {
	adj := make([][]int, len(t.Nodes))
	for i, l := range t.Links {
		adj[l.A] = append(adj[l.A], i)
		adj[l.B] = append(adj[l.B], i)
	}
	return adj
}

// Other is the node at the other end of link l from node n.
func (l Link) Other(n int) int {
	if l.A == n {
		return l.B
	}
	return l.A
}

// Connected reports whether every node can reach every other.
func (t *Topology) Connected() bool {
	if len(t.Nodes) == 0 {
		return true
	}
	_, hops := t.ShortestPaths(0, nil)
	return !slices.Contains(hops, -1)
}

// Degrees is each node's number of links.
func (t *Topology) Degrees() []int {
	d := make([]int, len(t.Nodes))
	for _, l := range t.Links {
		d[l.A]++
		d[l.B]++
	}
	return d
}

// LinkIndex finds the link between nodes a and b, in either order.
func (t *Topology) LinkIndex(a, b int) (int, bool) {
	a, b = min(a, b), max(a, b)
	for i, l := range t.Links {
		if l.A == a && l.B == b {
			return i, true
		}
	}
	return -1, false
}

// NodeIndex finds a node by its GraphML id or by its number from 1 ("3"
// is node 3, Nodes[2]).
func (t *Topology) NodeIndex(name string) (int, bool) {
	for i, n := range t.Nodes {
		if n.ID == name {
			return i, true
		}
	}
	if k, err := strconv.Atoi(name); err == nil && k >= 1 && k <= len(t.Nodes) {
		return k - 1, true
	}
	return -1, false
}

// Clone is a deep copy.
func (t *Topology) Clone() *Topology {
	c := &Topology{Nodes: slices.Clone(t.Nodes), Links: slices.Clone(t.Links)}
	for i := range c.Nodes {
		c.Nodes[i].Attrs = maps.Clone(c.Nodes[i].Attrs)
	}
	for i := range c.Links {
		c.Links[i].Attrs = maps.Clone(c.Links[i].Attrs)
	}
	return c
}

// SetDefaults gives every link whose conditions are zero the conditions c,
// and every node with no thread count the count threads.
func (t *Topology) SetDefaults(c Conditions, threads int) {
	for i := range t.Links {
		if t.Links[i].Cond.IsZero() {
			t.Links[i].Cond = c
		}
	}
	for i := range t.Nodes {
		if t.Nodes[i].Threads == 0 {
			t.Nodes[i].Threads = threads
		}
	}
}

// SetNodeAttr sets a node attribute, making the map if need be.
func (t *Topology) SetNodeAttr(i int, key, value string) {
	if t.Nodes[i].Attrs == nil {
		t.Nodes[i].Attrs = map[string]string{}
	}
	t.Nodes[i].Attrs[key] = value
}

// SetLinkAttr sets a link attribute, making the map if need be.
func (t *Topology) SetLinkAttr(i int, key, value string) {
	if t.Links[i].Attrs == nil {
		t.Links[i].Attrs = map[string]string{}
	}
	t.Links[i].Attrs[key] = value
}

// Summary describes the topology in a few lines for people: the counts,
// the degree range and each node's neighbours.
func (t *Topology) Summary() string {
	var b strings.Builder
	deg := t.Degrees()
	lo, hi := 0, 0
	if len(deg) > 0 {
		lo, hi = slices.Min(deg), slices.Max(deg)
	}
	miners := 0
	for _, n := range t.Nodes {
		if n.Mine {
			miners++
		}
	}
	conds := map[string]int{}
	for _, l := range t.Links {
		conds[l.Cond.String()]++
	}
	fmt.Fprintf(&b, "topology: %d nodes (%d mine), %d links, degree %d to %d, diameter %d hops\n",
		len(t.Nodes), miners, len(t.Links), lo, hi, t.Diameter())
	for _, c := range slices.Sorted(maps.Keys(conds)) {
		fmt.Fprintf(&b, "  %d links %s\n", conds[c], c)
	}
	adj := t.Neighbours()
	for i, n := range t.Nodes {
		var ns []string
		for _, li := range adj[i] {
			ns = append(ns, strconv.Itoa(t.Links[li].Other(i)+1))
		}
		mark := " "
		if n.Mine {
			mark = "*"
		}
		fmt.Fprintf(&b, "  node %3d%s %-6s -- %s\n", i+1, mark, n.ID, strings.Join(ns, " "))
	}
	return b.String()
}

// FormatLoss writes a loss percentage as tc does ("1%", "0.5%").
func FormatLoss(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) + "%" }

// FormatRate writes bits per second in tc's units ("10mbit", "512kbit").
func FormatRate(r uint64) string {
	switch {
	case r%1_000_000_000 == 0:
		return strconv.FormatUint(r/1_000_000_000, 10) + "gbit"
	case r%1_000_000 == 0:
		return strconv.FormatUint(r/1_000_000, 10) + "mbit"
	case r%1000 == 0:
		return strconv.FormatUint(r/1000, 10) + "kbit"
	}
	return strconv.FormatUint(r, 10) + "bit"
}

// ParseRate reads a rate in tc's units (bit, kbit, mbit, gbit; also
// "kbps" etc. for bytes per second) or a bare number of bits per second.
func ParseRate(s string) (uint64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   float64
	}{
		{"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8},
		{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
	}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v*mult > 1e13 {
		return 0, fmt.Errorf("%w: rate %q", ErrCondition, s)
	}
	return uint64(v * mult), nil
}

// ParseDelay reads a delay as a Go duration ("20ms", "1.5s") or a bare
// number of milliseconds, which is what networkx writes for a number.
func ParseDelay(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if v < 0 || v > 60_000 {
			return 0, fmt.Errorf("%w: delay %q ms", ErrCondition, s)
		}
		return time.Duration(v * float64(time.Millisecond)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: delay %q: %v", ErrCondition, s, err)
	}
	return d, nil
}

// ParseLoss reads a loss percentage, "1%" or "1" (both 1 percent).
func ParseLoss(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("%w: loss %q (a percentage, 0 to 100)", ErrCondition, s)
	}
	return v, nil
}
