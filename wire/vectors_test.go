package wire

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/renga-p2p/renga/crypto/sha256d"
)

// Real blocks, byte for byte as Bitcoin serializes them.
const (
	mainnetGenesisHex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b2" +
		"7ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c01010000000100000000" +
		"00000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054" +
		"696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e" +
		"64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1" +
		"a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a" +
		"4c702b6bf11d5fac00000000"
	// Regtest's genesis has the same coinbase; only time, bits and nonce differ.
	regtestGenesisHex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b2" +
		"7ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f200200000001010000000100000000" +
		"00000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054" +
		"696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e" +
		"64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1" +
		"a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a" +
		"4c702b6bf11d5fac00000000"
	mainnetBlock1Hex = "010000006fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000982051fd1e4ba744bb" +
		"be680e1fee14677ba1a3c3540bf7b1cdb606e857233e0e61bc6649ffff001d01e362990101000000010000000000" +
		"000000000000000000000000000000000000000000000000000000ffffffff0704ffff001d0104ffffffff0100f2" +
		"052a0100000043410496b538e853519c726a2c91e61ec11600ae1390813a627c66fb8be7947be63c52da75893795" +
		"15d4e0a604f8141781e62294721166bf621e73a82cbf2342c858eeac00000000"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRealBlockVectors(t *testing.T) {
	tests := []struct {
		name       string
		hex        string
		hash       string
		merkleRoot string
		prev       string
		time, bits uint32
		nonce      uint32
		coinbase   string // txid
		value      int64
	}{
		{
			name:       "mainnet genesis",
			hex:        mainnetGenesisHex,
			hash:       "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
			merkleRoot: "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
			prev:       "0000000000000000000000000000000000000000000000000000000000000000",
			time:       1231006505, bits: 0x1d00ffff, nonce: 2083236893,
			coinbase: "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
			value:    50_0000_0000,
		},
		{
			name:       "regtest genesis",
			hex:        regtestGenesisHex,
			hash:       "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
			merkleRoot: "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
			prev:       "0000000000000000000000000000000000000000000000000000000000000000",
			time:       1296688602, bits: 0x207fffff, nonce: 2,
			coinbase: "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
			value:    50_0000_0000,
		},
		{
			name:       "mainnet block 1",
			hex:        mainnetBlock1Hex,
			hash:       "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048",
			merkleRoot: "0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098",
			prev:       "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
			time:       1231469665, bits: 0x1d00ffff, nonce: 2573394689,
			coinbase: "0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098",
			value:    50_0000_0000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := mustHex(t, tt.hex)
			var b Block
			if err := b.Decode(raw); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := b.Hash().String(); got != tt.hash {
				t.Errorf("hash = %s, want %s", got, tt.hash)
			}
			h := b.Header
			if h.PrevBlock.String() != tt.prev || h.Time != tt.time || h.Bits != tt.bits || h.Nonce != tt.nonce || h.Version != 1 {
				t.Errorf("header fields = %+v", h)
			}
			if h.MerkleRoot.String() != tt.merkleRoot {
				t.Errorf("header merkle root = %s, want %s", h.MerkleRoot, tt.merkleRoot)
			}
			root, mutated := b.MerkleRoot()
			if root != h.MerkleRoot || mutated {
				t.Errorf("computed merkle root = %s (mutated %v), want %s", root, mutated, h.MerkleRoot)
			}
			if len(b.Txs) != 1 || !b.Txs[0].IsCoinbase() {
				t.Fatalf("want one coinbase transaction, got %d", len(b.Txs))
			}
			cb := &b.Txs[0]
			if got := cb.TxID().String(); got != tt.coinbase {
				t.Errorf("coinbase txid = %s, want %s", got, tt.coinbase)
			}
			if cb.WTxID() != cb.TxID() {
				t.Errorf("wtxid of a transaction without witness must equal its txid")
			}
			if cb.Outputs[0].Value != tt.value {
				t.Errorf("coinbase value = %d, want %d", cb.Outputs[0].Value, tt.value)
			}
			again, err := b.AppendBinary(nil)
			if err != nil || !bytes.Equal(again, raw) {
				t.Fatalf("re-encode differs (err %v):\n got %x\nwant %x", err, again, raw)
			}
			if b.SerializeSize() != len(raw) {
				t.Errorf("SerializeSize = %d, want %d", b.SerializeSize(), len(raw))
			}
		})
	}
}

func TestGenesisMessageText(t *testing.T) {
	var b Block
	if err := b.Decode(mustHex(t, mainnetGenesisHex)); err != nil {
		t.Fatal(err)
	}
	const headline = "The Times 03/Jan/2009 Chancellor on brink of second bailout for banks"
	if !bytes.Contains(b.Txs[0].Inputs[0].ScriptSig, []byte(headline)) {
		t.Fatalf("genesis coinbase script does not carry the headline: %q", b.Txs[0].Inputs[0].ScriptSig)
	}
}

func TestMerkleRootMutation(t *testing.T) {
	h := func(i byte) sha256d.Hash { return sha256d.Sum([]byte{i}) }
	// Three leaves and the same three with the last duplicated have the same root;
	// only the second is flagged as mutated.
	three := []sha256d.Hash{h(1), h(2), h(3)}
	four := []sha256d.Hash{h(1), h(2), h(3), h(3)}
	r3, m3 := MerkleRoot(append([]sha256d.Hash(nil), three...))
	r4, m4 := MerkleRoot(append([]sha256d.Hash(nil), four...))
	if r3 != r4 {
		t.Fatalf("CVE-2012-2459 premise: roots differ: %s vs %s", r3, r4)
	}
	if m3 || !m4 {
		t.Fatalf("mutated flags = %v, %v; want false, true", m3, m4)
	}
	// The same at a deeper level: six leaves, and the same with the last pair
	// repeated, share a root; the repetition is flagged one level up.
	six := []sha256d.Hash{h(1), h(2), h(3), h(4), h(5), h(6)}
	eight := []sha256d.Hash{h(1), h(2), h(3), h(4), h(5), h(6), h(5), h(6)}
	r6, m6 := MerkleRoot(six)
	r8, m8 := MerkleRoot(eight)
	if r6 != r8 || m6 || !m8 {
		t.Fatalf("subtree duplication: roots equal %v, mutated %v/%v; want true, false/true", r6 == r8, m6, m8)
	}
	// One leaf: the root is the leaf. None: zero.
	if r, _ := MerkleRoot([]sha256d.Hash{h(9)}); r != h(9) {
		t.Fatal("single-leaf root must be the leaf")
	}
	if r, _ := MerkleRoot(nil); !r.IsZero() {
		t.Fatal("empty root must be zero")
	}
	// MerkleRoot must not write past the length of its argument.
	backing := []sha256d.Hash{h(1), h(2), h(3), h(7)}
	MerkleRoot(backing[:3])
	if backing[3] != h(7) {
		t.Fatal("MerkleRoot wrote beyond len(leaves)")
	}
}
