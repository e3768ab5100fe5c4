package p2p

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/discover"
	"github.com/renga-p2p/renga/net/sock/nstest"
)

// TestDiscoveryConnects: three servers on one loopback interface, none given
// an address, find each other by multicast and connect; one records its
// traffic, and its capture holds the beacons it sent and heard as UDP and the
// handshakes as TCP. In a private network namespace.
func TestDiscoveryConnects(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	var file bytes.Buffer
	rec, err := capture.NewRecorder(&file, capture.RecorderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	disc := &discover.Config{Interface: "lo", MinInterval: time.Second, MaxInterval: 2 * time.Second}
	var nodes []*testNode
	for i := range 3 {
		nodes = append(nodes, startNode(t, chaintest.New(t, chain.Devnet), func(c *Config) {
			c.Discovery = disc
			if i == 0 {
				c.Capture = rec
			}
		}))
	}
	for i, n := range nodes {
		n.waitUntil(fmt.Sprintf("node %d connected to both others", i), func() bool { return len(n.srv.Peers()) >= 2 })
	}
	nodes[0].stop()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("RENGA_KEEP_CAPTURE") != "" {
		_ = os.WriteFile(filepath.Join(os.TempDir(), "discovery.pcapng"), file.Bytes(), 0o644)
	}

	r, err := capture.NewReader(&file)
	if err != nil {
		t.Fatal(err)
	}
	dec := capture.NewDecoder(capture.DecoderConfig{})
	var recs []capture.Record
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = dec.Feed(p, recs)
	}
	recs = dec.Flush(recs)
	count := map[string]int{}
	for _, r := range recs {
		key := r.Command + " " + r.Direction.String()
		if r.Command == "beacon" && r.Dst != netip.MustParseAddrPort("239.255.82.71:28334") {
			t.Errorf("beacon to %s, not the group", r.Dst)
		}
		count[key]++
	}
	t.Logf("recorded: %v", count)
	for _, want := range []string{"beacon out", "beacon in", "version out", "version in", "verack in", "verack out"} {
		if count[want] == 0 {
			t.Errorf("the capture holds no %q", want)
		}
	}
}
