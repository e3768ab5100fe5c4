package addrbook

import (
	"net/netip"
	"testing"
)

func TestGroupOf(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string
		same       bool
		group      string
	}{
		{"IPv4 same /16", "1.2.3.4", "1.2.200.9", true, "1.2.0.0/16"},
		{"IPv4 other /16", "1.2.3.4", "1.3.3.4", false, "1.2.0.0/16"},
		{"IPv4-mapped is IPv4", "::ffff:1.2.3.4", "1.2.9.9", true, "1.2.0.0/16"},
		{"IPv6 same /32", "2a01:4f8:1::1", "2a01:4f8:ffff::2", true, "2a01:4f8::/32"},
		{"IPv6 other /32", "2a01:4f8:1::1", "2a01:4f9:1::1", false, "2a01:4f8::/32"},
		{"he.net /36", "2001:470:1000::1", "2001:470:1fff::1", true, "2001:470:1000::/36"},
		{"he.net other /36", "2001:470:1000::1", "2001:470:2000::1", false, "2001:470:1000::/36"},
		{"6to4 is its IPv4", "2002:0102:0304::1", "1.2.7.7", true, "1.2.0.0/16"},
		{"Teredo is its IPv4", "2001:0:4136:e378:8000:63bf:fefd:fcfb", "1.2.3.4", true, "1.2.0.0/16"},
		{"NAT64 is its IPv4", "64:ff9b::102:304", "1.2.0.1", true, "1.2.0.0/16"},
		{"loopback ports aside, each IP its own", "127.0.0.1", "127.0.0.2", false, "local 127.0.0.1"},
		{"LAN hosts each their own", "192.168.1.7", "192.168.1.8", false, "local 192.168.1.7"},
		{"CGNAT each its own", "100.64.0.1", "100.64.0.2", false, "local 100.64.0.1"},
		{"ULA each its own", "fd00::1", "fd00::2", false, "local fd00::1"},
		{"link-local each its own", "fe80::1", "fe80::2", false, "local fe80::1"},
		{"unroutable together", "203.0.113.5", "240.0.0.1", true, "unroutable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ga, gb := GroupOf(netip.MustParseAddr(tc.a)), GroupOf(netip.MustParseAddr(tc.b))
			if (ga == gb) != tc.same {
				t.Errorf("GroupOf(%s) = %v, GroupOf(%s) = %v; want same = %v", tc.a, ga, tc.b, gb, tc.same)
			}
			if ga.String() != tc.group {
				t.Errorf("GroupOf(%s) = %q, want %q", tc.a, ga, tc.group)
			}
		})
	}
}

func TestLocalAndRoutable(t *testing.T) {
	for _, tc := range []struct {
		a               string
		local, routable bool
	}{
		{"1.2.3.4", false, true},
		{"8.8.8.8", false, true},
		{"::ffff:8.8.8.8", false, true},
		{"2a01:4f8::1", false, true},
		{"2002:0102:0304::1", false, true},
		{"2002:0a00:0001::1", false, false}, // 6to4 of 10.0.0.1
		{"127.0.0.1", true, false},
		{"127.9.9.9", true, false},
		{"::1", true, false},
		{"10.1.2.3", true, false},
		{"172.16.0.1", true, false},
		{"172.31.255.1", true, false},
		{"172.32.0.1", false, true},
		{"192.168.0.1", true, false},
		{"100.64.0.1", true, false},
		{"100.127.255.255", true, false},
		{"100.128.0.1", false, true},
		{"169.254.1.1", true, false},
		{"fe80::1", true, false},
		{"fd12:3456::1", true, false},
		{"0.0.0.0", false, false},
		{"0.1.2.3", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"239.1.2.3", false, false},
		{"255.255.255.255", false, false},
		{"240.0.0.1", false, false},
		{"192.0.2.1", false, false},
		{"198.51.100.1", false, false},
		{"203.0.113.1", false, false},
		{"198.18.0.1", false, false},
		{"192.0.0.8", false, false},
		{"2001:db8::1", false, false},
		{"2001:10::1", false, false},
		{"2001:20::1", false, false},
		{"ff02::1", false, false},
		{"::1.2.3.4", false, false}, // IPv4-compatible, deprecated
		{"100::1", false, false},
	} {
		t.Run(tc.a, func(t *testing.T) {
			a := netip.MustParseAddr(tc.a)
			if got := IsLocal(a); got != tc.local {
				t.Errorf("IsLocal = %v, want %v", got, tc.local)
			}
			if got := IsRoutable(a); got != tc.routable {
				t.Errorf("IsRoutable = %v, want %v", got, tc.routable)
			}
		})
	}
	if IsLocal(netip.Addr{}) || IsRoutable(netip.Addr{}) {
		t.Error("the zero Addr is local or routable")
	}
}
