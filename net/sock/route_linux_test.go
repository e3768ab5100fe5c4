package sock

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/renga-p2p/renga/net/sock/nstest"
)

// TestDefaultRoute: the parser picks the up default route with the lowest
// metric and ignores the rest.
func TestDefaultRoute(t *testing.T) {
	const header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	tests := []struct {
		name, table, want string
	}{
		{"one", "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", "eth0"},
		{"lowest metric", "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
			"eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", "eth0"},
		{"not up", "eth0\t00000000\t0100000A\t0002\t0\t0\t100\t00000000\t0\t0\t0\n", ""},
		{"only a subnet", "eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", ""},
		{"a host route to 0.0.0.0", "eth0\t00000000\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n", ""},
		{"garbage", "what\never\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := defaultRoute(bufio.NewScanner(strings.NewReader(header + tt.table)))
			if tt.want == "" {
				if !errors.Is(err, ErrNoInterface) {
					t.Fatalf("got %q, %v; want ErrNoInterface", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestDefaultInterface, in a private namespace: none without a default
// route, the route's interface with one.
func TestDefaultInterface(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	if name, err := DefaultInterface(); !errors.Is(err, ErrNoInterface) {
		t.Fatalf("without a default route: %q, %v; want ErrNoInterface", name, err)
	}
	nstest.RequireLinkType(t, "veth")
	nstest.IP(t, "link", "add", "up0", "type", "veth", "peer", "name", "up1")
	nstest.IP(t, "addr", "add", "10.232.0.1/24", "dev", "up0")
	nstest.IP(t, "link", "set", "up0", "up")
	nstest.IP(t, "link", "set", "up1", "up")
	nstest.IP(t, "route", "add", "default", "via", "10.232.0.2", "dev", "up0")
	if name, err := DefaultInterface(); err != nil || name != "up0" {
		t.Fatalf("DefaultInterface = %q, %v; want up0", name, err)
	}
}
