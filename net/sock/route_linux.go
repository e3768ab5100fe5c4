package sock

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// DefaultInterface returns the name of the interface of the IPv4 default
// route (the one with the lowest metric), read from /proc/net/route in the
// caller's network namespace. It is the interface a node on a LAN means when
// its user names none, and so where cmd/renga may point discovery; the
// choice is then explicit and can be logged. Tests must not use it: on a
// development machine it names the interface that leaves the machine. With
// no default route it returns an error wrapping [ErrNoInterface].
func DefaultInterface() (string, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return "", fmt.Errorf("sock: default interface: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only
	return defaultRoute(bufio.NewScanner(f))
}

// defaultRoute picks the default route's interface from the lines of
// /proc/net/route: a header, then "Iface Destination Gateway Flags RefCnt
// Use Metric Mask ...", addresses in hex.
func defaultRoute(s *bufio.Scanner) (string, error) {
	const rtfUp = 0x1
	best, bestMetric := "", uint64(0)
	s.Scan() // the header
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		metric, err2 := strconv.ParseUint(f[6], 10, 32)
		if err1 != nil || err2 != nil || flags&rtfUp == 0 {
			continue
		}
		if best == "" || metric < bestMetric {
			best, bestMetric = f[0], metric
		}
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("sock: default interface: %w", err)
	}
	if best == "" {
		return "", fmt.Errorf("%w: no IPv4 default route", ErrNoInterface)
	}
	return best, nil
}
