package lab

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// ErrSpec: a generator specification that cannot be read or built.
var ErrSpec = errors.New("lab: bad topology spec")

// Generators names the built-in topology generators and their parameters,
// for help texts.
const Generators = "full, ring, line, star, random:degree=K, smallworld:k=K,p=P, scalefree:m=M"

// maxTries bounds the attempts of the random generators to draw a
// connected graph before they give up.
const maxTries = 200

// Generate builds an n-node topology from a generator spec (see
// [Generators]): full (every pair), ring, line, star (node 1 the hub),
// random:degree=K (a random K-regular graph, drawn connected), smallworld
// (Watts–Strogatz: a ring where each node links to its K nearest, each link
// rewired with probability P) and scalefree (Barabási–Albert: each new node
// links to M earlier ones, preferring those with more links). The random
// ones draw from seed, so a spec, n and seed always give the same graph.
// Nodes are named n0 .. n(N-1) and links are plain (see
// [Topology.SetDefaults]).
func Generate(spec string, n int, seed uint64) (*Topology, error) {
	if n < 1 || n > MaxNodes {
		return nil, fmt.Errorf("%w: %d nodes, want 1 to %d", ErrSpec, n, MaxNodes)
	}
	name, params, err := parseSpec(spec)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x72656e6761)) // "renga": a fixed stream per seed
	var pairs [][2]int
	switch name {
	case "full":
		err = params.only()
		for a := range n {
			for b := a + 1; b < n; b++ {
				pairs = append(pairs, [2]int{a, b})
			}
		}
	case "line", "ring":
		err = params.only()
		for a := 0; a+1 < n; a++ {
			pairs = append(pairs, [2]int{a, a + 1})
		}
		if name == "ring" && n > 2 {
			pairs = append(pairs, [2]int{0, n - 1})
		}
	case "star":
		err = params.only()
		for b := 1; b < n; b++ {
			pairs = append(pairs, [2]int{0, b})
		}
	case "random":
		var k int
		if k, err = params.int("degree", 1, n-1); err == nil {
			err = params.only("degree")
		}
		if err == nil {
			pairs, err = randomRegular(n, k, rng)
		}
	case "smallworld":
		var k int
		var p float64
		k, err = params.int("k", 2, n-1)
		if err == nil {
			p, err = params.float("p", 0, 1)
		}
		if err == nil {
			err = params.only("k", "p")
		}
		if err == nil && k%2 != 0 {
			err = fmt.Errorf("%w: smallworld k=%d: k must be even (k/2 neighbours each side)", ErrSpec, k)
		}
		if err == nil {
			pairs, err = smallWorld(n, k, p, rng)
		}
	case "scalefree":
		var m int
		if m, err = params.int("m", 1, n-1); err == nil {
			err = params.only("m")
		}
		if err == nil {
			pairs = scaleFree(n, m, rng)
		}
	default:
		err = fmt.Errorf("%w: unknown generator %q (want one of %s)", ErrSpec, name, Generators)
	}
	if err != nil {
		return nil, err
	}
	t := &Topology{Nodes: make([]Node, n)}
	for i := range t.Nodes {
		t.Nodes[i].ID = "n" + strconv.Itoa(i)
	}
	slices.SortFunc(pairs, func(x, y [2]int) int {
		if x[0] != y[0] {
			return x[0] - y[0]
		}
		return x[1] - y[1]
	})
	for _, p := range pairs {
		t.Links = append(t.Links, Link{A: p[0], B: p[1]})
	}
	if len(t.Links) > MaxLinks {
		return nil, fmt.Errorf("%w: %s on %d nodes makes %d links, at most %d", ErrSpec, name, n, len(t.Links), MaxLinks)
	}
	return t, nil
}

// specParams are a spec's key=value parameters.
type specParams map[string]string

func parseSpec(spec string) (string, specParams, error) {
	name, rest, _ := strings.Cut(strings.TrimSpace(spec), ":")
	params := specParams{}
	if rest == "" {
		return name, params, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return "", nil, fmt.Errorf("%w: %q: parameters are key=value, comma-separated", ErrSpec, spec)
		}
		if _, dup := params[k]; dup {
			return "", nil, fmt.Errorf("%w: %q: %s given twice", ErrSpec, spec, k)
		}
		params[k] = v
	}
	return name, params, nil
}

func (p specParams) int(key string, lo, hi int) (int, error) {
	s, ok := p[key]
	if !ok {
		return 0, fmt.Errorf("%w: missing %s=", ErrSpec, key)
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%w: %s=%s: want an integer from %d to %d", ErrSpec, key, s, lo, hi)
	}
	return v, nil
}

func (p specParams) float(key string, lo, hi float64) (float64, error) {
	s, ok := p[key]
	if !ok {
		return 0, fmt.Errorf("%w: missing %s=", ErrSpec, key)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%w: %s=%s: want a number from %g to %g", ErrSpec, key, s, lo, hi)
	}
	return v, nil
}

// only fails if p has a key other than those given.
func (p specParams) only(keys ...string) error {
	for k := range p {
		if !slices.Contains(keys, k) {
			return fmt.Errorf("%w: unknown parameter %q", ErrSpec, k)
		}
	}
	return nil
}

// edgeSet tracks the pairs drawn so far.
type edgeSet map[[2]int]bool

func (s edgeSet) add(a, b int) bool {
	if a == b {
		return false
	}
	k := [2]int{min(a, b), max(a, b)}
	if s[k] {
		return false
	}
	s[k] = true
	return true
}

func (s edgeSet) pairs() [][2]int {
	out := make([][2]int, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	return out
}

func connectedPairs(n int, pairs [][2]int) bool {
	t := &Topology{Nodes: make([]Node, n)}
	for _, p := range pairs {
		t.Links = append(t.Links, Link{A: p[0], B: p[1]})
	}
	return t.Connected()
}

// randomRegular draws a connected random graph where every node has k
// links, by pairing the n·k link ends at random and starting again on a
// self-loop, a double link or a disconnected result. When n·k is odd one
// node has k-1 links.
func randomRegular(n, k int, rng *rand.Rand) ([][2]int, error) {
	for range maxTries {
		ends := make([]int, 0, n*k)
		for i := range n {
			for range k {
				ends = append(ends, i)
			}
		}
		if len(ends)%2 == 1 {
			ends = ends[:len(ends)-1]
		}
		set := edgeSet{}
		ok := true
		// Pair ends at random, drawing among those that still fit so that
		// a dead end (only self-loops or doubles left) is rare.
		for len(ends) > 0 && ok {
			i := rng.IntN(len(ends))
			ends[i], ends[len(ends)-1] = ends[len(ends)-1], ends[i]
			a := ends[len(ends)-1]
			ends = ends[:len(ends)-1]
			ok = false
			for range 50 {
				j := rng.IntN(len(ends))
				if set.add(a, ends[j]) {
					ends[j], ends[len(ends)-1] = ends[len(ends)-1], ends[j]
					ends = ends[:len(ends)-1]
					ok = true
					break
				}
			}
		}
		if ok && connectedPairs(n, set.pairs()) {
			return set.pairs(), nil
		}
	}
	return nil, fmt.Errorf("%w: no connected random:degree=%d graph on %d nodes in %d tries", ErrSpec, k, n, maxTries)
}

// smallWorld is Watts–Strogatz: each node linked to its k/2 nearest on each
// side of a ring, then each link's far end moved to a random node with
// probability p (never a self-loop or a double link), drawn until connected.
func smallWorld(n, k int, p float64, rng *rand.Rand) ([][2]int, error) {
	for range maxTries {
		set := edgeSet{}
		for a := range n {
			for j := 1; j <= k/2; j++ {
				set.add(a, (a+j)%n)
			}
		}
		lattice := set.pairs()
		slices.SortFunc(lattice, func(x, y [2]int) int {
			if x[0] != y[0] {
				return x[0] - y[0]
			}
			return x[1] - y[1]
		})
		for _, e := range lattice {
			if rng.Float64() >= p {
				continue
			}
			for range 20 {
				c := rng.IntN(n)
				if c != e[0] && !set[[2]int{min(e[0], c), max(e[0], c)}] {
					delete(set, e)
					set.add(e[0], c)
					break
				}
			}
		}
		if pairs := set.pairs(); connectedPairs(n, pairs) {
			return pairs, nil
		}
	}
	return nil, fmt.Errorf("%w: no connected smallworld graph in %d tries", ErrSpec, maxTries)
}

// scaleFree is Barabási–Albert: the first m+1 nodes fully linked, then each
// new node linked to m distinct earlier nodes drawn with probability
// proportional to their links. Always connected.
func scaleFree(n, m int, rng *rand.Rand) [][2]int {
	set := edgeSet{}
	var ends []int // each node once per link: drawing from it prefers hubs
	seedNodes := min(m+1, n)
	for a := range seedNodes {
		for b := a + 1; b < seedNodes; b++ {
			set.add(a, b)
			ends = append(ends, a, b)
		}
	}
	for v := seedNodes; v < n; v++ {
		chosen := map[int]bool{}
		for len(chosen) < m {
			chosen[ends[rng.IntN(len(ends))]] = true
		}
		for _, u := range slices.Sorted(maps.Keys(chosen)) {
			set.add(u, v)
			ends = append(ends, u, v)
		}
	}
	return set.pairs()
}
