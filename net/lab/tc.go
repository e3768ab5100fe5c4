package lab

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrNoNetem: the kernel has no netem queueing discipline
// (CONFIG_NET_SCH_NETEM), so links can get no delay, jitter or loss; a rate
// limit still works through tbf. It wraps errors.ErrUnsupported.
var ErrNoNetem = fmt.Errorf("lab: the kernel has no netem (CONFIG_NET_SCH_NETEM): no link delay, jitter or loss: %w", errors.ErrUnsupported)

// Shaping is what the kernel can do to a link's packets, probed once.
type Shaping struct {
	Netem bool // delay, jitter, loss and rate through netem
	TBF   bool // a rate limit through tbf
}

// Supports returns the part of c that this kernel can apply and, when that
// is less than c, an error that wraps ErrNoNetem and says what is dropped.
func (s Shaping) Supports(c Conditions) (Conditions, error) {
	if s.Netem {
		return c, nil
	}
	got := Conditions{}
	if s.TBF {
		got.Rate = c.Rate
	}
	if got != c {
		return got, fmt.Errorf("link %s applied as %s: %w", c, got, ErrNoNetem)
	}
	return got, nil
}

// qdiscArgs is the tc command that gives device dev the conditions c on
// its egress, replacing what it had: netem when the kernel has it (netem
// also limits the rate), else tbf for a rate alone, else deleting the root
// qdisc for plain conditions. Applied on both ends of a veth pair it shapes
// both directions of a link.
func (s Shaping) qdiscArgs(dev string, c Conditions) ([]string, error) {
	c, err := s.Supports(c)
	if err != nil && !errors.Is(err, ErrNoNetem) {
		return nil, err
	}
	if c.IsZero() {
		return []string{"qdisc", "del", "dev", dev, "root"}, nil
	}
	if s.Netem {
		args := []string{"qdisc", "replace", "dev", dev, "root", "netem"}
		// netem's default queue holds 1,000 packets: at a 20 ms delay and
		// gigabit speed that caps a flow at 600 Mbit/s; block downloads
		// between local namespaces go faster, so give it room.
		args = append(args, "limit", "100000")
		if c.Delay > 0 || c.Jitter > 0 {
			args = append(args, "delay", tcTime(c.Delay))
			if c.Jitter > 0 {
				// Uniform within ±jitter: netem's other distributions need
				// tables (/usr/lib/tc/*.dist) that not every iproute2 has.
				args = append(args, tcTime(c.Jitter))
			}
		}
		if c.Loss > 0 {
			args = append(args, "loss", strconv.FormatFloat(c.Loss, 'f', -1, 64)+"%")
		}
		if c.Rate > 0 {
			args = append(args, "rate", strconv.FormatUint(c.Rate, 10)+"bit")
		}
		return args, nil
	}
	// tbf: the bucket holds 10 ms at the rate (at least a 64 KiB burst, so
	// that GSO super-packets pass), and packets wait at most 200 ms.
	burst := max(c.Rate/8/100, 64<<10)
	return []string{"qdisc", "replace", "dev", dev, "root", "tbf", "rate", strconv.FormatUint(c.Rate, 10) + "bit",
		"burst", strconv.FormatUint(burst, 10), "latency", "200ms"}, nil
}

// tcTime writes a duration in microseconds, which tc reads exactly.
func tcTime(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) + "us" }
