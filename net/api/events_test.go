package api

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/net/p2p"
	"github.com/renga-p2p/renga/wire"
)

// next waits for the next event on sub, failing the test after a while.
func next(t *testing.T, c <-chan Event, what string) Event {
	t.Helper()
	select {
	case ev, ok := <-c:
		if !ok {
			t.Fatalf("the stream ended before %s", what)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
	case <-t.Context().Done():
		t.Fatalf("no %s before the test ended", what)
	}
	return Event{}
}

// TestEventsStream follows GET /events over HTTP: a hello with the tip,
// then each mined block connected and the tip moving, in order; without
// the cookie it is refused; the server shuts down with a stream open.
func TestEventsStream(t *testing.T) {
	e := start(t)
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.addr+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /events without the cookie: HTTP %d", resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan Event, 64)
	done := make(chan error, 1)
	go func() {
		done <- e.client.Events(ctx, EventFilter{Kinds: []string{EventBlockConnected, EventTip}}, func(ev Event) error {
			select {
			case got <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	hello := next(t, got, "hello")
	if hello.Kind != EventHello || hello.Height != 0 || hello.Hash != e.h.Chain.Tip().Hash.String() {
		t.Fatalf("first event %+v, want a hello at the genesis block", hello)
	}
	blocks := e.h.Mine(3)
	for i, b := range blocks {
		c := next(t, got, "block-connected")
		tip := next(t, got, "tip")
		h := b.Header.Hash().String()
		if c.Kind != EventBlockConnected || c.Hash != h || c.Height != int32(i+1) || c.From != "" {
			t.Errorf("event %+v, want block %d connected, from nobody", c, i+1)
		}
		if tip.Kind != EventTip || tip.Hash != h || tip.Seq <= c.Seq {
			t.Errorf("event %+v, want the tip at block %d after it", tip, i+1)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Events after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Events did not return after its context ended")
	}
	// A bad filter is refused.
	err = e.client.Events(t.Context(), EventFilter{Kinds: []string{"weather"}}, func(Event) error { return nil })
	if err == nil {
		t.Error("an unknown kind was accepted")
	}
}

// TestEventsShutdown: an open stream does not hold the server's shutdown
// (which would wait out its 5 s deadline and fail).
func TestEventsShutdown(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	s, err := Listen(Config{Listen: "127.0.0.1:0", CookieFile: t.TempDir() + "/.cookie", Chain: h.Chain})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	c, err := NewClient(s.Addr(), s.cfg.CookieFile)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	streamed := make(chan error, 1)
	go func() {
		streamed <- c.Events(t.Context(), EventFilter{}, func(ev Event) error {
			if ev.Kind == EventHello {
				close(opened)
			}
			return nil
		})
	}()
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("no hello")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run with a stream open: %v (after %v)", err, time.Since(start))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	select {
	case err := <-streamed:
		if err == nil {
			t.Error("the stream ended by the server's shutdown reported no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client's stream did not end with the server")
	}
}

// frame builds a raw frame of cmd with payload.
func frame(cmd string, payload []byte) []byte {
	return wire.AppendRawFrame(nil, chain.Regtest.Magic, cmd, payload)
}

// TestEventsTap: the tap turns frames into message events only for those
// who ask (by command, sampled), notes the first hearing of each block and
// transaction hash and who sent it, and a block connected later carries
// that hearing.
func TestEventsTap(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	clock := time.Unix(1_700_000_000, 0)
	ev := NewEvents(EventsConfig{Chain: h.Chain, Now: func() time.Time { return clock }})
	all, err := ev.Subscribe(EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	invs, err := ev.Subscribe(EventFilter{Commands: []string{"inv"}})
	if err != nil {
		t.Fatal(err)
	}
	defer invs.Close()
	sampled, err := ev.Subscribe(EventFilter{Commands: []string{"*"}, Sample: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sampled.Close()
	for _, s := range []*Subscription{all, invs, sampled} {
		if hello := next(t, s.C, "hello"); hello.Kind != EventHello {
			t.Fatalf("first event %+v", hello)
		}
	}
	peerA := netip.MustParseAddrPort("10.200.0.2:18444")
	peerB := netip.MustParseAddrPort("10.200.0.6:18444")
	tapA := ev.Conn(clock, netip.AddrPort{}, peerA, false)
	tapB := ev.Conn(clock, netip.AddrPort{}, peerB, true)
	ev.Peer(p2p.PeerEvent{Connected: true, Addr: peerA})

	b := h.Next(nil, 0)
	raw, err := b.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	hash := b.Header.Hash()
	txid := sha256d.Sum([]byte("a transaction"))
	inv, _ := (&wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvWitnessBlock, Hash: hash}, {Type: wire.InvWTx, Hash: txid}}}).AppendBinary(nil)
	heardAt := clock.Add(time.Second)
	tapA.Received(heardAt, frame("inv", inv))
	tapB.Received(heardAt.Add(time.Second), frame("inv", inv)) // heard again: no new event
	tapB.Received(heardAt.Add(2*time.Second), frame("block", raw))
	tapA.Sent(heardAt, frame("getdata", inv))
	if _, err := h.Chain.ProcessBlock(b, raw); err != nil {
		t.Fatal(err)
	}

	want := []struct{ kind, peer, command string }{
		{EventPeerConnected, peerA.String(), ""},
		{EventBlockHeard, peerA.String(), "inv"},
		{EventTxHeard, peerA.String(), "inv"},
		{EventBlockConnected, "", ""},
		{EventTip, "", ""},
	}
	for _, w := range want {
		got := next(t, all.C, w.kind)
		if got.Kind != w.kind || got.Peer != w.peer || got.Command != w.command {
			t.Errorf("got %+v, want %s from %q by %q", got, w.kind, w.peer, w.command)
		}
		if got.Kind == EventBlockConnected && (got.From != peerA.String() || !got.Heard.Equal(heardAt) || got.Hash != hash.String()) {
			t.Errorf("block connected %+v: want heard from %s at %v", got, peerA, heardAt)
		}
	}
	// invs: the peer event, two inv messages and the hearings, no block or
	// getdata messages.
	var invCount int
	for range 7 {
		got := next(t, invs.C, "an event")
		if got.Kind == EventMsgSent || got.Kind == EventMsgReceived {
			if got.Command != "inv" {
				t.Errorf("the inv subscriber got a %s message", got.Command)
			}
			invCount++
		}
	}
	if invCount != 2 {
		t.Errorf("%d inv messages, want 2", invCount)
	}
	// sampled: every other of the four messages.
	var msgs int
	for range 7 {
		got := next(t, sampled.C, "an event")
		if got.Kind == EventMsgSent || got.Kind == EventMsgReceived {
			msgs++
		}
	}
	if msgs != 2 {
		t.Errorf("sampled 1 in 2 of 4 messages: got %d", msgs)
	}
	select {
	case got := <-all.C:
		t.Errorf("an unfiltered subscriber got a message event: %+v", got)
	default:
	}
}

// TestEventsBounded: a subscriber that does not read loses events and is
// told how many; a malformed announcement names nothing; the memory of
// hashes heard is bounded; subscribers are bounded.
func TestEventsBounded(t *testing.T) {
	h := chaintest.New(t, chain.Regtest)
	ev := NewEvents(EventsConfig{Chain: h.Chain, Buffer: 4, MaxSubscribers: 2, Remember: 8})
	slow, err := ev.Subscribe(EventFilter{Commands: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	other, err := ev.Subscribe(EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Subscribe(EventFilter{}); !errors.Is(err, ErrTooManySubscribers) {
		t.Errorf("a third subscriber: %v", err)
	}
	other.Close()
	other.Close() // twice is fine
	tap := ev.Conn(time.Now(), netip.AddrPort{}, netip.MustParseAddrPort("127.0.0.1:1"), false)
	for range 20 {
		tap.Received(time.Now(), frame("ping", make([]byte, 8)))
	}
	// hello + 3 pings fill the queue of 4; 17 are dropped.
	for i := range 4 {
		if got := next(t, slow.C, "a queued event"); i > 0 && got.Command != "ping" {
			t.Errorf("queued event %d: %+v", i, got)
		}
	}
	tap.Received(time.Now(), frame("pong", make([]byte, 8)))
	if got := next(t, slow.C, "the dropped notice"); got.Kind != EventDropped || got.Count != 17 {
		t.Errorf("after falling behind: %+v, want dropped 17", got)
	}
	if got := next(t, slow.C, "the pong"); got.Command != "pong" {
		t.Errorf("after the notice: %+v", got)
	}
	// An inv claiming more vectors than it has names nothing.
	bad := append([]byte{0xfd, 0xff, 0xff}, make([]byte, 36)...)
	tap.Received(time.Now(), frame("inv", bad))
	if got := next(t, slow.C, "the bad inv's message event"); got.Command != "inv" {
		t.Errorf("%+v", got)
	}
	// A hundred different block announcements: the hub remembers 8.
	for i := range 100 {
		inv, _ := (&wire.MsgInv{Inv: []wire.InvVect{{Type: wire.InvBlock, Hash: sha256d.Sum([]byte{byte(i)})}}}).AppendBinary(nil)
		tap.Received(time.Now(), frame("inv", inv))
	}
	ev.mu.Lock()
	n := len(ev.blocksHeard.m)
	ev.mu.Unlock()
	if n != 8 {
		t.Errorf("the hub remembers %d block hashes, want 8", n)
	}
}
