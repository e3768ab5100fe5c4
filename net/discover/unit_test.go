package discover

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/wire"
)

// TestLimiter: a bucket of size tokens per period for each source, refilled
// continuously, sources independent, the table bounded.
func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	l := newLimiter(4, 10*time.Second)
	for i := range 4 {
		if !l.allow(a, t0) {
			t.Fatalf("datagram %d of a burst of 4 refused", i)
		}
	}
	if l.allow(a, t0) {
		t.Fatal("fifth datagram of the burst allowed")
	}
	if !l.allow(b, t0) {
		t.Fatal("another source refused")
	}
	if l.allow(a, t0.Add(2*time.Second)) {
		t.Fatal("allowed after 2 s (0.8 tokens)")
	}
	if !l.allow(a, t0.Add(2500*time.Millisecond)) {
		t.Fatal("refused after 2.5 s (1 token)")
	}
	// Refused datagrams cost nothing: 10 s later the bucket is full again.
	for i := range 4 {
		if !l.allow(a, t0.Add(time.Minute)) {
			t.Fatalf("datagram %d refused a minute later", i)
		}
	}

	// The table of sources is bounded; idle sources make room.
	l = newLimiter(4, 10*time.Second)
	for i := range maxSources {
		l.allow(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), t0)
	}
	if l.allow(a, t0.Add(time.Second)) {
		t.Fatal("a new source allowed while the table is full of busy ones")
	}
	if !l.allow(a, t0.Add(10*time.Second)) || len(l.buckets) != 1 {
		t.Fatalf("a new source refused once the others are idle (%d buckets)", len(l.buckets))
	}
}

// TestConfig: defaults fill zero fields; Validate lists every problem.
func TestConfig(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Group != netip.MustParseAddrPort("239.255.82.71:28334") || c.MinInterval != 15*time.Second ||
		c.MaxInterval != 30*time.Second || c.AnswerGap != time.Second || c.Services != wire.SFNodeNetwork|wire.SFNodeWitness ||
		c.SourceLimit != 32 || c.MaxPeers != 256 || c.ReplayWindow != time.Minute || c.Logger == nil || c.BestHeight() != 0 ||
		c.expireAfter() != 90*time.Second {
		t.Errorf("defaults %+v", c)
	}
	if c := (Config{MinInterval: time.Minute}).withDefaults(); c.MaxInterval != time.Minute {
		t.Errorf("MinInterval 1 m alone gives MaxInterval %v, want 1 m", c.MaxInterval)
	}
	if err := testConfig().Validate(); err != nil {
		t.Errorf("a good config: %v", err)
	}

	tests := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"zero", func(c *Config) { *c = Config{} }, []string{"magic", "genesis", "TCP port"}},
		{"IPv6 group", func(c *Config) { c.Group = netip.MustParseAddrPort("[ff02::1]:28334") }, []string{"group"}},
		{"unicast group", func(c *Config) { c.Group = netip.MustParseAddrPort("10.0.0.1:28334") }, []string{"group"}},
		{"group port 0", func(c *Config) { c.Group = netip.MustParseAddrPort("239.1.1.1:0") }, []string{"group"}},
		{"max below min", func(c *Config) { c.MinInterval, c.MaxInterval = 10*time.Second, 5*time.Second }, []string{"intervals"}},
		{"negative", func(c *Config) { c.AnswerGap, c.SourceLimit, c.MaxPeers, c.ReplayWindow = -1, -1, -1, -1 },
			[]string{"AnswerGap", "SourceLimit", "MaxPeers", "ReplayWindow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.edit(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate: %v, want ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if _, err := New(c); !errors.Is(err, ErrConfig) {
				t.Errorf("New: %v, want ErrConfig", err)
			}
		})
	}
}

// TestNewInstance: a zero Instance becomes a random, non-zero one; the
// secret is copied.
func TestNewInstance(t *testing.T) {
	cfg := testConfig()
	cfg.Instance = 0
	secret := []byte("secret")
	cfg.Secret = secret
	a, _ := New(cfg)
	b, _ := New(cfg)
	if a.Instance() == 0 || a.Instance() == b.Instance() {
		t.Errorf("instances %x, %x: want random, non-zero", a.Instance(), b.Instance())
	}
	secret[0] = 'X'
	if string(a.cfg.Secret) != "secret" {
		t.Error("New kept the caller's secret slice")
	}
}

// TestNames: every reason and kind has a name.
func TestNames(t *testing.T) {
	for r := range NumDropReasons {
		if strings.HasPrefix(r.String(), "DropReason(") {
			t.Errorf("reason %d has no name", r)
		}
	}
	for _, k := range []EventKind{PeerNew, PeerUpdated, PeerExpired} {
		if strings.HasPrefix(k.String(), "EventKind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
}
