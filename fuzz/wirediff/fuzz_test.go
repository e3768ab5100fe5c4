package wirediff

import (
	"testing"

	"github.com/renga-p2p/renga/wire"
)

// FuzzDifferential feeds the same payload to Renga's and btcd's decoders and
// demands that they agree on acceptance and on content, except where a
// documented difference explains it.
func FuzzDifferential(f *testing.F) {
	for i, cmd := range btcdCommands {
		for _, seed := range seedPayloads(f, cmd) {
			f.Add(uint8(i), seed)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		cmd := btcdCommands[int(which)%len(btcdCommands)]
		compare(t, cmd, payload)
	})
}

// seedPayloads returns real encodings of a command: Renga's samples re-encoded.
func seedPayloads(tb testing.TB, cmd string) [][]byte {
	var out [][]byte
	for _, m := range seedMessages() {
		if m.Command() != cmd {
			continue
		}
		p, err := m.AppendBinary(nil)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

var _ = wire.CmdTx
