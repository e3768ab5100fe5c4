package interop

import "syscall"

// setRcvBuf returns a net.Dialer Control function that sets the socket's
// SO_RCVBUF to size and stores in got what the kernel made of it (Linux
// doubles the value asked for, for its bookkeeping, and clamps it to
// net.core.rmem_max).
func setRcvBuf(size int, got *int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			if err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size); err != nil {
				return
			}
			*got, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		}); cerr != nil {
			return cerr
		}
		return err
	}
}
