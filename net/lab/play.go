package lab

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// play runs the scenario's events at their times from the experiment's
// start, until they are done or ctx ends.
func (l *Lab) play(ctx context.Context, s *Scenario) {
	l.mu.Lock()
	start := l.started
	l.mu.Unlock()
	for _, a := range s.Events {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(a.At))):
		}
		err := l.do(ctx, a)
		detail := a.String()
		if err != nil {
			detail += ": " + err.Error()
		}
		l.rec.lab(time.Now(), LabAction, detail, 0)
		l.web.publish(Record{Event: eventNow(LabAction), Detail: detail})
		l.event(fmt.Sprintf("scenario at %v: %s", a.At, detail))
		l.log.Info("scenario", "at", a.At, "action", a.String(), "err", err)
	}
}

// do carries out one scenario action.
func (l *Lab) do(ctx context.Context, a Action) error {
	switch a.Do {
	case DoPartition:
		links, from := a.CutLinks(l.top)
		return l.cut(links, from)
	case DoHeal:
		return l.heal(a)
	case DoKill:
		var errs []error
		for _, i := range a.Nodes {
			errs = append(errs, l.kill(l.nodes[i]))
		}
		return errors.Join(errs...)
	case DoRestart:
		var errs []error
		for _, i := range a.Nodes {
			errs = append(errs, l.restart(l.nodes[i]))
		}
		return errors.Join(errs...)
	case DoLink:
		var errs []error
		now := time.Now()
		for _, k := range a.Links {
			got, err := l.links.SetConditions(k, a.Cond)
			errs = append(errs, err)
			l.mu.Lock()
			l.changes = append(l.changes, linkChange{Link: k, At: now, Cond: got})
			l.mu.Unlock()
			l.top.SetLinkAttr(k, "applied", got.String())
		}
		return errors.Join(errs...)
	case DoMine:
		for _, i := range a.Nodes {
			l.startMining(ctx, l.nodes[i])
		}
	case DoStopMining:
		for _, i := range a.Nodes {
			l.stopMining(l.nodes[i])
		}
	case DoPay:
		sent := 0
		var last error
		for range a.Count {
			if err := l.pay(ctx, a.Payer, a.Payee); err != nil {
				last = err
				continue
			}
			sent++
		}
		if sent < a.Count {
			return fmt.Errorf("sent %d of %d payments: %w", sent, a.Count, last)
		}
	}
	return nil
}

// cut cuts links (from: the sending node, -1 both ways) and notes when.
func (l *Lab) cut(links, from []int) error {
	var errs []error
	now := time.Now()
	var names []string
	for i, k := range links {
		if err := l.links.Cut(k, from[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		lk := l.top.Links[k]
		names = append(names, strconv.Itoa(lk.A+1)+"-"+strconv.Itoa(lk.B+1))
		l.mu.Lock()
		l.cuts = append(l.cuts, cutSpan{Link: k, From: from[i], Start: now})
		l.mu.Unlock()
	}
	l.rec.lab(now, LabCut, strings.Join(names, " "), 0)
	return errors.Join(errs...)
}

// heal restores the links the action names (by link, or every cut link
// touching its nodes), or every cut link.
func (l *Lab) heal(a Action) error {
	now := time.Now()
	want := map[int]bool{}
	for _, k := range a.Links {
		want[k] = true
	}
	touches := map[int]bool{}
	for _, n := range a.Nodes {
		touches[n] = true
	}
	l.mu.Lock()
	var todo []int
	for i := range l.cuts {
		c := &l.cuts[i]
		if !c.End.IsZero() {
			continue
		}
		lk := l.top.Links[c.Link]
		if (len(want) > 0 && !want[c.Link]) || (len(touches) > 0 && !touches[lk.A] && !touches[lk.B]) {
			continue
		}
		c.End = now
		todo = append(todo, c.Link)
	}
	l.heals = append(l.heals, now)
	l.mu.Unlock()
	var errs []error
	seen := map[int]bool{}
	for _, k := range todo {
		if !seen[k] {
			seen[k] = true
			errs = append(errs, l.links.Heal(k))
		}
	}
	l.rec.lab(now, LabHealed, fmt.Sprintf("%d links", len(seen)), 0)
	return errors.Join(errs...)
}

// kill ends node n's process at once (SIGKILL).
func (l *Lab) kill(n *labNode) error {
	n.mu.Lock()
	proc, up := n.proc, n.up
	n.mu.Unlock()
	if !up {
		return fmt.Errorf("node %d is not running", n.i+1)
	}
	if err := proc.Kill(); err != nil {
		return err
	}
	select {
	case <-proc.Done():
	case <-time.After(10 * time.Second):
		return fmt.Errorf("node %d did not die within 10 s of SIGKILL", n.i+1)
	}
	n.mu.Lock()
	n.up, n.client, n.coins = false, nil, nil
	n.mu.Unlock()
	l.rec.lab(time.Now(), LabKilled, "", n.i+1)
	return nil
}

// restart starts a killed node again on its data directory.
func (l *Lab) restart(n *labNode) error {
	if n.isUp() {
		return fmt.Errorf("node %d is running", n.i+1)
	}
	if err := n.start(); err != nil {
		return err
	}
	n.mu.Lock()
	n.restarts++
	n.mu.Unlock()
	l.rec.lab(time.Now(), LabStarted, "", n.i+1)
	return nil
}
