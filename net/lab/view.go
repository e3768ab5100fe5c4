package lab

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/renga-p2p/renga/net/api"
)

func eventNow(kind string) api.Event { return api.Event{Time: time.Now(), Kind: kind} }

// viewLoop polls the nodes and redraws the view (in place on a terminal,
// every 5 s otherwise) until ctx ends. A node that ends by itself (not
// killed by the scenario) ends the run with its error.
func (l *Lab) viewLoop(ctx context.Context) error {
	// Polling costs three calls a node: a large lab polls less often.
	every := max(time.Second, time.Duration(len(l.nodes))*50*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastPrint time.Time
	for {
		l.pollAll(ctx)
		for _, n := range l.nodes {
			n.mu.Lock()
			proc, up := n.proc, n.up
			n.mu.Unlock()
			if !up {
				continue
			}
			select {
			case <-proc.Done():
				err := fmt.Errorf("lab: node %d exited: %v (see %s)", n.i+1, proc.Err(), n.log.Name())
				n.mu.Lock()
				n.up = false
				n.mu.Unlock()
				l.event(err.Error())
				l.draw()
				return err
			default:
			}
		}
		if l.cfg.TTY || time.Since(lastPrint) >= 5*time.Second {
			lastPrint = time.Now()
			l.draw()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// pollAll asks every running node for what the view shows, a few at once.
func (l *Lab) pollAll(ctx context.Context) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, n := range l.nodes {
		if !n.isUp() {
			n.mu.Lock()
			n.status = nodeStatus{err: "killed"}
			n.mu.Unlock()
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s := n.poll(ctx)
			n.mu.Lock()
			n.status = s
			n.mu.Unlock()
		})
	}
	wg.Wait()
}

func (n *labNode) poll(ctx context.Context) nodeStatus {
	var mining struct {
		Blocks   int32   `json:"blocks"`
		Hashrate float64 `json:"hashespersec"`
		Pooled   int     `json:"pooledtx"`
	}
	var s nodeStatus
	var tip string
	if n.call(ctx, 2*time.Second, &mining, "getmininginfo") != nil ||
		n.call(ctx, 2*time.Second, &tip, "getbestblockhash") != nil ||
		n.call(ctx, 2*time.Second, &s.peers, "getconnectioncount") != nil {
		return nodeStatus{err: "no answer"}
	}
	n.mu.Lock()
	n.tip, n.height = tip, mining.Blocks
	n.mu.Unlock()
	s.ok, s.mempool, s.hashrate = true, mining.Pooled, mining.Hashrate
	return s
}

// draw writes the view.
func (l *Lab) draw() {
	var b strings.Builder
	if l.cfg.TTY {
		b.WriteString("\033[H\033[2J")
	}
	l.mu.Lock()
	up := time.Duration(0)
	if !l.started.IsZero() {
		up = time.Since(l.started).Round(time.Second)
	}
	events := append([]string(nil), l.events...)
	l.mu.Unlock()
	fmt.Fprintf(&b, "renga devnet  %d nodes  %s  %s\n\n", len(l.nodes), up, l.cfg.Dir)
	l.render(&b)
	if len(events) > 0 {
		b.WriteString("\n")
		for _, e := range events {
			b.WriteString(e + "\n")
		}
	}
	if l.cfg.TTY {
		b.WriteString("\nCtrl-C stops the nodes.\n")
	} else {
		b.WriteString("\n")
	}
	_, _ = io.WriteString(l.cfg.Out, b.String()) // the terminal or a pipe; nothing to do on failure
}

// render writes the table of nodes.
func (l *Lab) render(w io.Writer) {
	fmt.Fprintf(w, "%-5s %-8s %-21s %7s  %-18s %5s %8s %12s\n", "node", "pid", "p2p", "height", "tip", "peers", "mempool", "hashrate")
	for _, n := range l.nodes {
		n.mu.Lock()
		s, pid, tip, height, mining := n.status, 0, n.tip, n.height, n.mining != nil
		if n.proc != nil {
			pid = n.proc.Pid()
		}
		n.mu.Unlock()
		name := strconv.Itoa(n.i + 1)
		if mining {
			name += "*"
		}
		if !s.ok {
			fmt.Fprintf(w, "%-5s %-8d %-21s %7s  %-18s\n", name, pid, n.spec.Listen, "-", s.err)
			continue
		}
		rate := "-"
		if mining {
			rate = fmt.Sprintf("%.2f MH/s", s.hashrate/1e6)
		}
		fmt.Fprintf(w, "%-5s %-8d %-21s %7d  %-18s %5d %5d tx %12s\n", name, pid, n.spec.Listen, height, short(tip), s.peers, s.mempool, rate)
	}
	fmt.Fprintln(w, "(* mines)")
}

// verdict sums up the final state: one tip or several.
func (l *Lab) verdict() string {
	tips := map[string][]int{}
	height := int32(0)
	for _, n := range l.nodes {
		n.mu.Lock()
		if n.status.ok {
			tips[n.tip] = append(tips[n.tip], n.i+1)
			height = max(height, n.height)
		}
		n.mu.Unlock()
	}
	switch len(tips) {
	case 0:
		return "renga devnet: no node answered"
	case 1:
		for tip, nodes := range tips {
			return fmt.Sprintf("renga devnet: all %d answering nodes agree: height %d, tip %s", len(nodes), height, tip)
		}
	}
	var parts []string
	for tip, nodes := range tips {
		parts = append(parts, fmt.Sprintf("%s on nodes %v", short(tip), nodes))
	}
	return "renga devnet: the nodes were on different tips when stopped (blocks in flight): " + strings.Join(parts, "; ")
}
