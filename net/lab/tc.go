package lab

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoNetem: the kernel has no netem queueing discipline
// (CONFIG_NET_SCH_NETEM), so links can get no delay or jitter; a rate
// limit still works through tbf, and loss through nftables where the nft
// command is installed. It wraps errors.ErrUnsupported.
var ErrNoNetem = fmt.Errorf("lab: the kernel has no netem (CONFIG_NET_SCH_NETEM): no link delay or jitter, loss only through nftables: %w", errors.ErrUnsupported)

// Shaping is what the kernel can do to a link's packets, probed once.
type Shaping struct {
	Netem bool // delay, jitter, loss and rate through netem
	TBF   bool // a rate limit through tbf
	// NFT: random loss through an nftables rule on each end's ingress
	// (numgen random), used for loss only where there is no netem.
	NFT bool
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
	if s.NFT {
		got.Loss = c.Loss
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
	if !s.Netem {
		c.Loss = 0 // nftables' business: see lossRuleset
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

// lossRuleset is the nftables ruleset that drops, on arrival at a node,
// the given share of the packets of each of its devices (percent), or
// removes it when there are none: where the kernel has no netem, loss is
// applied on each end's ingress, so that the sender never knows (a drop on
// output would fail the send). The table is replaced whole, atomically.
func lossRuleset(loss map[string]float64) string {
	var b strings.Builder
	// Declaring the table first makes the delete succeed on a fresh
	// namespace.
	b.WriteString("table inet renga_lab\ndelete table inet renga_lab\n")
	if len(loss) == 0 {
		return b.String()
	}
	b.WriteString("table inet renga_lab {\n\tchain in {\n\t\ttype filter hook prerouting priority -300; policy accept;\n")
	devs := slices.Sorted(maps.Keys(loss))
	for _, dev := range devs {
		// In millionths: loss is given to at most four decimals.
		if n := int(math.Round(loss[dev] * 1e4)); n < 1e6 {
			fmt.Fprintf(&b, "\t\tiifname %q numgen random mod 1000000 < %d drop\n", dev, n)
		} else {
			fmt.Fprintf(&b, "\t\tiifname %q drop\n", dev)
		}
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}
