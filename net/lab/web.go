package lab

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/renga-p2p/renga/net/api"
)

// The live web view: one page (web/index.html, app.js, style.css, written
// here, no build step) served from the binary, fed by the lab's records
// over Server-Sent Events.
//
//	GET /              the page
//	GET /api/state     the topology and each node's tip, as JSON
//	GET /api/events    every record from now on (after the last 500), SSE
//	GET /api/pair?a=&b=  the messages between nodes a and b, SSE
//
//go:embed web
var webFiles embed.FS

// Web view limits: SSE clients at once, records replayed to a new client,
// each client's queue.
const (
	maxWebClients = 16
	webReplay     = 500
	webQueue      = 4096
)

// webHub fans the lab's records out to the page's streams.
type webHub struct {
	lab *Lab

	pairs chan struct{} // a token per sequence diagram followed

	mu      sync.Mutex
	clients map[chan []byte]struct{}
	recent  [][]byte
}

func newWebHub(l *Lab) *webHub {
	return &webHub{lab: l, clients: map[chan []byte]struct{}{}, pairs: make(chan struct{}, maxPairStreams)}
}

// publish offers a record to every client; a client too slow to keep up
// loses it (the page asks for the state again now and then).
func (h *webHub) publish(rec Record) {
	data, _ := json.Marshal(rec) // a Record always marshals
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recent = append(h.recent, data)
	if len(h.recent) > webReplay {
		h.recent = h.recent[len(h.recent)-webReplay:]
	}
	for c := range h.clients {
		select {
		case c <- data:
		default:
		}
	}
}

func (h *webHub) subscribe() (chan []byte, [][]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= maxWebClients {
		return nil, nil, errors.New("too many clients")
	}
	c := make(chan []byte, webQueue)
	h.clients[c] = struct{}{}
	return c, append([][]byte(nil), h.recent...), nil
}

func (h *webHub) unsubscribe(c chan []byte) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// serve serves the web view on ln until ctx ends.
func (h *webHub) serve(ctx context.Context, ln net.Listener) {
	static, _ := fs.Sub(webFiles, "web") // the directory is embedded: it exists
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/state", h.serveState)
	mux.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) { h.serveEvents(ctx, w, r) })
	mux.HandleFunc("GET /api/pair", func(w http.ResponseWriter, r *http.Request) { h.servePair(ctx, w, r) })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close() // the streams end with the lab
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		h.lab.log.Warn("web view", "err", err)
	}
}

// webState is GET /api/state.
type webState struct {
	Network string    `json:"network"`
	Started time.Time `json:"started,omitzero"`
	Nodes   []webNode `json:"nodes"`
	Links   []webLink `json:"links"`
	Pairs   bool      `json:"pairs"` // sequence diagrams available
	Now     time.Time `json:"now"`
}

type webNode struct {
	Index  int    `json:"index"` // from 1
	ID     string `json:"id"`
	Listen string `json:"listen"`
	Tip    string `json:"tip"`
	Height int32  `json:"height"`
	Up     bool   `json:"up"`
	Mining bool   `json:"mining"`
}

type webLink struct {
	A     int     `json:"a"` // from 1
	B     int     `json:"b"`
	Cond  string  `json:"cond"`
	Delay int64   `json:"delay_us"`
	Loss  float64 `json:"loss"`
	Cut   bool    `json:"cut"`
}

func (h *webHub) serveState(w http.ResponseWriter, _ *http.Request) {
	l := h.lab
	st := webState{Network: l.cfg.Params.Name, Now: time.Now(), Pairs: true}
	l.mu.Lock()
	st.Started = l.started
	cut := map[int]bool{}
	for _, c := range l.cuts {
		if c.End.IsZero() {
			cut[c.Link] = true
		}
	}
	l.mu.Unlock()
	for _, n := range l.nodes {
		n.mu.Lock()
		st.Nodes = append(st.Nodes, webNode{Index: n.i + 1, ID: l.top.Nodes[n.i].ID, Listen: n.spec.Listen,
			Tip: n.tip, Height: n.height, Up: n.up, Mining: n.mining != nil})
		n.mu.Unlock()
	}
	for k, lk := range l.top.Links {
		c := lk.Cond
		if l.links != nil {
			c = l.links.Applied(k)
		}
		st.Links = append(st.Links, webLink{A: lk.A + 1, B: lk.B + 1, Cond: c.String(), Delay: c.Delay.Microseconds(), Loss: c.Loss, Cut: cut[k]})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st) // a page that went away is not an error
}

// sse prepares w for Server-Sent Events.
func sse(w http.ResponseWriter) *http.ResponseController {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w)
}

func (h *webHub) serveEvents(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	c, replay, err := h.subscribe()
	if err != nil {
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	}
	defer h.unsubscribe(c)
	rc := sse(w)
	write := func(data []byte) bool {
		_, err := w.Write(append(append([]byte("data: "), data...), '\n', '\n'))
		return err == nil
	}
	for _, d := range replay {
		if !write(d) {
			return
		}
	}
	if rc.Flush() != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.Context().Done():
			return
		case d := <-c:
			if !write(d) || rc.Flush() != nil {
				return
			}
		}
	}
}

// PairMessage is one message between two nodes, as one end saw it.
type PairMessage struct {
	Time    time.Time `json:"time"`
	Micros  int64     `json:"us"`   // Time in microseconds since 1970, for the page's arithmetic
	At      int       `json:"at"`   // the node that saw it, from 1
	Sent    bool      `json:"sent"` // true: At sent it; false: At received it
	Peer    int       `json:"peer"` // the other node, from 1
	Command string    `json:"command"`
	Size    int       `json:"size"`
	Source  string    `json:"source"` // "capture" (packets at the link's ends) or "events" (the nodes' taps)
}

// maxPairStreams bounds the sequence diagrams followed at once.
const maxPairStreams = 4

func (h *webHub) servePair(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	l := h.lab
	a, errA := strconv.Atoi(r.URL.Query().Get("a"))
	b, errB := strconv.Atoi(r.URL.Query().Get("b"))
	if errA != nil || errB != nil || a < 1 || b < 1 || a > len(l.nodes) || b > len(l.nodes) || a == b {
		http.Error(w, "want a=NODE&b=NODE, two different nodes from 1", http.StatusBadRequest)
		return
	}
	select {
	case h.pairs <- struct{}{}:
		defer func() { <-h.pairs }()
	default:
		http.Error(w, "too many sequence diagrams open", http.StatusTooManyRequests)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.Context(), cancel)
	defer stop()
	msgs := make(chan PairMessage, 1024)
	emit := func(m PairMessage) {
		select {
		case msgs <- m:
		default: // the page cannot keep up: it misses some
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if pc, ok := l.cfg.Network.(pairCapturer); ok {
		if err := pc.capturePair(ctx, &wg, a-1, b-1, emit); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	} else {
		for _, x := range []int{a - 1, b - 1} {
			wg.Go(func() { l.followPair(ctx, x, a-1+b-1-x, emit) })
		}
	}
	rc := sse(w)
	if rc.Flush() != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-msgs:
			m.Micros = m.Time.UnixMicro()
			data, _ := json.Marshal(m)
			if _, err := w.Write(append(append([]byte("data: "), data...), '\n', '\n')); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// pairCapturer is a Network that can watch the packets between two nodes
// at both ends of their link, as the kernel sends and delivers them.
type pairCapturer interface {
	capturePair(ctx context.Context, wg *sync.WaitGroup, a, b int, emit func(PairMessage)) error
}

// followPair follows node at's messages through its event stream and
// keeps those with node peer (which needs the node's message tap).
func (l *Lab) followPair(ctx context.Context, at, peer int, emit func(PairMessage)) {
	n := l.nodes[at]
	for ctx.Err() == nil {
		c, err := n.rpc()
		if err == nil {
			err = c.Events(ctx, api.EventFilter{Commands: []string{"*"}}, func(ev api.Event) error {
				if ev.Kind != api.EventMsgSent && ev.Kind != api.EventMsgReceived {
					return nil
				}
				if l.nodeAt(ev.Peer) != peer {
					return nil
				}
				emit(PairMessage{Time: ev.Time, At: at + 1, Sent: ev.Kind == api.EventMsgSent, Peer: peer + 1,
					Command: ev.Command, Size: ev.Size, Source: "events"})
				return nil
			})
		}
		_ = err // a restart: follow again
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// nodeAt is the node whose address (its listening address, or an address
// on one of its links) addr is, or -1.
func (l *Lab) nodeAt(addr string) int {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return -1
	}
	for i, n := range l.nodes {
		if n.spec.Listen == addr {
			return i
		}
		if lp, err := netip.ParseAddrPort(n.spec.Listen); err == nil && lp.Addr() == ap.Addr() && !lp.Addr().IsLoopback() && !lp.Addr().IsUnspecified() {
			return i
		}
	}
	for k, lk := range l.top.Links {
		a, b := linkAddrs(k)
		switch ap.Addr() {
		case a:
			return lk.A
		case b:
			return lk.B
		}
	}
	return -1
}
