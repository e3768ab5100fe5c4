//go:build !linux

package interop

import (
	"errors"
	"syscall"
)

// setRcvBuf returns a net.Dialer Control function that fails: the slow
// reader is set up only on Linux, where these tests run.
func setRcvBuf(int, *int) func(network, address string, c syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error {
		return errors.ErrUnsupported
	}
}
