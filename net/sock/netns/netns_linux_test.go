package netns

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/renga-p2p/renga/net/sock/nstest"
)

// TestBridgeBetweenNamespaces: two namespaces joined through a bridge in the
// test's own namespace; a listener in one is reached from the other, and a
// process started in one sees only its interfaces.
func TestBridgeBetweenNamespaces(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.RequireLinkType(t, "veth")
	nstest.RequireLinkType(t, "bridge")
	nstest.IP(t, "link", "add", "br0", "type", "bridge")
	nstest.IP(t, "link", "set", "br0", "up")
	var nss []*Namespace
	for i, ip := range []string{"10.9.0.1/24", "10.9.0.2/24"} {
		ns, err := New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ns.Close() })
		host := []string{"ve0", "ve1"}[i]
		nstest.IP(t, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns.Path())
		nstest.IP(t, "link", "set", host, "master", "br0", "up")
		for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", ip, "dev", "eth0"}, {"link", "set", "eth0", "up"}} {
			if err := ns.IP(args...); err != nil {
				t.Fatal(err)
			}
		}
		nss = append(nss, ns)
	}
	var ln net.Listener
	if err := nss[0].Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "10.9.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }() // the test is over
	go func() {
		if c, err := ln.Accept(); err == nil {
			_, _ = c.Write([]byte("hi"))
			_ = c.Close()
		}
	}()
	c, err := nss[1].DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
	_ = c.Close()
	// The test's own namespace has no 10.9.0.0/24 address: the listener is
	// not reachable from here.
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("dialed a namespace's address from outside it")
	}
	cmd := exec.Command("ip", "-o", "-4", "addr", "show")
	var out []byte
	if err := nss[1].Do(func() error {
		var err error
		out, err = cmd.Output()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := string(out); !strings.Contains(got, "10.9.0.2/24") || strings.Contains(got, "10.9.0.1/24") {
		t.Fatalf("a process in namespace 1 sees:\n%s", got)
	}
}
