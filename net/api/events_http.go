package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// serveEvents is GET /events: the node's event stream as Server-Sent
// Events (one "data:" line of JSON per event, its id the event's Seq) or,
// with ?format=jsonl, JSON lines. Query parameters set the filter:
// kinds=a,b (kinds), commands=inv,headers or * (message events), peer=ADDR
// and sample=N. Cookie authentication as for RPC.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	f, err := parseEventFilter(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	jsonl := r.URL.Query().Get("format") == "jsonl"
	sub, err := s.events.Subscribe(f)
	if errors.Is(err, ErrTooManySubscribers) {
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	}
	defer sub.Close()
	rc := http.NewResponseController(w)
	if jsonl {
		w.Header().Set("Content-Type", "application/x-ndjson")
	} else {
		w.Header().Set("Content-Type", "text/event-stream")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	var buf []byte
	for {
		var ev Event
		var ok bool
		select {
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		case ev, ok = <-sub.C:
			if !ok {
				return
			}
		}
		// Write what is queued, then flush once.
		for {
			buf = appendEvent(buf[:0], ev, jsonl)
			if _, err := w.Write(buf); err != nil {
				return // the client went away
			}
			select {
			case ev, ok = <-sub.C:
				if ok {
					continue
				}
			default:
			}
			break
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if !ok {
			return
		}
	}
}

func appendEvent(b []byte, ev Event, jsonl bool) []byte {
	data, _ := json.Marshal(ev) // an Event always marshals
	if jsonl {
		return append(append(b, data...), '\n')
	}
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, "\nevent: "...)
	b = append(b, ev.Kind...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// ErrEventFilter: a query that is not an event filter.
var ErrEventFilter = errors.New("api: bad event filter")

func parseEventFilter(q url.Values) (EventFilter, error) {
	var f EventFilter
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	f.Kinds = split(q.Get("kinds"))
	for _, k := range f.Kinds {
		if !isEventKind(k) {
			return f, fmt.Errorf("%w: unknown kind %q (kinds: %s)", ErrEventFilter, k, strings.Join(EventKinds, ", "))
		}
	}
	f.Commands = split(q.Get("commands"))
	if len(f.Kinds) > 32 || len(f.Commands) > 64 {
		return f, fmt.Errorf("%w: too many kinds or commands", ErrEventFilter)
	}
	f.Peer = q.Get("peer")
	if s := q.Get("sample"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return f, fmt.Errorf("%w: sample=%q", ErrEventFilter, s)
		}
		f.Sample = n
	}
	return f, nil
}

func isEventKind(k string) bool {
	for _, x := range EventKinds {
		if x == k {
			return true
		}
	}
	return false
}

// values is the filter as the query serveEvents reads.
func (f EventFilter) values() url.Values {
	q := url.Values{}
	if len(f.Kinds) > 0 {
		q.Set("kinds", strings.Join(f.Kinds, ","))
	}
	if len(f.Commands) > 0 {
		q.Set("commands", strings.Join(f.Commands, ","))
	}
	if f.Peer != "" {
		q.Set("peer", f.Peer)
	}
	if f.Sample > 1 {
		q.Set("sample", strconv.Itoa(f.Sample))
	}
	return q
}

// maxEventLine bounds one line of a stream the client reads.
const maxEventLine = 64 << 10

// Events follows the node's event stream (GET /events) with filter f,
// calling fn with each event in order, until ctx ends (then it returns
// nil), the stream ends, or fn returns an error (which it returns).
func (c *Client) Events(ctx context.Context, f EventFilter, fn func(Event) error) error {
	q := f.values()
	q.Set("format", "jsonl")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.user, c.pass)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("api: events: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // a stream: nothing to lose
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("api: events: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4096), maxEventLine)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("api: events: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("api: events: %w", err)
	}
	return io.ErrUnexpectedEOF
}
