package sock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Live capture (renga capture): an AF_PACKET socket of type SOCK_RAW bound to
// one interface, with a classic BPF program attached before it is bound, so
// that not a single unfiltered packet is queued. The socket is non-blocking
// and registered with the runtime poller through an *os.File, so reads honour
// deadlines and Close wakes a blocked reader.

// PacketConn is an AF_PACKET socket capturing on one interface. Its methods
// are safe for concurrent use; a PacketConn has one reader.
type PacketConn struct {
	f        *os.File
	rc       syscall.RawConn
	ifindex  int
	loopback bool
	hatype   uint16
	closed   atomic.Bool // the runtime's "file closing" error is not os.ErrClosed
}

// ARPHRD_ values of the link types a PacketConn delivers as Ethernet frames.
const (
	arphrdEther    = 1
	arphrdLoopback = 772
)

// ListenPacket opens an AF_PACKET socket on o.Interface with o.Filter
// attached (SO_ATTACH_FILTER) before binding, and SO_TIMESTAMPNS on. It needs
// CAP_NET_RAW (root) in the interface's network namespace.
func ListenPacket(o PacketOptions) (*PacketConn, error) {
	if o.Interface == "" {
		return nil, fmt.Errorf("sock: packet: %w: no interface named", ErrInvalidOptions)
	}
	if len(o.Filter) > 4096 { // BPF_MAXINSNS
		return nil, fmt.Errorf("sock: packet: %w: filter of %d instructions", ErrInvalidOptions, len(o.Filter))
	}
	if o.ReceiveBuffer == 0 {
		o.ReceiveBuffer = 4 << 20
	}
	ifc, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return nil, fmt.Errorf("%w: %s (%v)", ErrNoInterface, o.Interface, err)
	}
	// Protocol 0: the socket receives nothing until bind names ETH_P_ALL,
	// by which time the filter is in place.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sock: packet: %w", os.NewSyscallError("socket", err))
	}
	c, err := setUpPacket(fd, ifc, o)
	if err != nil {
		_ = unix.Close(fd) // the set-up error is the one to report
		return nil, err
	}
	return c, nil
}

func setUpPacket(fd int, ifc *net.Interface, o PacketOptions) (*PacketConn, error) {
	if len(o.Filter) > 0 {
		prog := make([]unix.SockFilter, len(o.Filter))
		for i, ins := range o.Filter {
			prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
			return nil, fmt.Errorf("sock: packet: %w", os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err))
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.ReceiveBuffer); err != nil {
		return nil, fmt.Errorf("sock: packet: %w", os.NewSyscallError("setsockopt SO_RCVBUF", err))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return nil, fmt.Errorf("sock: packet: %w", os.NewSyscallError("setsockopt SO_TIMESTAMPNS", err))
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("sock: packet: %s: %w", ifc.Name, os.NewSyscallError("bind", err))
	}
	c := &PacketConn{ifindex: ifc.Index, loopback: ifc.Flags&net.FlagLoopback != 0}
	if name, err := unix.Getsockname(fd); err == nil {
		if ll, ok := name.(*unix.SockaddrLinklayer); ok {
			c.hatype = ll.Hatype
		}
	}
	// A non-blocking descriptor given to os.NewFile joins the runtime poller.
	c.f = os.NewFile(uintptr(fd), "packet:"+ifc.Name)
	rc, err := c.f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("sock: packet: %w", err)
	}
	c.rc = rc
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Loopback reports whether the interface is a loopback interface, where
// every packet is captured twice (see [PacketOutgoing]).
func (c *PacketConn) Loopback() bool { return c.loopback }

// Ethernet reports whether packets come with Ethernet headers (an Ethernet
// or loopback interface), which is what the capture decoder and the port
// filter assume.
func (c *PacketConn) Ethernet() bool {
	return c.hatype == arphrdEther || c.hatype == arphrdLoopback
}

// ReadPacket reads one packet into buf, blocking until one arrives, the
// deadline passes (an error wrapping os.ErrDeadlineExceeded) or the socket
// is closed (os.ErrClosed). A packet longer than buf is cut; info.Length
// says how long it was.
func (c *PacketConn) ReadPacket(buf []byte) (PacketInfo, error) {
	var (
		info PacketInfo
		oob  [64]byte
		rerr error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		var oobn int
		var from unix.Sockaddr
		// MSG_TRUNC makes a packet socket return the real length of a packet
		// that did not fit.
		info.Length, oobn, _, from, rerr = unix.Recvmsg(int(fd), buf, oob[:], unix.MSG_TRUNC)
		if rerr == unix.EAGAIN {
			return false
		}
		if rerr != nil {
			return true
		}
		info.N = min(info.Length, len(buf))
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			info.Type, info.Protocol = PacketType(ll.Pkttype), htons(ll.Protocol)
		}
		info.Time = packetTime(oob[:oobn])
		return true
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		if c.closed.Load() {
			return PacketInfo{}, fmt.Errorf("sock: packet: %w", os.ErrClosed)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return PacketInfo{}, fmt.Errorf("sock: packet: %w", err)
		}
		return PacketInfo{}, fmt.Errorf("sock: packet: %w", os.NewSyscallError("recvmsg", err))
	}
	return info, nil
}

// packetTime finds the SCM_TIMESTAMPNS control message; without one the
// packet gets the time it was read.
func packetTime(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Now()
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS {
			continue
		}
		// struct timespec: two native longs (read without assuming alignment).
		switch d := m.Data; {
		case unsafe.Sizeof(unix.Timespec{}) == 16 && len(d) >= 16:
			return time.Unix(int64(binary.NativeEndian.Uint64(d)), int64(binary.NativeEndian.Uint64(d[8:])))
		case unsafe.Sizeof(unix.Timespec{}) == 8 && len(d) >= 8:
			return time.Unix(int64(int32(binary.NativeEndian.Uint32(d))), int64(int32(binary.NativeEndian.Uint32(d[4:]))))
		}
	}
	return time.Now()
}

// SetReadDeadline sets the deadline for ReadPacket; the zero time means none.
func (c *PacketConn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// Close closes the socket, waking a ReadPacket blocked on it.
func (c *PacketConn) Close() error {
	c.closed.Store(true)
	return c.f.Close()
}
