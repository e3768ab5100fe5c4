//go:build !linux

package lab

import "fmt"

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
