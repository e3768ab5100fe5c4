package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/renga-p2p/renga/net/api"
)

// Record is one entry of the lab's log of events: a node's event (Node
// from 1) or the lab's own (Node 0, Kind one of the Lab* constants, with
// Detail).
type Record struct {
	Node int `json:"node"`
	api.Event
	Detail string `json:"detail,omitempty"`
}

// The lab's own record kinds.
const (
	LabStart   = "lab-start"   // the experiment starts (set-up is over)
	LabStop    = "lab-stop"    // the experiment ends
	LabAction  = "lab-action"  // a scenario event was played (Detail says what)
	LabMined   = "lab-mined"   // Node mined block Hash at the lab's request
	LabPaid    = "lab-paid"    // Node sent transaction Hash (Detail: to whom)
	LabCut     = "lab-cut"     // a link was cut (Detail: which)
	LabHealed  = "lab-healed"  // links were healed
	LabKilled  = "lab-killed"  // Node was killed
	LabStarted = "lab-started" // Node was started again
)

// MaxRecords bounds the records kept in memory for the report; every
// record still goes to events.jsonl.
const MaxRecords = 1_000_000

// recorder keeps the records, in arrival order, and writes each to
// events.jsonl as it comes.
type recorder struct {
	mu      sync.Mutex
	recs    []Record
	dropped int
	f       *os.File
	w       *bufio.Writer
	err     error
}

func newRecorder(dir string) (*recorder, error) {
	r := &recorder{}
	if dir == "" {
		return r, nil
	}
	f, err := os.Create(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		return nil, err
	}
	r.f, r.w = f, bufio.NewWriter(f)
	return r, nil
}

func (r *recorder) add(rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.recs) < MaxRecords {
		r.recs = append(r.recs, rec)
	} else {
		r.dropped++
	}
	if r.w != nil && r.err == nil {
		data, _ := json.Marshal(rec) // a Record always marshals
		data = append(data, '\n')
		_, r.err = r.w.Write(data)
	}
}

// lab records one of the lab's own events.
func (r *recorder) lab(t time.Time, kind, detail string, node int) {
	r.add(Record{Node: node, Event: api.Event{Time: t, Kind: kind}, Detail: detail})
}

// all returns a copy of the records so far.
func (r *recorder) all() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.recs...)
}

func (r *recorder) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := errors.Join(r.err, r.w.Flush(), r.f.Close())
	r.f = nil
	return err
}

// followKinds are the events the lab follows on every node: everything
// but messages, which only the web view asks for, pair by pair.
var followKinds = []string{api.EventPeerConnected, api.EventPeerGone, api.EventBlockHeard, api.EventBlockConnected,
	api.EventBlockGone, api.EventTip, api.EventTxHeard, api.EventTxAccepted, api.EventDropped}

// follow records the node's events until ctx ends, reconnecting after the
// node restarts.
func (n *labNode) follow(ctx context.Context) {
	for ctx.Err() == nil {
		c, err := n.rpc()
		if err == nil {
			err = c.Events(ctx, api.EventFilter{Kinds: followKinds}, func(ev api.Event) error {
				n.observe(ev)
				return nil
			})
		}
		if ctx.Err() != nil {
			return
		}
		n.lab.log.Debug("event stream ended; following again", "node", n.i+1, "err", err)
		n.mu.Lock()
		n.client = nil // a restart writes a new cookie
		n.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// observe records one event of the node and updates what the view and
// the web page show.
func (n *labNode) observe(ev api.Event) {
	if ev.Kind == api.EventHello || ev.Kind == api.EventTip {
		n.mu.Lock()
		n.tip, n.height = ev.Hash, ev.Height
		n.mu.Unlock()
	}
	if ev.Kind == api.EventHello {
		return // a stream's start, not an event
	}
	rec := Record{Node: n.i + 1, Event: ev}
	n.lab.rec.add(rec)
	n.lab.web.publish(rec)
}
