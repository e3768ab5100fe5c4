//go:build !linux

package main

import (
	"errors"
	"fmt"
	"syscall"
)

func newNamespaceNetwork(int) (devnetNetwork, error) {
	return nil, fmt.Errorf("devnet: --netns: %w (network namespaces are Linux's)", errors.ErrUnsupported)
}

// nodeProcAttr: a node process in a process group of its own, so that Ctrl-C
// reaches only the devnet, which stops the nodes in order.
func nodeProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
