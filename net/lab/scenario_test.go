package lab

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const splitScenario = `
duration = "2m"

[[event]]
at = "40s"
do = "heal"

[[event]]
at = "10s"
do = "partition"
groups = [["1-8"], ["9-16"]]

[[event]]
at = "0s"
do = "mine"
nodes = [1, "n8"]

[[event]]
at = "50s"
do = "kill"
node = 3

[[event]]
at = "60s"
do = "restart"
node = "3"

[[event]]
at = "70s"
do = "link"
links = ["1-2"]
delay = "50ms"
jitter = 10
loss = 0.5
rate = "10mbit"

[[event]]
at = "80s"
do = "pay"
count = 5
from = 2
to = 3
`

func TestReadScenario(t *testing.T) {
	top, err := Generate("ring", 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadScenario(strings.NewReader(splitScenario), top)
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration != 2*time.Minute || len(s.Events) != 7 {
		t.Fatalf("duration %v, %d events", s.Duration, len(s.Events))
	}
	var order []string
	for _, a := range s.Events {
		order = append(order, a.Do)
	}
	if want := []string{"mine", "partition", "heal", "kill", "restart", "link", "pay"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	mine := s.Events[0]
	if !slices.Equal(mine.Nodes, []int{0, 8}) { // node 1, and GraphML id n8: the ninth node
		t.Errorf("mine nodes %v, want indexes 0 and 8", mine.Nodes)
	}
	part := s.Events[1]
	if len(part.Groups) != 2 || !slices.Equal(part.Groups[0], []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("groups %v", part.Groups)
	}
	// A ring of 16 split in two halves is cut at two links: 8-9 and 16-1.
	links, from := part.CutLinks(top)
	if len(links) != 2 || !slices.Equal(from, []int{-1, -1}) {
		t.Errorf("cut %v from %v", links, from)
	}
	if k := s.Events[3]; !slices.Equal(k.Nodes, []int{2}) {
		t.Errorf("kill %v", k.Nodes)
	}
	link := s.Events[5]
	want := Conditions{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.5, Rate: 10_000_000}
	if k01, _ := top.LinkIndex(0, 1); link.Cond != want || !slices.Equal(link.Links, []int{k01}) {
		t.Errorf("link %+v, want %v on link %d", link, want, k01)
	}
	if pay := s.Events[6]; pay.Count != 5 || pay.Payer != 1 || pay.Payee != 2 || s.Payments() != 5 {
		t.Errorf("pay %+v", pay)
	}
	if !s.NeedsLinks() {
		t.Error("a scenario with partitions needs link control")
	}
}

// TestCutLinksOneWay: a one-way partition drops only what the first group
// sends.
func TestCutLinksOneWay(t *testing.T) {
	top, _ := Generate("line", 4, 0) // 1-2-3-4
	a := Action{Do: DoPartition, Groups: [][]int{{2, 3}}, OneWay: true}
	links, from := a.CutLinks(top)
	k, _ := top.LinkIndex(1, 2)
	if !slices.Equal(links, []int{k}) || !slices.Equal(from, []int{2}) {
		t.Errorf("one way: cut %v from %v, want link %d from node 3", links, from, k)
	}
}

func TestReadScenarioErrors(t *testing.T) {
	top, _ := Generate("ring", 4, 0)
	tests := []struct{ name, doc string }{
		{"not toml", `duration = `},
		{"unknown key", "[[event]]\nat = \"1s\"\ndo = \"kill\"\nnode = 1\nspeed = 3"},
		{"unknown action", "[[event]]\nat = \"1s\"\ndo = \"explode\""},
		{"bad time", "[[event]]\nat = \"soon\"\ndo = \"heal\""},
		{"negative time", "[[event]]\nat = \"-1s\"\ndo = \"heal\""},
		{"after the end", "duration = \"10s\"\n[[event]]\nat = \"11s\"\ndo = \"heal\""},
		{"no such node", "[[event]]\nat = \"1s\"\ndo = \"kill\"\nnode = 5"},
		{"no such name", "[[event]]\nat = \"1s\"\ndo = \"kill\"\nnode = \"tokyo\""},
		{"kill nobody", "[[event]]\nat = \"1s\"\ndo = \"kill\""},
		{"no such link", "[[event]]\nat = \"1s\"\ndo = \"link\"\nlinks = [\"1-3\"]\ndelay = \"5ms\""},
		{"bad condition", "[[event]]\nat = \"1s\"\ndo = \"link\"\nlinks = [\"1-2\"]\nloss = 200"},
		{"kill with links", "[[event]]\nat = \"1s\"\ndo = \"kill\"\nnode = 1\nlinks = [\"1-2\"]"},
		{"overlapping groups", "[[event]]\nat = \"1s\"\ndo = \"partition\"\ngroups = [[1, 2], [2, 3]]"},
		{"partition of everyone", "[[event]]\nat = \"1s\"\ndo = \"partition\"\nnodes = [\"1-4\"]"},
		{"too many payments", "[[event]]\nat = \"1s\"\ndo = \"pay\"\ncount = 10001"},
		{"paying oneself", "[[event]]\nat = \"1s\"\ndo = \"pay\"\ncount = 1\nfrom = 2\nto = 2"},
		{"too large", "# " + strings.Repeat("x", MaxScenarioBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadScenario(strings.NewReader(tt.doc), top); !errors.Is(err, ErrScenario) {
				t.Fatalf("ReadScenario = %v, want ErrScenario", err)
			}
		})
	}
}
