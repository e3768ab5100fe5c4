//go:build !linux

package lab

import (
	"fmt"
	"syscall"
)

// ProbeShaping: no traffic control outside Linux.
func ProbeShaping() (Shaping, error) {
	return Shaping{}, fmt.Errorf("%w: network namespaces are Linux's", ErrNoNamespaces)
}

// NewLinkNetwork needs Linux's network namespaces.
func NewLinkNetwork(*Topology, int, Shaping) (Network, error) {
	return nil, fmt.Errorf("%w: network namespaces are Linux's", ErrNoNamespaces)
}

// NewLANNetwork needs Linux's network namespaces.
func NewLANNetwork(int, int) (Network, error) {
	return nil, fmt.Errorf("%w: network namespaces are Linux's", ErrNoNamespaces)
}

// procAttr: a node process in a process group of its own, so that Ctrl-C
// reaches only the lab, which stops the nodes in order.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// rssKiB: no /proc here.
func rssKiB(*labNode) (int, bool) { return 0, false }
