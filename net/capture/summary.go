package capture

import (
	"fmt"
	"strings"
	"time"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

// summarize returns the one-line gist of a decoded message (without its
// command, which a record carries in its own column). Messages without a
// payload summarize to "".
func summarize(msg wire.Message) string {
	switch m := msg.(type) {
	case *wire.MsgVersion:
		relay := ""
		if !m.Relay {
			relay = " norelay"
		}
		return fmt.Sprintf("%d %s height=%d services=%s%s", m.ProtocolVersion, quoteAgent(m.UserAgent),
			m.StartHeight, services(m.Services), relay)
	case *wire.MsgPing:
		return fmt.Sprintf("nonce=%016x", m.Nonce)
	case *wire.MsgPong:
		return fmt.Sprintf("nonce=%016x", m.Nonce)
	case *wire.MsgInv:
		return invList(m.Inv)
	case *wire.MsgGetData:
		return invList(m.Inv)
	case *wire.MsgNotFound:
		return invList(m.Inv)
	case *wire.MsgHeaders:
		if len(m.Headers) == 0 {
			return "0"
		}
		return fmt.Sprintf("%d first=%s last=%s", len(m.Headers), m.Headers[0].Hash(), m.Headers[len(m.Headers)-1].Hash())
	case *wire.MsgGetHeaders:
		return locator(m.Locator, m.Stop)
	case *wire.MsgGetBlocks:
		return locator(m.Locator, m.Stop)
	case *wire.Block:
		return fmt.Sprintf("%s %d txs", m.Hash(), len(m.Txs))
	case *wire.Tx:
		w := ""
		if m.HasWitness() {
			w = " witness"
		}
		return fmt.Sprintf("%s %d in %d out%s", m.TxID(), len(m.Inputs), len(m.Outputs), w)
	case *wire.MsgAddr:
		if len(m.Addrs) == 0 {
			return "0"
		}
		return fmt.Sprintf("%d first=%s", len(m.Addrs), m.Addrs[0].Addr)
	case *wire.MsgAddrV2:
		if len(m.Addrs) == 0 {
			return "0"
		}
		if ap, ok := m.Addrs[0].AddrPort(); ok {
			return fmt.Sprintf("%d first=%s", len(m.Addrs), ap)
		}
		return fmt.Sprintf("%d first=network %d", len(m.Addrs), m.Addrs[0].Network)
	case *wire.MsgFeeFilter:
		return fmt.Sprintf("%d sat/kvB", m.FeeRate)
	case *wire.MsgReject:
		s := fmt.Sprintf("%s code=%#02x %q", m.Message, m.Code, m.Reason)
		if !m.Hash.IsZero() {
			s += " " + m.Hash.String()
		}
		return s
	case *wire.MsgSendCmpct:
		mode := "low-bandwidth"
		if m.Announce {
			mode = "high-bandwidth"
		}
		return fmt.Sprintf("%s version=%d", mode, m.Version)
	case *wire.MsgCmpctBlock:
		idx := make([]uint16, len(m.Prefilled))
		for i := range m.Prefilled {
			idx[i] = m.Prefilled[i].Index
		}
		s := fmt.Sprintf("%s %d txs: %d shortids, %d prefilled", m.Header.Hash(), len(m.ShortIDs)+len(m.Prefilled),
			len(m.ShortIDs), len(m.Prefilled))
		if len(idx) > 0 {
			s += " at " + indexList(idx)
		}
		return s + fmt.Sprintf(" nonce=%016x", m.Nonce)
	case *wire.MsgGetBlockTxn:
		s := fmt.Sprintf("%s %d indexes", m.BlockHash, len(m.Indexes))
		if len(m.Indexes) > 0 {
			s += ": " + indexList(m.Indexes)
		}
		return s
	case *wire.MsgBlockTxn:
		return fmt.Sprintf("%s %d txs", m.BlockHash, len(m.Txs))
	case *wire.MsgSendCmpr:
		names := make([]string, len(m.Codecs))
		for i, c := range m.Codecs {
			names[i] = c.String()
		}
		return fmt.Sprintf("codecs=%s min=%d", strings.Join(names, ","), m.MinSize)
	case *wire.MsgCmpr:
		return fmt.Sprintf("inner=%s %d→%d %s", m.Inner, m.Length, len(m.Data), m.Codec)
	}
	return "" // verack, getaddr, sendheaders, mempool, wtxidrelay, sendaddrv2: nothing to say
}

// maxIndexes is how many transaction indexes a summary lists before it
// counts the rest.
const maxIndexes = 8

// indexList lists a compact block's transaction indexes (absolute, as the
// wire package resolves the differential encoding): "0,3,17", or the first
// maxIndexes and "… (+N)".
func indexList(idx []uint16) string {
	var b strings.Builder
	for i, x := range idx[:min(len(idx), maxIndexes)] {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, x)
	}
	if len(idx) > maxIndexes {
		fmt.Fprintf(&b, ",… (+%d)", len(idx)-maxIndexes)
	}
	return b.String()
}

// quoteAgent shows a user agent as sent, with anything unprintable escaped.
func quoteAgent(s string) string {
	q := fmt.Sprintf("%q", s)
	if q[1:len(q)-1] == s && !strings.ContainsAny(s, " ") {
		return s
	}
	return q
}

var serviceNames = []struct {
	bit  uint64
	name string
}{
	{wire.SFNodeNetwork, "network"},
	{wire.SFNodeBloom, "bloom"},
	{wire.SFNodeWitness, "witness"},
	{wire.SFNodeNetworkLimited, "limited"},
	{wire.SFNodeCompress, "compress"},
}

// services names the service bits, with any others in hex.
func services(s uint64) string {
	if s == 0 {
		return "none"
	}
	var parts []string
	for _, n := range serviceNames {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
			s &^= n.bit
		}
	}
	if s != 0 {
		parts = append(parts, fmt.Sprintf("%#x", s))
	}
	return strings.Join(parts, "|")
}

// invList summarizes an inventory list: "3 (tx 2, block 1)", with the hash
// when there is exactly one entry.
func invList(inv []wire.InvVect) string {
	var order []wire.InvType
	counts := map[wire.InvType]int{}
	for _, v := range inv {
		if counts[v.Type] == 0 {
			order = append(order, v.Type)
		}
		counts[v.Type]++
	}
	parts := make([]string, len(order))
	for i, t := range order {
		parts[i] = fmt.Sprintf("%s %d", t, counts[t])
	}
	s := fmt.Sprintf("%d (%s)", len(inv), strings.Join(parts, ", "))
	if len(inv) == 0 {
		s = "0"
	}
	if len(inv) == 1 {
		s += " " + inv[0].Hash.String()
	}
	return s
}

func locator(loc []sha256d.Hash, stop sha256d.Hash) string {
	s := fmt.Sprintf("locator=%d", len(loc))
	if len(loc) > 0 {
		s += " first=" + loc[0].String()
	}
	if !stop.IsZero() {
		s += " stop=" + stop.String()
	}
	return s
}

// beaconSummary is the gist of a discovery datagram; its time is the
// sender's clock, in UTC to the millisecond.
func beaconSummary(b *wire.Beacon, signed bool) string {
	s := fmt.Sprintf("port=%d height=%d instance=%016x seq=%d time=%s magic=%s services=%s", b.Port, b.StartHeight, b.Instance,
		b.Sequence, time.UnixMilli(b.Time).UTC().Format("2006-01-02T15:04:05.000Z"), b.Magic, services(b.Services))
	if b.Query {
		s += " query"
	}
	if signed {
		s += " signed"
	}
	return s
}
