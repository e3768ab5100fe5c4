package lab

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Scenario limits: a file is read up to MaxScenarioBytes, holds at most
// MaxScenarioEvents events at most MaxScenarioTime from the start, and
// asks for at most MaxPayments payments in all.
const (
	MaxScenarioBytes  = 1 << 20
	MaxScenarioEvents = 10_000
	MaxScenarioTime   = 24 * time.Hour
	MaxPayments       = 10_000
)

// ErrScenario: a scenario file that cannot be read or does not fit the
// topology.
var ErrScenario = errors.New("lab: bad scenario")

// The actions of a scenario event.
const (
	DoPartition  = "partition"   // cut links: between groups of nodes, or the links named
	DoHeal       = "heal"        // restore links cut (all, or those named or touching the nodes named)
	DoKill       = "kill"        // SIGKILL nodes
	DoRestart    = "restart"     // start killed nodes again on their data directories
	DoLink       = "link"        // change links' conditions
	DoMine       = "mine"        // start mining on nodes
	DoStopMining = "stop-mining" // stop mining on nodes
	DoPay        = "pay"         // send Count payments
)

// Scenario is a timed list of events to play on a lab's network.
type Scenario struct {
	Duration time.Duration // how long the run lasts (0: as long as the lab is told)
	Events   []Action      // in order of At
}

// Action is one scenario event, with node and link names resolved to
// indexes into the topology.
type Action struct {
	At     time.Duration
	Do     string
	Nodes  []int   // kill, restart, mine, stop-mining, heal; partition: one side
	Groups [][]int // partition: the sides (a node in none is on a side of its own with the others in none)
	Links  []int   // partition, heal, link
	// OneWay: a partition drops only what the first group (or each named
	// link's first-named end) sends to the others.
	OneWay bool
	From   []int      // the first-named end of each of Links, for OneWay
	Cond   Conditions // link: the new conditions
	Count  int        // pay: how many payments
	Payer  int        // pay: who pays (-1: any node with coins)
	Payee  int        // pay: who is paid (-1: a random other node)
}

// String describes the action for people.
func (a Action) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", a.Do)
	names := func(ns []int) string {
		var s []string
		for _, n := range ns {
			s = append(s, strconv.Itoa(n+1))
		}
		return strings.Join(s, ",")
	}
	if len(a.Groups) > 0 {
		var gs []string
		for _, g := range a.Groups {
			gs = append(gs, names(g))
		}
		fmt.Fprintf(&b, " %s", strings.Join(gs, " | "))
	}
	if len(a.Nodes) > 0 {
		fmt.Fprintf(&b, " nodes %s", names(a.Nodes))
	}
	if len(a.Links) > 0 {
		fmt.Fprintf(&b, " %d links", len(a.Links))
	}
	if a.OneWay {
		b.WriteString(" one way")
	}
	if a.Do == DoLink {
		fmt.Fprintf(&b, " to %s", a.Cond)
	}
	if a.Do == DoPay {
		fmt.Fprintf(&b, " %d", a.Count)
		if a.Payer >= 0 {
			fmt.Fprintf(&b, " from %d", a.Payer+1)
		}
		if a.Payee >= 0 {
			fmt.Fprintf(&b, " to %d", a.Payee+1)
		}
	}
	return b.String()
}

// rawScenario is the TOML file:
//
//	duration = "90s"
//	[[event]]
//	at = "10s"
//	do = "partition"
//	groups = [["1-8"], ["9-16"]]
type rawScenario struct {
	Duration string     `toml:"duration"`
	Event    []rawEvent `toml:"event"`
}

type rawEvent struct {
	At     string  `toml:"at"`
	Do     string  `toml:"do"`
	Node   any     `toml:"node"`
	Nodes  []any   `toml:"nodes"`
	Groups [][]any `toml:"groups"`
	Links  []any   `toml:"links"`
	OneWay bool    `toml:"one_way"`
	Delay  any     `toml:"delay"`
	Jitter any     `toml:"jitter"`
	Loss   any     `toml:"loss"`
	Rate   any     `toml:"rate"`
	Count  int     `toml:"count"`
	From   any     `toml:"from"`
	To     any     `toml:"to"`
}

// ReadScenario reads a TOML scenario for topology top: a duration and a
// list of [[event]] tables, each with at (a duration from the start), do
// (one of the Do constants) and what it needs. Nodes are named by number
// from 1, by GraphML id or by a range "1-8"; links as "A-B" of two node
// names. Unknown keys are errors, so a typo does not pass unnoticed.
func ReadScenario(r io.Reader, top *Topology) (*Scenario, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxScenarioBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScenario, err)
	}
	if len(data) > MaxScenarioBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrScenario, MaxScenarioBytes)
	}
	var raw rawScenario
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScenario, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%w: unknown key %s", ErrScenario, und[0])
	}
	if len(raw.Event) > MaxScenarioEvents {
		return nil, fmt.Errorf("%w: %d events, at most %d", ErrScenario, len(raw.Event), MaxScenarioEvents)
	}
	s := &Scenario{}
	if raw.Duration != "" {
		if s.Duration, err = time.ParseDuration(raw.Duration); err != nil || s.Duration <= 0 || s.Duration > MaxScenarioTime {
			return nil, fmt.Errorf("%w: duration %q", ErrScenario, raw.Duration)
		}
	}
	res := resolver{top: top}
	payments := 0
	for i, re := range raw.Event {
		a, err := res.action(re)
		if err != nil {
			return nil, fmt.Errorf("%w: event %d (%s at %s): %v", ErrScenario, i+1, re.Do, re.At, err)
		}
		if s.Duration > 0 && a.At > s.Duration {
			return nil, fmt.Errorf("%w: event %d at %v is after the scenario's end at %v", ErrScenario, i+1, a.At, s.Duration)
		}
		payments += a.Count
		s.Events = append(s.Events, a)
	}
	if payments > MaxPayments {
		return nil, fmt.Errorf("%w: %d payments, at most %d", ErrScenario, payments, MaxPayments)
	}
	slices.SortStableFunc(s.Events, func(a, b Action) int { return int(a.At - b.At) })
	return s, nil
}

// NeedsLinks reports whether the scenario changes links (which only a
// Network that is a LinkControl can do).
func (s *Scenario) NeedsLinks() bool {
	for _, a := range s.Events {
		if a.Do == DoPartition || a.Do == DoHeal || a.Do == DoLink {
			return true
		}
	}
	return false
}

// Payments is how many payments the scenario sends.
func (s *Scenario) Payments() int {
	n := 0
	for _, a := range s.Events {
		n += a.Count
	}
	return n
}

type resolver struct{ top *Topology }

func (r resolver) action(re rawEvent) (Action, error) {
	a := Action{Do: re.Do, OneWay: re.OneWay, Payer: -1, Payee: -1}
	var err error
	if a.At, err = time.ParseDuration(re.At); err != nil || a.At < 0 || a.At > MaxScenarioTime {
		return a, fmt.Errorf("at = %q: want a duration from the start, such as \"30s\"", re.At)
	}
	if re.Node != nil {
		re.Nodes = append(re.Nodes, re.Node)
	}
	if a.Nodes, err = r.nodes(re.Nodes); err != nil {
		return a, err
	}
	for _, g := range re.Groups {
		ns, err := r.nodes(g)
		if err != nil {
			return a, err
		}
		a.Groups = append(a.Groups, ns)
	}
	for _, l := range re.Links {
		k, from, err := r.link(fmt.Sprint(l))
		if err != nil {
			return a, err
		}
		a.Links, a.From = append(a.Links, k), append(a.From, from)
	}
	cond := re.Delay != nil || re.Jitter != nil || re.Loss != nil || re.Rate != nil
	has := func(what ...bool) error {
		names := []string{"nodes", "groups", "links", "conditions", "count/from/to"}
		given := []bool{len(a.Nodes) > 0, len(a.Groups) > 0, len(a.Links) > 0, cond, re.Count != 0 || re.From != nil || re.To != nil}
		for i := range given {
			if given[i] && !what[i] {
				return fmt.Errorf("%s does not take %s", a.Do, names[i])
			}
		}
		return nil
	}
	switch a.Do {
	case DoPartition:
		err = has(true, true, true, false, false)
		if err == nil {
			err = r.partition(&a)
		}
	case DoHeal:
		err = has(true, false, true, false, false)
	case DoKill, DoRestart, DoMine, DoStopMining:
		err = has(true, false, false, false, false)
		if err == nil && len(a.Nodes) == 0 {
			err = fmt.Errorf("%s needs node or nodes", a.Do)
		}
	case DoLink:
		err = has(false, false, true, true, false)
		if err == nil && len(a.Links) == 0 {
			err = errors.New("link needs links")
		}
		if err == nil {
			a.Cond, err = conditionsOf(re)
		}
	case DoPay:
		err = has(false, false, false, false, true)
		a.Count = re.Count
		if err == nil && (a.Count < 1 || a.Count > MaxPayments) {
			err = fmt.Errorf("count = %d: want 1 to %d", a.Count, MaxPayments)
		}
		for _, p := range []struct {
			v   any
			dst *int
		}{{re.From, &a.Payer}, {re.To, &a.Payee}} {
			if err == nil && p.v != nil {
				var ns []int
				if ns, err = r.nodes([]any{p.v}); err == nil && len(ns) != 1 {
					err = fmt.Errorf("pay names one node for from and to, not %d", len(ns))
				}
				if err == nil {
					*p.dst = ns[0]
				}
			}
		}
		if err == nil && a.Payer >= 0 && a.Payer == a.Payee {
			err = errors.New("a node paying itself")
		}
	default:
		err = fmt.Errorf("do = %q: want one of %s", a.Do, strings.Join([]string{DoPartition, DoHeal, DoKill, DoRestart, DoLink, DoMine, DoStopMining, DoPay}, ", "))
	}
	return a, err
}

// partition checks the sides: nodes alone is one side against the rest;
// groups must not overlap.
func (r resolver) partition(a *Action) error {
	if len(a.Links) > 0 {
		if len(a.Nodes) > 0 || len(a.Groups) > 0 {
			return errors.New("partition takes links, or nodes or groups, not both")
		}
		return nil
	}
	if len(a.Nodes) > 0 {
		if len(a.Groups) > 0 {
			return errors.New("partition takes nodes (one side) or groups, not both")
		}
		a.Groups, a.Nodes = [][]int{a.Nodes}, nil
	}
	if len(a.Groups) == 0 {
		return errors.New("partition needs nodes, groups or links")
	}
	seen := map[int]bool{}
	for _, g := range a.Groups {
		for _, n := range g {
			if seen[n] {
				return fmt.Errorf("node %d is in two groups", n+1)
			}
			seen[n] = true
		}
	}
	if len(a.Groups) == 1 && len(seen) == len(r.top.Nodes) {
		return errors.New("a partition of one group holding every node cuts nothing")
	}
	return nil
}

// nodes resolves node names: numbers from 1, GraphML ids, ranges "A-B".
func (r resolver) nodes(names []any) ([]int, error) {
	var out []int
	for _, v := range names {
		switch x := v.(type) {
		case int64:
			if x < 1 || x > int64(len(r.top.Nodes)) {
				return nil, fmt.Errorf("no node %d (nodes are 1 to %d)", x, len(r.top.Nodes))
			}
			out = append(out, int(x-1))
		case string:
			if i, ok := r.top.NodeIndex(x); ok {
				out = append(out, i)
				continue
			}
			lo, hi, ok := strings.Cut(x, "-")
			a, okA := r.top.NodeIndex(lo)
			b, okB := r.top.NodeIndex(hi)
			if !ok || !okA || !okB || a > b {
				return nil, fmt.Errorf("no node %q", x)
			}
			for i := a; i <= b; i++ {
				out = append(out, i)
			}
		default:
			return nil, fmt.Errorf("a node is a number or a name, not %v", v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// link resolves "A-B" to a link index and the first-named end.
func (r resolver) link(s string) (k, from int, err error) {
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			continue
		}
		a, okA := r.top.NodeIndex(s[:i])
		b, okB := r.top.NodeIndex(s[i+1:])
		if okA && okB {
			if k, ok := r.top.LinkIndex(a, b); ok {
				return k, a, nil
			}
			return 0, 0, fmt.Errorf("no link between nodes %d and %d", a+1, b+1)
		}
	}
	return 0, 0, fmt.Errorf("link %q: want A-B, two node names", s)
}

func conditionsOf(re rawEvent) (Conditions, error) {
	a := map[string]string{}
	for name, v := range map[string]any{"delay": re.Delay, "jitter": re.Jitter, "loss": re.Loss, "rate": re.Rate} {
		if v != nil {
			a[name] = fmt.Sprint(v)
		}
	}
	return takeConditions(a)
}

// CutLinks lists the links a partition action cuts, each with the node
// whose packets it drops (-1: both ways).
func (a Action) CutLinks(top *Topology) (links, from []int) {
	if len(a.Links) > 0 {
		for i, k := range a.Links {
			f := -1
			if a.OneWay {
				f = a.From[i]
			}
			links, from = append(links, k), append(from, f)
		}
		return links, from
	}
	side := make([]int, len(top.Nodes))
	for i := range side {
		side[i] = len(a.Groups) // nodes in no group: one more side
	}
	for g, ns := range a.Groups {
		for _, n := range ns {
			side[n] = g
		}
	}
	for k, l := range top.Links {
		if side[l.A] == side[l.B] {
			continue
		}
		f := -1
		if a.OneWay {
			switch {
			case side[l.A] == 0:
				f = l.A
			case side[l.B] == 0:
				f = l.B
			default:
				continue // one way: only what the first group sends
			}
		}
		links, from = append(links, k), append(from, f)
	}
	return links, from
}
