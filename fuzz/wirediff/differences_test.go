package wirediff

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/renga-p2p/renga/crypto/sha256d"
	"github.com/renga-p2p/renga/wire"
)

func mustEncode(t *testing.T, m wire.Message) []byte {
	t.Helper()
	p, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEveryDifferenceIsReal gives each documented difference an input on which
// the implementations really disagree, checks that exactly that difference
// explains it, and checks that fuzz/README.md documents it.
func TestEveryDifferenceIsReal(t *testing.T) {
	seeds := seedMessages()
	version := mustEncode(t, seeds[0])
	locator := make([]byte, 4, 4+3+500*32+32)
	locator = wire.AppendVarint(locator, 500)
	locator = append(locator, make([]byte, 500*32+32)...)

	examples := []struct {
		diff    difference
		cmd     string
		payload []byte
	}{
		{trailingBytes, wire.CmdPing, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{versionOptionalFields, wire.CmdVersion, version[:4+8+8+26]},
		{lenientBooleans, wire.CmdVersion, append(bytes.Clone(version[:len(version)-1]), 7)},
		{addrV2Skipped, wire.CmdAddrV2, mustEncode(t, &wire.MsgAddrV2{Addrs: []wire.AddrV2{
			{Time: 1, Services: 1, Network: wire.NetI2P, Addr: make([]byte, 32), Port: 1}}})},
		{rejectLimits, wire.CmdReject, append(wire.AppendVarBytes(nil, []byte("averylongcommand")), 1, 0)},
		{locatorLimit, wire.CmdGetHeaders, locator},
	}
	covered := map[difference]bool{}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range examples {
		t.Run(ex.diff.String(), func(t *testing.T) {
			covered[ex.diff] = true
			msg, _ := wire.NewMessage(ex.cmd)
			renga := msg.Decode(bytes.Clone(ex.payload))
			btcd := btcdDecode(ex.cmd, ex.payload)
			agree := (renga != nil) == (btcd.err != nil) &&
				(renga != nil || btcd.consumed == len(ex.payload) && bytes.Equal(btcd.reencoded, ex.payload))
			if agree {
				t.Fatalf("no disagreement on %x: renga %v, btcd %v", ex.payload, renga, btcd.err)
			}
			for d := range numDifferences {
				if got := d.explains(ex.cmd, ex.payload, renga, btcd); got != (d == ex.diff) {
					t.Errorf("%q explains it: %v", d, got)
				}
			}
			if judge(ex.cmd, ex.payload) != "" {
				t.Errorf("judge does not accept the explanation")
			}
			if !strings.Contains(string(readme), "**"+ex.diff.String()+"**") {
				t.Errorf("fuzz/README.md does not document **%s**", ex.diff)
			}
		})
	}
	for d := range numDifferences {
		if !covered[d] {
			t.Errorf("difference %q has no example", d)
		}
	}
	_ = sha256d.Hash{}
}
