package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"syscall"

	"github.com/renga-p2p/renga/net/sock/netns"
)

// namespaceNetwork puts each devnet node in a network namespace of its own,
// with an eth0 of address 10.82.0.I/24 joined by a veth pair to a bridge in
// one more namespace: a LAN that exists only inside this machine.
type namespaceNetwork struct {
	hub   *netns.Namespace
	nodes []*netns.Namespace
}

func newNamespaceNetwork(n int) (_ devnetNetwork, err error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("devnet: --netns needs the ip command (Debian package iproute2)")
	}
	hub, err := netns.New()
	if err != nil {
		return nil, fmt.Errorf("devnet: --netns needs root: %w", err)
	}
	nw := &namespaceNetwork{hub: hub}
	defer func() {
		if err != nil {
			err = errors.Join(err, nw.close())
		}
	}()
	if err := hub.IP("link", "add", "rg0", "type", "bridge"); err != nil {
		return nil, err
	}
	if err := hub.IP("link", "set", "rg0", "up"); err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		ns, err := netns.New()
		if err != nil {
			return nil, err
		}
		nw.nodes = append(nw.nodes, ns)
		veth := fmt.Sprintf("rgv%d", i)
		steps := []struct {
			in   *netns.Namespace
			args []string
		}{
			{hub, []string{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns.Path()}},
			{hub, []string{"link", "set", veth, "master", "rg0", "up"}},
			{ns, []string{"link", "set", "lo", "up"}},
			{ns, []string{"addr", "add", nw.address(i) + "/24", "dev", "eth0"}},
			{ns, []string{"link", "set", "eth0", "up"}},
		}
		for _, s := range steps {
			if err := s.in.IP(s.args...); err != nil {
				return nil, fmt.Errorf("devnet: node %d's network: %w", i, err)
			}
		}
	}
	return nw, nil
}

func (nw *namespaceNetwork) address(i int) string { return fmt.Sprintf("10.82.0.%d", i) }

func (nw *namespaceNetwork) start(i int, cmd *exec.Cmd) error { return nw.nodes[i-1].Start(cmd) }

func (nw *namespaceNetwork) dialer(i int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return nw.nodes[i-1].DialContext
}

func (nw *namespaceNetwork) discoverIface() string { return "eth0" }

func (nw *namespaceNetwork) close() error {
	errs := []error{nw.hub.Close()}
	for _, ns := range nw.nodes {
		errs = append(errs, ns.Close())
	}
	return errors.Join(errs...)
}

// nodeProcAttr: a node process in a process group of its own, so that Ctrl-C
// reaches only the devnet, which stops the nodes in order; and killed if the
// devnet dies, so that none outlives it.
func nodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
