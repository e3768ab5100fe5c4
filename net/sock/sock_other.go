//go:build !linux

package sock

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// The node's sockets are built for Linux (design.md §6); elsewhere the
// package compiles so that its importers do, and every call fails.

func ListenTCP(ctx context.Context, network, address string, o TCPOptions) (*net.TCPListener, error) {
	return nil, fmt.Errorf("sock: listen: %w", errors.ErrUnsupported)
}

func DialTCP(ctx context.Context, network, address string, o TCPOptions) (*net.TCPConn, error) {
	return nil, fmt.Errorf("sock: dial: %w", errors.ErrUnsupported)
}

func Dialer(network string, o TCPOptions) (*net.Dialer, error) {
	return nil, fmt.Errorf("sock: dialer: %w", errors.ErrUnsupported)
}

func ListenMulticastUDP(ctx context.Context, o MulticastOptions) (*net.UDPConn, error) {
	return nil, fmt.Errorf("sock: multicast: %w", errors.ErrUnsupported)
}

func ListenMulticast(ctx context.Context, o MulticastOptions) (*MulticastConn, error) {
	return nil, fmt.Errorf("sock: multicast: %w", errors.ErrUnsupported)
}

func (c *MulticastConn) ReadDatagram(b []byte) (Datagram, error) {
	return Datagram{}, fmt.Errorf("sock: multicast: %w", errors.ErrUnsupported)
}

func DefaultInterface() (string, error) {
	return "", fmt.Errorf("sock: default interface: %w", errors.ErrUnsupported)
}
