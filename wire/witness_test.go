package wire

import (
	"bytes"
	"slices"
	"testing"
)

func TestWitnessItems(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 300) // a length in the three-byte form
	tests := []struct {
		name  string
		items [][]byte
	}{
		{"none", nil},
		{"one empty item", [][]byte{{}}},
		{"signature and key", [][]byte{bytes.Repeat([]byte{0x30}, 71), bytes.Repeat([]byte{2}, 33)}},
		{"a long item among short ones", [][]byte{{1}, big, {}, {2, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWitness(tt.items...)
			if w.Len() != len(tt.items) || w.IsEmpty() != (len(tt.items) == 0) {
				t.Fatalf("Len %d, IsEmpty %v for %d items", w.Len(), w.IsEmpty(), len(tt.items))
			}
			if got := w.Items(); !slices.EqualFunc(got, tt.items, bytes.Equal) {
				t.Fatalf("items %x, want %x", got, tt.items)
			}
			for i, it := range tt.items {
				if !bytes.Equal(w.Item(i), it) {
					t.Fatalf("item %d: %x, want %x", i, w.Item(i), it)
				}
			}
			if w.Item(len(tt.items)) != nil {
				t.Fatal("an item past the end")
			}
			// Through a transaction and back: the decoded witness is a view
			// of the payload with the same items.
			tx := sampleLegacyTx()
			tx.Inputs[0].Witness = w
			p := encode(t, tx)
			var back Tx
			if err := back.Decode(p); err != nil {
				if len(tt.items) == 0 {
					return // a legacy transaction: nothing to compare
				}
				t.Fatal(err)
			}
			if got := back.Inputs[0].Witness.Items(); !slices.EqualFunc(got, tt.items, bytes.Equal) {
				t.Fatalf("decoded items %x, want %x", got, tt.items)
			}
			if !bytes.Equal(encode(t, &back), p) {
				t.Fatal("does not round-trip")
			}
		})
	}
}

// A witness item whose length is not in its shortest form is refused, as any
// other non-canonical CompactSize.
func TestWitnessItemNonCanonical(t *testing.T) {
	tx := sampleLegacyTx()
	tx.Inputs[0].Witness = NewWitness([]byte{9})
	p := encode(t, tx)
	// The witness is count 1, length 1, byte 9, just before the lock time.
	at := len(p) - 4 - 3
	if p[at] != 1 || p[at+1] != 1 || p[at+2] != 9 {
		t.Fatalf("witness not where expected: %x", p[at:])
	}
	bad := append(append(bytes.Clone(p[:at+1]), 0xfd, 1, 0, 9), p[len(p)-4:]...)
	if err := new(Tx).Decode(bad); err == nil {
		t.Fatal("a non-canonical witness item length was accepted")
	}
}
