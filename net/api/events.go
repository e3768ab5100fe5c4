package api

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/p2p"
	"github.com/renga-p2p/renga/net/peer"
	"github.com/renga-p2p/renga/wire"
)

// The kinds of [Event].
const (
	EventHello          = "hello"              // the first event of a stream: the node's tip
	EventPeerConnected  = "peer-connected"     // a handshake completed
	EventPeerGone       = "peer-disconnected"  // a connection ended, with its reason
	EventMsgSent        = "msg-sent"           // a frame went to a peer
	EventMsgReceived    = "msg-received"       // a frame came from a peer
	EventBlockHeard     = "block-heard"        // a block hash first seen (inv, headers, cmpctblock, block)
	EventBlockConnected = "block-connected"    // a block joined the active chain
	EventBlockGone      = "block-disconnected" // a reorganization took a block out of it
	EventTip            = "tip"                // the active chain's tip changed
	EventTxHeard        = "tx-heard"           // a transaction hash first seen (inv)
	EventTxAccepted     = "tx-accepted"        // the mempool accepted a transaction
	EventDropped        = "dropped"            // the subscriber fell behind: Count events were lost
)

// EventKinds lists every kind, for filters and help texts.
var EventKinds = []string{EventHello, EventPeerConnected, EventPeerGone, EventMsgSent, EventMsgReceived,
	EventBlockHeard, EventBlockConnected, EventBlockGone, EventTip, EventTxHeard, EventTxAccepted, EventDropped}

// Event is one entry of a node's event stream, as JSON. Fields that do not
// apply to a kind are left out.
type Event struct {
	Seq     uint64    `json:"seq"`  // per hub, from 1, in order of publication
	Time    time.Time `json:"time"` // when it happened, this machine's clock
	Kind    string    `json:"kind"`
	Peer    string    `json:"peer,omitempty"` // the remote address:port
	Inbound bool      `json:"inbound,omitempty"`
	Reason  string    `json:"reason,omitempty"`  // peer-disconnected: one of p2p's Reason constants
	Command string    `json:"command,omitempty"` // msg-*: the frame's command
	Size    int       `json:"size,omitempty"`    // msg-*: payload bytes; tx-accepted: transaction bytes
	Hash    string    `json:"hash,omitempty"`    // block-* and tip: block hash; tx-*: txid (or wtxid as announced)
	Height  int32     `json:"height,omitempty"`
	// block-connected: when and from whom the block was first heard; From
	// is empty for a block that came from no peer (mined here, submitted
	// over RPC) or was first heard before the hub's memory.
	Heard time.Time `json:"heard,omitzero"`
	From  string    `json:"from,omitempty"`
	Count uint64    `json:"count,omitempty"` // dropped: events lost
}

// EventFilter chooses what a subscriber gets. Zero fields mean everything
// but messages: message events are many, so they come only when asked for.
type EventFilter struct {
	Kinds    []string // only these kinds (empty: all but msg-*, unless Commands is set)
	Commands []string // msg-* events only for these commands ("*": all)
	Peer     string   // only events about this peer address:port (hello and chain events still pass)
	Sample   int      // keep one msg-* event in Sample (0 or 1: all)
}

func (f EventFilter) wantsMessages() bool {
	return len(f.Commands) > 0 || slices.Contains(f.Kinds, EventMsgSent) || slices.Contains(f.Kinds, EventMsgReceived)
}

// EventsConfig configures an [Events] hub.
type EventsConfig struct {
	Chain *chain.Chain  // block and tip events (required)
	Pool  *mempool.Pool // tx-accepted events (nil: none)
	// Buffer is each subscriber's queue in events (default 4096): past it
	// events are dropped for that subscriber and counted in a dropped event.
	Buffer int
	// MaxSubscribers bounds the streams served at once (default 16).
	MaxSubscribers int
	// Remember is how many block and transaction hashes the hub keeps to
	// tell when each was first heard (default 8192 each).
	Remember int
	Now      func() time.Time
	Logger   *slog.Logger
}

func (c EventsConfig) withDefaults() EventsConfig {
	if c.Buffer <= 0 {
		c.Buffer = 4096
	}
	if c.MaxSubscribers <= 0 {
		c.MaxSubscribers = 16
	}
	if c.Remember <= 0 {
		c.Remember = 8192
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ErrTooManySubscribers: the hub serves MaxSubscribers streams already.
var ErrTooManySubscribers = errors.New("api: too many event subscribers")

// Events is a node's event hub: it hears the chain, the mempool, the P2P
// server's peer events ([Events.Peer], for p2p.Config.OnPeer) and every
// frame of every connection ([Events.Conn], a peer.Tap per connection),
// and fans them out to subscribers. Publishing never blocks: a subscriber
// that falls behind loses events (and is told how many). Message events are
// made only while some subscriber asks for them, so an unwatched node pays
// one atomic load per frame. Safe for concurrent use.
type Events struct {
	cfg EventsConfig
	seq atomic.Uint64
	// msgWatchers counts subscribers that want message events.
	msgWatchers atomic.Int32

	mu          sync.Mutex
	subs        map[*Subscription]struct{}
	blocksHeard *heardSet
	txsHeard    *heardSet
}

// NewEvents makes a hub and subscribes it to the chain and the pool.
func NewEvents(cfg EventsConfig) *Events {
	cfg = cfg.withDefaults()
	e := &Events{cfg: cfg, subs: map[*Subscription]struct{}{},
		blocksHeard: newHeardSet(cfg.Remember), txsHeard: newHeardSet(cfg.Remember)}
	if cfg.Chain != nil {
		cfg.Chain.Subscribe(e.chainEvent)
	}
	if cfg.Pool != nil {
		cfg.Pool.OnAccept(e.txAccepted)
	}
	return e
}

// Subscription is one subscriber's stream. C delivers its events; Close
// ends it.
type Subscription struct {
	C      <-chan Event
	c      chan Event
	filter EventFilter
	kinds  map[string]bool
	cmds   map[string]bool
	e      *Events
	// Guarded by e.mu.
	dropped uint64
	sampled uint64
	closed  bool
}

// Subscribe starts a stream with filter f; its first event is a hello
// with the node's tip. Close it when done.
func (e *Events) Subscribe(f EventFilter) (*Subscription, error) {
	s := &Subscription{c: make(chan Event, e.cfg.Buffer), filter: f, e: e}
	s.C = s.c
	if len(f.Kinds) > 0 {
		s.kinds = map[string]bool{}
		for _, k := range f.Kinds {
			s.kinds[k] = true
		}
	}
	if len(f.Commands) > 0 {
		s.cmds = map[string]bool{}
		for _, c := range f.Commands {
			s.cmds[c] = true
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.subs) >= e.cfg.MaxSubscribers {
		return nil, ErrTooManySubscribers
	}
	e.subs[s] = struct{}{}
	if f.wantsMessages() {
		e.msgWatchers.Add(1)
	}
	hello := Event{Kind: EventHello, Time: e.cfg.Now()}
	if e.cfg.Chain != nil {
		tip := e.cfg.Chain.Tip()
		hello.Hash, hello.Height = tip.Hash.String(), tip.Height
	}
	hello.Seq = e.seq.Add(1)
	s.c <- hello // the queue is new and empty
	return s, nil
}

// Close ends the subscription; C is closed.
func (s *Subscription) Close() {
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	delete(e.subs, s)
	if s.filter.wantsMessages() {
		e.msgWatchers.Add(-1)
	}
	close(s.c)
}

// wants applies the filter (without the sampling).
func (s *Subscription) wants(ev *Event) bool {
	isMsg := ev.Kind == EventMsgSent || ev.Kind == EventMsgReceived
	switch {
	case ev.Kind == EventHello || ev.Kind == EventDropped:
		return true
	case s.kinds != nil && !s.kinds[ev.Kind]:
		return false
	case isMsg && s.kinds == nil && s.cmds == nil:
		return false
	case isMsg && s.cmds != nil && !s.cmds["*"] && !s.cmds[ev.Command]:
		return false
	case s.filter.Peer != "" && ev.Peer != "" && ev.Peer != s.filter.Peer:
		return false
	}
	return true
}

// publish stamps ev and offers it to every subscriber that wants it.
func (e *Events) publish(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.subs) == 0 {
		return
	}
	ev.Seq = e.seq.Add(1)
	isMsg := ev.Kind == EventMsgSent || ev.Kind == EventMsgReceived
	for s := range e.subs {
		if !s.wants(&ev) {
			continue
		}
		if isMsg && s.filter.Sample > 1 {
			s.sampled++
			if s.sampled%uint64(s.filter.Sample) != 1 {
				continue
			}
		}
		if s.dropped > 0 {
			// Room for the notice and the event, or drop this one too.
			if len(s.c)+2 > cap(s.c) {
				s.dropped++
				continue
			}
			s.c <- Event{Seq: ev.Seq, Time: ev.Time, Kind: EventDropped, Count: s.dropped}
			s.dropped = 0
		}
		select {
		case s.c <- ev:
		default:
			s.dropped++
		}
	}
}

func (e *Events) chainEvent(ev chain.Event) {
	now := e.cfg.Now()
	n := ev.Node
	if ev.Kind == chain.BlockDisconnected {
		e.publish(Event{Time: now, Kind: EventBlockGone, Hash: n.Hash.String(), Height: n.Height})
		return
	}
	out := Event{Time: now, Kind: EventBlockConnected, Hash: n.Hash.String(), Height: n.Height}
	e.mu.Lock()
	if h, ok := e.blocksHeard.get(n.Hash); ok {
		out.Heard, out.From = h.when, h.from
	}
	e.mu.Unlock()
	e.publish(out)
	// Events come after the change is complete: the tip now is the tip the
	// change ended on, so the last connected block of a change says so.
	if tip := e.cfg.Chain.Tip(); tip.Hash == n.Hash {
		e.publish(Event{Time: now, Kind: EventTip, Hash: n.Hash.String(), Height: n.Height})
	}
}

func (e *Events) txAccepted(en *mempool.Entry) {
	e.publish(Event{Time: e.cfg.Now(), Kind: EventTxAccepted, Hash: en.TxID.String(), Size: en.Size})
}

// Peer reports a handshake or the end of a connection: give it to
// p2p.Config.OnPeer. It does not block.
func (e *Events) Peer(ev p2p.PeerEvent) {
	out := Event{Time: e.cfg.Now(), Kind: EventPeerConnected, Peer: ev.Addr.String(), Inbound: ev.Inbound}
	if !ev.Connected {
		out.Kind, out.Reason = EventPeerGone, ev.Reason
	}
	e.publish(out)
}

// Conn returns the tap for one connection to remote, made at t (the
// signature of capture.Recorder.Conn): it reports every frame as a message
// event while someone watches, and the first time each block or
// transaction hash is heard, whoever watches.
func (e *Events) Conn(_ time.Time, _, remote netip.AddrPort, inbound bool) peer.Tap {
	return &eventTap{e: e, peer: remote.String()}
}

// eventTap is one connection's peer.Tap.
type eventTap struct {
	e    *Events
	peer string
}

func (t *eventTap) Sent(now time.Time, frame []byte)     { t.frame(now, frame, EventMsgSent) }
func (t *eventTap) Received(now time.Time, frame []byte) { t.frame(now, frame, EventMsgReceived) }
func (t *eventTap) Close(time.Time)                      {}

func (t *eventTap) frame(now time.Time, frame []byte, kind string) {
	if len(frame) < wire.FrameHeaderSize {
		return
	}
	cmd := string(frame[4:16])
	if i := strings.IndexByte(cmd, 0); i >= 0 {
		cmd = cmd[:i]
	}
	payload := frame[wire.FrameHeaderSize:]
	if t.e.msgWatchers.Load() > 0 {
		t.e.publish(Event{Time: now, Kind: kind, Peer: t.peer, Command: cmd, Size: len(payload)})
	}
	if kind == EventMsgReceived {
		t.e.heard(now, t.peer, cmd, payload)
	}
}

// heard notes the block and transaction hashes a received message names,
// publishing a *-heard event for each new one. Only what the message's own
// bytes give cheaply: the 80-byte header of block and cmpctblock, the
// headers of headers, the vectors of inv. A peer's bytes are not trusted
// here: a malformed message names nothing (p2p deals with the peer).
func (e *Events) heard(now time.Time, from, cmd string, payload []byte) {
	var blocks, txs []sha256d.Hash
	switch cmd {
	case wire.CmdBlock, wire.CmdCmpctBlock:
		if len(payload) >= wire.HeaderSize {
			blocks = append(blocks, sha256d.Sum(payload[:wire.HeaderSize]))
		}
	case wire.CmdHeaders:
		msg, err := wire.DecodeMessage(cmd, payload)
		if err != nil {
			return
		}
		for i := range msg.(*wire.MsgHeaders).Headers {
			blocks = append(blocks, msg.(*wire.MsgHeaders).Headers[i].Hash())
		}
	case wire.CmdInv:
		// count, then 36-byte vectors: read in place rather than decoded.
		n, size := uvarint(payload)
		if size == 0 || n > wire.MaxInvEntries || uint64(len(payload)-size) != n*36 {
			return
		}
		for i := range int(n) {
			v := payload[size+36*i:]
			h := sha256d.Hash(v[4:36])
			switch wire.InvType(binary.LittleEndian.Uint32(v)) &^ wire.InvWitnessFlag {
			case wire.InvBlock, wire.InvCmpctBlock:
				blocks = append(blocks, h)
			case wire.InvTx, wire.InvWTx:
				txs = append(txs, h)
			}
		}
	default:
		return
	}
	var fresh []Event
	e.mu.Lock()
	for _, h := range blocks {
		if e.blocksHeard.add(h, heardAt{when: now, from: from}) {
			fresh = append(fresh, Event{Time: now, Kind: EventBlockHeard, Peer: from, Hash: h.String(), Command: cmd})
		}
	}
	for _, h := range txs {
		if e.txsHeard.add(h, heardAt{when: now, from: from}) {
			fresh = append(fresh, Event{Time: now, Kind: EventTxHeard, Peer: from, Hash: h.String(), Command: cmd})
		}
	}
	e.mu.Unlock()
	for _, ev := range fresh {
		e.publish(ev)
	}
}

// uvarint reads Bitcoin's CompactSize; size 0 means malformed.
func uvarint(p []byte) (v uint64, size int) {
	if len(p) == 0 {
		return 0, 0
	}
	switch p[0] {
	case 0xfd:
		if len(p) < 3 {
			return 0, 0
		}
		return uint64(binary.LittleEndian.Uint16(p[1:])), 3
	case 0xfe:
		if len(p) < 5 {
			return 0, 0
		}
		return uint64(binary.LittleEndian.Uint32(p[1:])), 5
	case 0xff:
		if len(p) < 9 {
			return 0, 0
		}
		return binary.LittleEndian.Uint64(p[1:]), 9
	}
	return uint64(p[0]), 1
}

// heardAt is when and from whom a hash was first heard.
type heardAt struct {
	when time.Time
	from string
}

// heardSet remembers the first hearing of up to max hashes, forgetting the
// oldest first: a bounded map and a ring of its keys in arrival order.
type heardSet struct {
	m    map[sha256d.Hash]heardAt
	ring []sha256d.Hash
	next int
}

func newHeardSet(max int) *heardSet {
	return &heardSet{m: make(map[sha256d.Hash]heardAt, max), ring: make([]sha256d.Hash, 0, max)}
}

// add records h unless it is known, and reports whether it was new.
func (s *heardSet) add(h sha256d.Hash, at heardAt) bool {
	if _, ok := s.m[h]; ok {
		return false
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, h)
	} else {
		delete(s.m, s.ring[s.next])
		s.ring[s.next] = h
		s.next = (s.next + 1) % len(s.ring)
	}
	s.m[h] = at
	return true
}

func (s *heardSet) get(h sha256d.Hash) (heardAt, bool) {
	at, ok := s.m[h]
	return at, ok
}
