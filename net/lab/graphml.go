package lab

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxGraphMLBytes bounds a GraphML file read by [ReadGraphML].
const MaxGraphMLBytes = 16 << 20

// ErrGraphML: a GraphML document that cannot be read as a topology. It
// wraps ErrTopology.
var ErrGraphML = fmt.Errorf("%w: graphml", ErrTopology)

// The GraphML elements Renga reads and writes (graphml.graphdrawing.org):
// keys declare attributes by name and type, then nodes and edges carry
// <data key=...> values. networkx's write_graphml and Gephi write this.
type gmlDoc struct {
	XMLName xml.Name   `xml:"graphml"`
	XMLNS   string     `xml:"xmlns,attr,omitempty"`
	Keys    []gmlKey   `xml:"key"`
	Graphs  []gmlGraph `xml:"graph"`
}

type gmlKey struct {
	ID      string  `xml:"id,attr"`
	For     string  `xml:"for,attr"`
	Name    string  `xml:"attr.name,attr"`
	Type    string  `xml:"attr.type,attr,omitempty"`
	Default *string `xml:"default"`
}

type gmlGraph struct {
	ID          string    `xml:"id,attr,omitempty"`
	EdgeDefault string    `xml:"edgedefault,attr"`
	Nodes       []gmlNode `xml:"node"`
	Edges       []gmlEdge `xml:"edge"`
}

type gmlNode struct {
	ID   string    `xml:"id,attr"`
	Data []gmlData `xml:"data"`
}

type gmlEdge struct {
	ID     string    `xml:"id,attr,omitempty"`
	Source string    `xml:"source,attr"`
	Target string    `xml:"target,attr"`
	Data   []gmlData `xml:"data"`
}

type gmlData struct {
	Key   string `xml:"key,attr"`
	Value string `xml:",chardata"`
}

// ReadGraphML reads a topology from a GraphML document's first graph. Node
// attributes mine (boolean) and threads (integer), and edge attributes
// delay and jitter (a Go duration such as "20ms", or a number of
// milliseconds), loss (a percentage) and rate (tc units such as "10mbit",
// or a number of bits per second) set the nodes and links; every other
// attribute is kept in Attrs. Key defaults apply. Edges are links whatever
// edgedefault says (a link carries traffic both ways); an edge given twice,
// in either direction, or a self-loop is an error. At most MaxGraphMLBytes
// are read.
func ReadGraphML(r io.Reader) (*Topology, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxGraphMLBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGraphML, err)
	}
	if len(data) > MaxGraphMLBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrGraphML, MaxGraphMLBytes)
	}
	var doc gmlDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGraphML, err)
	}
	if len(doc.Graphs) == 0 {
		return nil, fmt.Errorf("%w: no <graph>", ErrGraphML)
	}
	g := doc.Graphs[0]
	if len(g.Nodes) > MaxNodes || len(g.Edges) > MaxLinks {
		return nil, fmt.Errorf("%w: %d nodes and %d edges, at most %d and %d", ErrGraphML, len(g.Nodes), len(g.Edges), MaxNodes, MaxLinks)
	}
	type keyInfo struct{ name, def string }
	nodeKeys, edgeKeys := map[string]keyInfo{}, map[string]keyInfo{}
	for _, k := range doc.Keys {
		info := keyInfo{name: k.Name}
		if info.name == "" {
			info.name = k.ID
		}
		if k.Default != nil {
			info.def = strings.TrimSpace(*k.Default)
		}
		switch k.For {
		case "node":
			nodeKeys[k.ID] = info
		case "edge":
			edgeKeys[k.ID] = info
		case "all", "":
			nodeKeys[k.ID], edgeKeys[k.ID] = info, info
		}
	}
	// attrs resolves an element's data against the keys: defaults first,
	// then its own values.
	attrs := func(keys map[string]keyInfo, data []gmlData) (map[string]string, error) {
		out := map[string]string{}
		for _, k := range keys {
			if k.def != "" {
				out[k.name] = k.def
			}
		}
		for _, d := range data {
			k, ok := keys[d.Key]
			if !ok {
				return nil, fmt.Errorf("%w: data for undeclared key %q", ErrGraphML, d.Key)
			}
			out[k.name] = strings.TrimSpace(d.Value)
		}
		return out, nil
	}
	t := &Topology{}
	index := map[string]int{}
	for _, gn := range g.Nodes {
		if _, dup := index[gn.ID]; dup || gn.ID == "" {
			return nil, fmt.Errorf("%w: node id %q empty or given twice", ErrGraphML, gn.ID)
		}
		a, err := attrs(nodeKeys, gn.Data)
		if err != nil {
			return nil, err
		}
		n := Node{ID: gn.ID}
		if v, ok := a["mine"]; ok {
			if n.Mine, err = parseBool(v); err != nil {
				return nil, fmt.Errorf("%w: node %s: mine=%q", ErrGraphML, gn.ID, v)
			}
			delete(a, "mine")
		}
		if v, ok := a["threads"]; ok {
			if n.Threads, err = strconv.Atoi(v); err != nil || n.Threads < 0 || n.Threads > 1024 {
				return nil, fmt.Errorf("%w: node %s: threads=%q", ErrGraphML, gn.ID, v)
			}
			delete(a, "threads")
		}
		if len(a) > 0 {
			n.Attrs = a
		}
		index[gn.ID] = len(t.Nodes)
		t.Nodes = append(t.Nodes, n)
	}
	for _, ge := range g.Edges {
		ai, okA := index[ge.Source]
		bi, okB := index[ge.Target]
		if !okA || !okB {
			return nil, fmt.Errorf("%w: edge %s-%s: no such node", ErrGraphML, ge.Source, ge.Target)
		}
		if ai == bi {
			return nil, fmt.Errorf("%w: edge %s-%s: a self-loop", ErrGraphML, ge.Source, ge.Target)
		}
		a, err := attrs(edgeKeys, ge.Data)
		if err != nil {
			return nil, err
		}
		l := Link{A: min(ai, bi), B: max(ai, bi)}
		if l.Cond, err = takeConditions(a); err != nil {
			return nil, fmt.Errorf("edge %s-%s: %w", ge.Source, ge.Target, err)
		}
		if len(a) > 0 {
			l.Attrs = a
		}
		t.Links = append(t.Links, l)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// takeConditions reads (and removes) delay, jitter, loss and rate from a.
func takeConditions(a map[string]string) (Conditions, error) {
	var c Conditions
	var errs []error
	if v, ok := a["delay"]; ok {
		d, err := ParseDelay(v)
		c.Delay, errs = d, append(errs, err)
		delete(a, "delay")
	}
	if v, ok := a["jitter"]; ok {
		d, err := ParseDelay(v)
		c.Jitter, errs = d, append(errs, err)
		delete(a, "jitter")
	}
	if v, ok := a["loss"]; ok {
		p, err := ParseLoss(v)
		c.Loss, errs = p, append(errs, err)
		delete(a, "loss")
	}
	if v, ok := a["rate"]; ok {
		r, err := ParseRate(v)
		c.Rate, errs = r, append(errs, err)
		delete(a, "rate")
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no", "":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", s)
}

// WriteGraphML writes the topology as GraphML that networkx, Gephi and
// ReadGraphML read: mine and threads on nodes; delay and jitter in
// milliseconds, loss in percent and rate in bits per second on edges (as
// numbers, which Gephi can size and colour by); and every attribute in
// Attrs, typed double when all its values are numbers and string
// otherwise.
func WriteGraphML(w io.Writer, t *Topology) error {
	doc := gmlDoc{XMLNS: "http://graphml.graphdrawing.org/xmlns"}
	type keyDef struct{ id, typ string }
	nodeKeys, edgeKeys := map[string]keyDef{}, map[string]keyDef{}
	declare := func(keys map[string]keyDef, for_, name, typ string) string {
		if k, ok := keys[name]; ok {
			return k.id
		}
		id := "d" + strconv.Itoa(len(doc.Keys))
		keys[name] = keyDef{id: id, typ: typ}
		doc.Keys = append(doc.Keys, gmlKey{ID: id, For: for_, Name: name, Type: typ})
		return id
	}
	declare(nodeKeys, "node", "mine", "boolean")
	declare(nodeKeys, "node", "threads", "int")
	for _, name := range []string{"delay", "jitter", "loss"} {
		declare(edgeKeys, "edge", name, "double")
	}
	declare(edgeKeys, "edge", "rate", "long")
	for _, name := range attrNames(t, true) {
		declare(nodeKeys, "node", name, attrType(t, true, name))
	}
	for _, name := range attrNames(t, false) {
		declare(edgeKeys, "edge", name, attrType(t, false, name))
	}
	g := gmlGraph{ID: "renga", EdgeDefault: "undirected"}
	for _, n := range t.Nodes {
		gn := gmlNode{ID: n.ID}
		gn.Data = append(gn.Data, gmlData{nodeKeys["mine"].id, strconv.FormatBool(n.Mine)})
		if n.Threads > 0 {
			gn.Data = append(gn.Data, gmlData{nodeKeys["threads"].id, strconv.Itoa(n.Threads)})
		}
		for _, k := range slices.Sorted(maps.Keys(n.Attrs)) {
			if reserved[k] {
				continue
			}
			gn.Data = append(gn.Data, gmlData{nodeKeys[k].id, n.Attrs[k]})
		}
		g.Nodes = append(g.Nodes, gn)
	}
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', -1, 64) }
	for i, l := range t.Links {
		ge := gmlEdge{ID: "e" + strconv.Itoa(i), Source: t.Nodes[l.A].ID, Target: t.Nodes[l.B].ID}
		ge.Data = append(ge.Data, gmlData{edgeKeys["delay"].id, ms(l.Cond.Delay)})
		if l.Cond.Jitter > 0 {
			ge.Data = append(ge.Data, gmlData{edgeKeys["jitter"].id, ms(l.Cond.Jitter)})
		}
		if l.Cond.Loss > 0 {
			ge.Data = append(ge.Data, gmlData{edgeKeys["loss"].id, strconv.FormatFloat(l.Cond.Loss, 'f', -1, 64)})
		}
		if l.Cond.Rate > 0 {
			ge.Data = append(ge.Data, gmlData{edgeKeys["rate"].id, strconv.FormatUint(l.Cond.Rate, 10)})
		}
		for _, k := range slices.Sorted(maps.Keys(l.Attrs)) {
			if reserved[k] {
				continue
			}
			ge.Data = append(ge.Data, gmlData{edgeKeys[k].id, l.Attrs[k]})
		}
		g.Edges = append(g.Edges, ge)
	}
	doc.Graphs = []gmlGraph{g}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// reserved are the attribute names that have fields of their own.
var reserved = map[string]bool{"mine": true, "threads": true, "delay": true, "jitter": true, "loss": true, "rate": true}

func attrNames(t *Topology, nodes bool) []string {
	set := map[string]bool{}
	if nodes {
		for _, n := range t.Nodes {
			for k := range n.Attrs {
				set[k] = !reserved[k]
			}
		}
	} else {
		for _, l := range t.Links {
			for k := range l.Attrs {
				set[k] = !reserved[k]
			}
		}
	}
	var out []string
	for k, ok := range set {
		if ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func attrType(t *Topology, nodes bool, name string) string {
	numeric := func(attrs map[string]string) bool {
		v, ok := attrs[name]
		if !ok {
			return true
		}
		_, err := strconv.ParseFloat(v, 64)
		return err == nil
	}
	if nodes {
		for _, n := range t.Nodes {
			if !numeric(n.Attrs) {
				return "string"
			}
		}
	} else {
		for _, l := range t.Links {
			if !numeric(l.Attrs) {
				return "string"
			}
		}
	}
	return "double"
}
