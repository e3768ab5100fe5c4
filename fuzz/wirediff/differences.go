package wirediff

import (
	"bytes"
	"errors"
	"io"

	"github.com/renga-p2p/renga/wire"
)

// difference is one documented way in which Renga and btcd deliberately
// disagree. Each is listed, with its reason, in fuzz/README.md under the same
// name; a test checks that the README names every one and that each is
// exercised by a committed example.
type difference int

const (
	trailingBytes difference = iota
	versionOptionalFields
	lenientBooleans
	addrV2Skipped
	rejectLimits
	locatorLimit
	numDifferences
)

func (d difference) String() string {
	return [...]string{
		trailingBytes:         "trailing bytes",
		versionOptionalFields: "version without its optional fields",
		lenientBooleans:       "booleans other than 0 and 1",
		addrV2Skipped:         "addrv2 entries btcd skips",
		rejectLimits:          "reject strings over Bitcoin Core's limits",
		locatorLimit:          "locators over 101 hashes",
	}[d]
}

// rengaFailsWith returns Renga's error details if it wraps reason.
func rengaFailsWith(renga error, reason error) (*wire.MalformedError, bool) {
	var me *wire.MalformedError
	if errors.As(renga, &me) && errors.Is(renga, reason) {
		return me, true
	}
	return nil, false
}

// explains reports whether d accounts for the disagreement on payload. Where
// Renga refuses a form btcd accepts, the payload is reduced to what Renga would
// accept and judged again, so that the two must still agree on everything else.
func (d difference) explains(cmd string, payload []byte, renga error, btcd btcdResult) bool {
	switch d {
	case trailingBytes:
		// btcd stops reading when its message is complete; Renga requires the
		// payload to end there.
		return errors.Is(renga, wire.ErrTrailing) && btcd.err == nil && btcd.consumed < len(payload) &&
			judge(cmd, payload[:btcd.consumed]) == ""
	case versionOptionalFields:
		// btcd treats every field after addr_recv as optional (for peers older
		// than BIP37); Renga requires all of them. btcd fills in defaults when
		// it re-encodes, after the bytes that were there.
		me, ok := rengaFailsWith(renga, io.ErrUnexpectedEOF)
		return ok && cmd == wire.CmdVersion && me.Offset == len(payload) &&
			btcd.err == nil && btcd.consumed == len(payload) && bytes.HasPrefix(btcd.reencoded, payload)
	case lenientBooleans:
		// btcd reads any non-zero byte as true and writes it back as 1.
		me, ok := rengaFailsWith(renga, wire.ErrNonCanonical)
		if !ok || me.Field != "version.relay" || btcd.err != nil {
			return false
		}
		fixed := bytes.Clone(payload)
		fixed[me.Offset] = 1
		return judge(cmd, fixed) == ""
	case rejectLimits:
		// Bitcoin Core read the rejected command with a limit of 12 bytes and
		// the reason with 111; btcd reads strings of any length.
		me, ok := rengaFailsWith(renga, wire.ErrTooMany)
		return ok && cmd == wire.CmdReject && (me.Field == "reject.message" || me.Field == "reject.reason") &&
			btcd.err == nil && bytes.Equal(btcd.reencoded, payload[:btcd.consumed])
	case locatorLimit:
		// Bitcoin Core disconnects a peer whose locator has more than 101
		// hashes (MAX_LOCATOR_SZ); btcd allows 500.
		me, ok := rengaFailsWith(renga, wire.ErrTooMany)
		return ok && (me.Field == "getheaders.locator" || me.Field == "getblocks.locator") &&
			btcd.err == nil && bytes.Equal(btcd.reencoded, payload[:btcd.consumed])
	case addrV2Skipped:
		// btcd's decoder drops addrv2 entries it will not use (unknown
		// networks, I2P, CJDNS, OnionCat and IPv4-mapped addresses under the
		// IPv6 id). Renga's codec keeps every well-formed entry so that the
		// bytes round-trip; choosing addresses is the address book's job.
		if cmd != wire.CmdAddrV2 || renga != nil || btcd.err != nil || btcd.consumed != len(payload) {
			return false
		}
		var m wire.MsgAddrV2
		if m.Decode(bytes.Clone(payload)) != nil {
			return false
		}
		kept := m.Addrs[:0]
		for _, a := range m.Addrs {
			if btcdKeeps(a) {
				kept = append(kept, a)
			}
		}
		m.Addrs = kept
		want, err := m.AppendBinary(nil)
		return err == nil && bytes.Equal(want, btcd.reencoded)
	}
	return false
}

// btcdKeeps mirrors btcd's readNetAddressV2: which well-formed entries it returns.
func btcdKeeps(a wire.AddrV2) bool {
	switch a.Network {
	case wire.NetIPv4, wire.NetTorV2, wire.NetTorV3:
		return true
	case wire.NetIPv6:
		onionCat := bytes.HasPrefix(a.Addr, []byte{0xfd, 0x87, 0xd8, 0x7e, 0xeb, 0x43})
		v4Mapped := bytes.HasPrefix(a.Addr, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
		return !onionCat && !v4Mapped
	}
	return false
}
