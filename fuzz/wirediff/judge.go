package wirediff

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/renga-p2p/renga/wire"
)

// judge decodes payload with both implementations and returns "" when they
// agree or a documented difference explains the disagreement, and otherwise a
// description of the problem. Agreement means: both refuse, or both accept, btcd
// reads every byte and re-encodes what it decoded to exactly the payload (which
// Renga, accepting only canonical bytes, also does).
func judge(cmd string, payload []byte) string {
	msg, _ := wire.NewMessage(cmd)
	renga := msg.Decode(bytes.Clone(payload))
	btcd := btcdDecode(cmd, payload)

	if renga != nil && !errors.Is(renga, wire.ErrMalformed) {
		return fmt.Sprintf("%s %x: Renga error %v does not wrap ErrMalformed", cmd, payload, renga)
	}
	if renga == nil {
		again, err := msg.AppendBinary(nil)
		if err != nil || !bytes.Equal(again, payload) {
			return fmt.Sprintf("%s %x: Renga accepted bytes it re-encodes as %x (%v)", cmd, payload, again, err)
		}
	}
	switch {
	case renga == nil && btcd.err == nil:
		if btcd.consumed == len(payload) && bytes.Equal(btcd.reencoded, payload) {
			return ""
		}
	case renga != nil && btcd.err != nil:
		return ""
	}
	for d := range numDifferences {
		if d.explains(cmd, payload, renga, btcd) {
			return ""
		}
	}
	return fmt.Sprintf("%s %x: unexplained disagreement\n  renga: %v\n  btcd:  %v (consumed %d of %d, re-encoded %x)",
		cmd, payload, renga, btcd.err, btcd.consumed, len(payload), btcd.reencoded)
}
