package lab

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGenerate: each generator gives its shape: the link count, the
// degrees, connectedness, and the same graph for the same seed.
func TestGenerate(t *testing.T) {
	tests := []struct {
		name       string
		spec       string
		n          int
		links      int // -1: not fixed
		minDeg     int
		maxDeg     int // -1: not fixed
		wantDegree func(t *testing.T, deg []int)
	}{
		{name: "full", spec: "full", n: 6, links: 15, minDeg: 5, maxDeg: 5},
		{name: "ring", spec: "ring", n: 7, links: 7, minDeg: 2, maxDeg: 2},
		{name: "ring of two", spec: "ring", n: 2, links: 1, minDeg: 1, maxDeg: 1},
		{name: "line", spec: "line", n: 5, links: 4, minDeg: 1, maxDeg: 2},
		{name: "star", spec: "star", n: 9, links: 8, minDeg: 1, maxDeg: 8},
		{name: "single", spec: "full", n: 1, links: 0, minDeg: 0, maxDeg: 0},
		{name: "random regular", spec: "random:degree=4", n: 16, links: 32, minDeg: 4, maxDeg: 4},
		{name: "random odd ends", spec: "random:degree=3", n: 9, links: 13, minDeg: 2, maxDeg: 3},
		{name: "random large", spec: "random:degree=8", n: 256, links: 1024, minDeg: 8, maxDeg: 8},
		{name: "smallworld lattice", spec: "smallworld:k=4,p=0", n: 10, links: 20, minDeg: 4, maxDeg: 4},
		{name: "smallworld rewired", spec: "smallworld:k=4,p=0.3", n: 20, links: 40, minDeg: 1, maxDeg: -1},
		{name: "scalefree", spec: "scalefree:m=2", n: 30, links: 3 + 2*27, minDeg: 2, maxDeg: -1,
			wantDegree: func(t *testing.T, deg []int) {
				// Preferential attachment grows hubs: the best-linked node
				// has far more than m.
				if slices.Max(deg) < 6 {
					t.Errorf("scale-free: the largest degree is %d, want a hub", slices.Max(deg))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top, err := Generate(tt.spec, tt.n, 7)
			if err != nil {
				t.Fatal(err)
			}
			if err := top.Validate(); err != nil {
				t.Fatal(err)
			}
			if len(top.Nodes) != tt.n {
				t.Fatalf("%d nodes, want %d", len(top.Nodes), tt.n)
			}
			if tt.links >= 0 && len(top.Links) != tt.links {
				t.Errorf("%d links, want %d", len(top.Links), tt.links)
			}
			deg := top.Degrees()
			if slices.Min(deg) < tt.minDeg || (tt.maxDeg >= 0 && slices.Max(deg) > tt.maxDeg) {
				t.Errorf("degrees %d to %d, want %d to %d", slices.Min(deg), slices.Max(deg), tt.minDeg, tt.maxDeg)
			}
			if !top.Connected() {
				t.Error("not connected")
			}
			if tt.wantDegree != nil {
				tt.wantDegree(t, deg)
			}
			again, err := Generate(tt.spec, tt.n, 7)
			if err != nil || !sameLinks(again.Links, top.Links) {
				t.Errorf("the same seed gave another graph (%v)", err)
			}
		})
	}
}

// TestGenerateSeeds: a random generator draws another graph from another
// seed.
func TestGenerateSeeds(t *testing.T) {
	for _, spec := range []string{"random:degree=4", "smallworld:k=4,p=0.5", "scalefree:m=2"} {
		a, err := Generate(spec, 24, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Generate(spec, 24, 2)
		if err != nil {
			t.Fatal(err)
		}
		if sameLinks(a.Links, b.Links) {
			t.Errorf("%s: seeds 1 and 2 gave the same graph", spec)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name, spec string
		n          int
	}{
		{"unknown", "mesh", 4},
		{"no nodes", "full", 0},
		{"too many nodes", "ring", MaxNodes + 1},
		{"missing degree", "random", 8},
		{"degree too high", "random:degree=8", 8},
		{"degree not a number", "random:degree=four", 8},
		{"unknown parameter", "random:degree=2,fanout=3", 8},
		{"parameter twice", "random:degree=2,degree=3", 8},
		{"parameter without value", "random:degree", 8},
		{"parameter on full", "full:k=2", 8},
		{"odd smallworld k", "smallworld:k=3,p=0.1", 8},
		{"smallworld p out of range", "smallworld:k=2,p=1.5", 8},
		{"scalefree m too high", "scalefree:m=8", 8},
		{"impossible random graph", "random:degree=1", 6}, // three separate pairs
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(tt.spec, tt.n, 1)
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("Generate(%q, %d) = %v, want ErrSpec", tt.spec, tt.n, err)
			}
		})
	}
}

// TestShortestPaths: the bound follows the quickest path, not the fewest
// hops, and counts that path's hops.
func TestShortestPaths(t *testing.T) {
	ms := time.Millisecond
	// 0 -100ms- 1, 0 -10ms- 2 -10ms- 3 -10ms- 1, 4 alone.
	top := &Topology{Nodes: make([]Node, 5), Links: []Link{
		{A: 0, B: 1, Cond: Conditions{Delay: 100 * ms}},
		{A: 0, B: 2, Cond: Conditions{Delay: 10 * ms}},
		{A: 2, B: 3, Cond: Conditions{Delay: 10 * ms}},
		{A: 1, B: 3, Cond: Conditions{Delay: 10 * ms}},
	}}
	dist, hops := top.ShortestPaths(0, DelayBound)
	if want := []time.Duration{0, 30 * ms, 10 * ms, 20 * ms, 0}; !slices.Equal(dist, want) {
		t.Errorf("delays %v, want %v", dist, want)
	}
	if want := []int{0, 3, 1, 2, -1}; !slices.Equal(hops, want) {
		t.Errorf("hops %v, want %v", hops, want)
	}
	if _, hops := top.ShortestPaths(0, nil); !slices.Equal(hops, []int{0, 1, 1, 2, -1}) {
		t.Errorf("plain hops %v", hops)
	}
	if top.Connected() || top.Diameter() != -1 {
		t.Error("a lone node: the topology is not connected")
	}
	ring, _ := Generate("ring", 8, 0)
	if d := ring.Diameter(); d != 4 {
		t.Errorf("ring of 8: diameter %d, want 4", d)
	}
}

// TestGraphMLNetworkx reads what networkx's write_graphml writes: typed
// keys, a key default, booleans as True/False, numbers as milliseconds.
func TestGraphMLNetworkx(t *testing.T) {
	f, err := os.Open("testdata/networkx.graphml")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read-only
	top, err := ReadGraphML(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Nodes) != 3 || len(top.Links) != 2 {
		t.Fatalf("%d nodes and %d links", len(top.Nodes), len(top.Links))
	}
	tokyo := top.Nodes[0]
	if tokyo.ID != "tokyo" || !tokyo.Mine || tokyo.Threads != 2 || tokyo.Attrs["label"] != "Tokyo" {
		t.Errorf("tokyo = %+v", tokyo)
	}
	if top.Nodes[1].Mine || top.Nodes[2].Mine {
		t.Error("only tokyo mines")
	}
	want0 := Conditions{Delay: 120500 * time.Microsecond, Loss: 0.5}
	if top.Links[0].Cond != want0 {
		t.Errorf("tokyo-paris %v, want %v", top.Links[0].Cond, want0)
	}
	// paris-lima takes the key's default delay of 10 ms.
	want1 := Conditions{Delay: 10 * time.Millisecond, Rate: 10_000_000}
	if l := top.Links[1]; l.A != 1 || l.B != 2 || l.Cond != want1 {
		t.Errorf("paris-lima %+v, want 1-2 %v", l, want1)
	}
}

// TestGraphMLRoundTrip: what WriteGraphML writes reads back the same,
// measurements included.
func TestGraphMLRoundTrip(t *testing.T) {
	top, err := Generate("random:degree=3", 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	top.SetDefaults(Conditions{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 1, Rate: 50_000_000}, 1)
	top.Nodes[0].Mine = true
	top.SetNodeAttr(0, "height", "12")
	top.SetNodeAttr(1, "tip", "00ab<&>")
	top.SetLinkAttr(0, "rtt_ms", "40.25")
	var buf bytes.Buffer
	if err := WriteGraphML(&buf, top); err != nil {
		t.Fatal(err)
	}
	written := buf.String()
	back, err := ReadGraphML(&buf)
	if err != nil {
		t.Fatalf("%v\n%s", err, written)
	}
	if len(back.Nodes) != len(top.Nodes) || len(back.Links) != len(top.Links) {
		t.Fatalf("read back %d nodes, %d links", len(back.Nodes), len(back.Links))
	}
	for i := range top.Nodes {
		a, b := top.Nodes[i], back.Nodes[i]
		if a.ID != b.ID || a.Mine != b.Mine || a.Threads != b.Threads || len(a.Attrs) != len(b.Attrs) {
			t.Errorf("node %d: wrote %+v, read %+v", i, a, b)
		}
		for k, v := range a.Attrs {
			if b.Attrs[k] != v {
				t.Errorf("node %d: %s = %q, read %q", i, k, v, b.Attrs[k])
			}
		}
	}
	for i := range top.Links {
		a, b := top.Links[i], back.Links[i]
		if a.A != b.A || a.B != b.B || a.Cond != b.Cond || a.Attrs["rtt_ms"] != b.Attrs["rtt_ms"] {
			t.Errorf("link %d: wrote %+v, read %+v", i, a, b)
		}
	}
	if !strings.Contains(written, `attr.name="rtt_ms" attr.type="double"`) ||
		!strings.Contains(written, `attr.name="tip" attr.type="string"`) {
		t.Errorf("measurement keys not typed:\n%s", written)
	}
}

// TestGraphMLHostile: documents that are not topologies fail with
// ErrTopology, and a huge one is refused before it is parsed.
func TestGraphMLHostile(t *testing.T) {
	head := `<graphml><key id="d0" for="edge" attr.name="delay"/><key id="m" for="node" attr.name="mine"/><graph edgedefault="undirected">`
	tests := []struct{ name, doc string }{
		{"not xml", "<graphml><graph>"},
		{"no graph", "<graphml></graphml>"},
		{"no nodes", head + `</graph></graphml>`},
		{"duplicate node", head + `<node id="a"/><node id="a"/></graph></graphml>`},
		{"empty id", head + `<node id=""/></graph></graphml>`},
		{"unknown endpoint", head + `<node id="a"/><edge source="a" target="b"/></graph></graphml>`},
		{"self-loop", head + `<node id="a"/><edge source="a" target="a"/></graph></graphml>`},
		{"edge twice", head + `<node id="a"/><node id="b"/><edge source="a" target="b"/><edge source="b" target="a"/></graph></graphml>`},
		{"undeclared key", head + `<node id="a"><data key="zz">1</data></node></graph></graphml>`},
		{"bad delay", head + `<node id="a"/><node id="b"/><edge source="a" target="b"><data key="d0">soon</data></edge></graph></graphml>`},
		{"negative delay", head + `<node id="a"/><node id="b"/><edge source="a" target="b"><data key="d0">-5</data></edge></graph></graphml>`},
		{"bad mine", head + `<node id="a"><data key="m">perhaps</data></node></graph></graphml>`},
		{"too large", head + strings.Repeat(" ", MaxGraphMLBytes) + `</graph></graphml>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadGraphML(strings.NewReader(tt.doc)); !errors.Is(err, ErrTopology) && !errors.Is(err, ErrCondition) {
				t.Fatalf("ReadGraphML = %v, want ErrTopology or ErrCondition", err)
			}
		})
	}
}

func TestConditions(t *testing.T) {
	ms := time.Millisecond
	c := Conditions{Delay: 20 * ms, Jitter: 5 * ms, Loss: 1, Rate: 10_000_000}
	if got := c.String(); got != "20ms±5ms loss 1% rate 10mbit" {
		t.Errorf("String = %q", got)
	}
	bad := []Conditions{
		{Delay: -ms}, {Delay: ms, Jitter: 2 * ms}, {Loss: 101}, {Rate: 100}, {Delay: 2 * time.Minute},
	}
	for _, b := range bad {
		if err := b.Validate(); !errors.Is(err, ErrCondition) {
			t.Errorf("Validate(%+v) = %v", b, err)
		}
	}
	for s, want := range map[string]uint64{"10mbit": 10e6, "1gbit": 1e9, "512kbit": 512e3, "100kbps": 800e3, "64000": 64000} {
		if got, err := ParseRate(s); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", s, got, err, want)
		}
		if got, _ := ParseRate(FormatRate(want)); got != want {
			t.Errorf("FormatRate(%d) = %q does not read back", want, FormatRate(want))
		}
	}
	for s, want := range map[string]time.Duration{"20ms": 20 * ms, "20": 20 * ms, "0.5": 500 * time.Microsecond, "1.5s": 1500 * ms} {
		if got, err := ParseDelay(s); err != nil || got != want {
			t.Errorf("ParseDelay(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}

// sameLinks compares links by their ends and conditions.
func sameLinks(a, b []Link) bool {
	return slices.EqualFunc(a, b, func(x, y Link) bool { return x.A == y.A && x.B == y.B && x.Cond == y.Cond })
}
