package sock

import (
	"errors"
	"fmt"
	"net/netip"
)

// MulticastOptions describe a UDP socket for LAN discovery: one IPv4 group on
// one interface. It is passed by value and not retained.
type MulticastOptions struct {
	// Interface is the name of the interface to join the group on and to
	// send from ("eth0", "lo"). Required: there is no default, because the
	// kernel's default is the route to the group, which may leave the machine.
	Interface string
	// Group is the IPv4 multicast address to join and the UDP port to bind.
	Group netip.AddrPort
	// ReceiveBuffer is SO_RCVBUF in bytes; zero keeps the kernel's default.
	ReceiveBuffer int
}

// Validate reports every problem with o, each wrapping [ErrInvalidOptions].
func (o MulticastOptions) Validate() error {
	var errs []error
	if o.Interface == "" {
		errs = append(errs, fmt.Errorf("%w: no interface named", ErrInvalidOptions))
	}
	if a := o.Group.Addr(); !a.Is4() || !a.IsMulticast() {
		errs = append(errs, fmt.Errorf("%w: group %v is not an IPv4 multicast address", ErrInvalidOptions, a))
	}
	if o.Group.Port() == 0 {
		errs = append(errs, fmt.Errorf("%w: group port is zero", ErrInvalidOptions))
	}
	errs = append(errs, validBuffer("ReceiveBuffer", o.ReceiveBuffer))
	return errors.Join(errs...)
}
