//go:build !linux

package sock

import (
	"errors"
	"time"
)

// PacketConn is Linux-only: elsewhere ListenPacket fails.
type PacketConn struct{}

// ListenPacket needs Linux's AF_PACKET sockets.
func ListenPacket(o PacketOptions) (*PacketConn, error) { return nil, errors.ErrUnsupported }

// Loopback reports nothing on this system.
func (c *PacketConn) Loopback() bool { return false }

// Ethernet reports nothing on this system.
func (c *PacketConn) Ethernet() bool { return false }

// ReadPacket is unsupported on this system.
func (c *PacketConn) ReadPacket(buf []byte) (PacketInfo, error) {
	return PacketInfo{}, errors.ErrUnsupported
}

// SetReadDeadline is unsupported on this system.
func (c *PacketConn) SetReadDeadline(t time.Time) error { return errors.ErrUnsupported }

// Close does nothing on this system.
func (c *PacketConn) Close() error { return nil }
