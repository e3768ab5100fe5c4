package chain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/wire"
)

// resolve recomputes the merkle root and the nonce after a test changed a block.
func resolve(t *testing.T, b *wire.Block) *wire.Block {
	t.Helper()
	b.Header.MerkleRoot, _ = b.MerkleRoot()
	chaintest.Solve(t, &b.Header)
	return b
}

// fixture is a regtest chain of 101 blocks, so the first coinbase is mature,
// with that coin and a second one that is not yet.
type fixture struct {
	h        *chaintest.Harness
	mature   chaintest.Coin // coinbase of block 1
	immature chaintest.Coin // coinbase of block 101
}

func newFixture(t *testing.T) *fixture {
	h := chaintest.New(t, chain.Regtest)
	blocks := h.Mine(101)
	return &fixture{h: h, mature: chaintest.CoinbaseCoin(blocks[0]), immature: chaintest.CoinbaseCoin(blocks[100])}
}

// spend pays coins to the harness's own script, minus fee.
func (f *fixture) spend(t *testing.T, fee int64, coins ...chaintest.Coin) *wire.Tx {
	var total int64
	for _, c := range coins {
		total += c.Value
	}
	return chaintest.Spend(t, f.h.Key, coins, wire.TxOut{Value: total - fee, ScriptPubKey: f.h.Script})
}

func TestInvalidBlocks(t *testing.T) {
	tests := []struct {
		name  string
		rule  chain.Rule
		build func(t *testing.T, f *fixture) *wire.Block
	}{
		{"bad proof of work", chain.RuleHighHash, func(t *testing.T, f *fixture) *wire.Block {
			b := f.h.Next(nil, 0)
			target, _, _ := chain.CompactToTarget(b.Header.Bits)
			for b.Header.Nonce = 0; ; b.Header.Nonce++ {
				hash := b.Header.Hash()
				if v := chain.HashToInt(&hash); v.Gt(&target) {
					return b // this nonce misses the target
				}
			}
		}},
		{"wrong bits", chain.RuleBadBits, func(t *testing.T, f *fixture) *wire.Block {
			b := f.h.Next(nil, 0)
			b.Header.Bits = 0x207ffffe // regtest never retargets
			return resolve(t, b)
		}},
		{"time not after median time past", chain.RuleTimeTooOld, func(t *testing.T, f *fixture) *wire.Block {
			b := f.h.Next(nil, 0)
			b.Header.Time = uint32(f.h.Chain.Tip().MedianTimePast())
			return resolve(t, b)
		}},
		{"bad merkle root", chain.RuleBadMerkle, func(t *testing.T, f *fixture) *wire.Block {
			b := f.h.Next(nil, 0)
			b.Header.MerkleRoot[0] ^= 1
			chaintest.Solve(t, &b.Header)
			return b
		}},
		{"two coinbases", chain.RuleMultiCB, func(t *testing.T, f *fixture) *wire.Block {
			b := f.h.Next(nil, 0)
			b.Txs = append(b.Txs, chaintest.Coinbase(102, f.h.Script, 1, 7))
			return resolve(t, b)
		}},
		{"coinbase over subsidy plus fees", chain.RuleCBAmount, func(t *testing.T, f *fixture) *wire.Block {
			b := f.h.Next(nil, 1000, f.spend(t, 999, f.mature)) // claims 1000, fees are 999
			return b
		}},
		{"spend of a missing output", chain.RuleMissing, func(t *testing.T, f *fixture) *wire.Block {
			ghost := f.mature
			ghost.OutPoint.Index = 5
			return f.h.Next(nil, 0, f.spend(t, 0, ghost))
		}},
		{"spend of a spent output", chain.RuleMissing, func(t *testing.T, f *fixture) *wire.Block {
			b := f.h.Next(nil, 0, f.spend(t, 0, f.mature))
			if _, err := f.h.Chain.ProcessBlock(b, nil); err != nil {
				t.Fatal(err)
			}
			again := f.spend(t, 1, f.mature) // a different transaction, same coin
			return f.h.Next(nil, 1, again)
		}},
		{"double spend inside a block", chain.RuleDoubleSpend, func(t *testing.T, f *fixture) *wire.Block {
			return f.h.Next(nil, 1, f.spend(t, 0, f.mature), f.spend(t, 1, f.mature))
		}},
		{"immature coinbase spend", chain.RulePremature, func(t *testing.T, f *fixture) *wire.Block {
			return f.h.Next(nil, 0, f.spend(t, 0, f.immature))
		}},
		{"bad signature", chain.RuleScript, func(t *testing.T, f *fixture) *wire.Block {
			tx := f.spend(t, 0, f.mature)
			tx.Inputs[0].ScriptSig[10] ^= 1 // inside the DER signature
			return f.h.Next(nil, 0, tx)
		}},
		{"signature by another key", chain.RuleScript, func(t *testing.T, f *fixture) *wire.Block {
			other := chaintest.Key(t, 9)
			tx := &wire.Tx{Version: 1, Inputs: []wire.TxIn{{PrevOut: f.mature.OutPoint, Sequence: chain.SequenceFinal}},
				Outputs: []wire.TxOut{{Value: f.mature.Value, ScriptPubKey: f.h.Script}}}
			// Sign with another key but push the right public key.
			sig := other.Sign(chain.SignatureHash(f.mature.Script, tx, 0, chain.SigHashAll))
			tx.Inputs[0].ScriptSig = append(chain.PushData(append(sig, chain.SigHashAll)), chain.PushData(f.h.Key.PublicKey().Compressed())...)
			return f.h.Next(nil, 0, tx)
		}},
		{"oversize block", chain.RuleBadLength, func(t *testing.T, f *fixture) *wire.Block {
			b := f.h.Next(nil, 0)
			big := wire.TxOut{ScriptPubKey: make([]byte, 100_000)} // well-formed, never checked further
			for i := range 11 {
				b.Txs = append(b.Txs, wire.Tx{Version: 1,
					Inputs:  []wire.TxIn{{PrevOut: wire.OutPoint{Index: uint32(i)}, ScriptSig: []byte{1, 1}}},
					Outputs: []wire.TxOut{big}})
			}
			return resolve(t, b)
		}},
		{"too many signature operations", chain.RuleSigops, func(t *testing.T, f *fixture) *wire.Block {
			// 20,001 OP_CHECKSIGs in an output script cost 80,004, over 80,000.
			script := make([]byte, 20_001)
			for i := range script {
				script[i] = chain.OpCheckSig
			}
			tx := f.spend(t, 0, f.mature)
			tx.Outputs = append(tx.Outputs, wire.TxOut{ScriptPubKey: script})
			tx = chaintest.Spend(t, f.h.Key, []chaintest.Coin{f.mature}, tx.Outputs...)
			return f.h.Next(nil, 0, tx)
		}},
		{"missing BIP34 height", chain.RuleCBHeight, func(t *testing.T, f *fixture) *wire.Block {
			b := f.h.Next(nil, 0)
			b.Txs[0].Inputs[0].ScriptSig = chain.CoinbaseScript(101, []byte{0xaa}) // says 101, is 102
			return resolve(t, b)
		}},
		{"non-final transaction", chain.RuleNonFinal, func(t *testing.T, f *fixture) *wire.Block {
			tx := &wire.Tx{Version: 1, LockTime: 500, Inputs: []wire.TxIn{{PrevOut: f.mature.OutPoint, Sequence: 0}},
				Outputs: []wire.TxOut{{Value: f.mature.Value, ScriptPubKey: f.h.Script}}}
			if err := chain.SignInput(tx, 0, f.mature.Script, f.h.Key, chain.SigHashAll); err != nil {
				t.Fatal(err)
			}
			return f.h.Next(nil, 0, tx)
		}},
		{"witness data", chain.RuleWitness, func(t *testing.T, f *fixture) *wire.Block {
			tx := f.spend(t, 0, f.mature)
			tx.Inputs[0].Witness = wire.NewWitness([]byte{1})
			return f.h.Next(nil, 0, tx)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			b := tt.build(t, f)
			before := f.h.Chain.Tip()
			_, err := f.h.Chain.ProcessBlock(b, nil)
			if !errors.Is(err, chain.ErrInvalidBlock) || chain.RuleOf(err) != tt.rule {
				t.Fatalf("error = %v, want rule %s", err, tt.rule)
			}
			if tip := f.h.Chain.Tip(); tip != before {
				t.Fatalf("tip moved to %d %s", tip.Height, tip.Hash)
			}
			// The tip is unchanged on disk too.
			f.h.Reopen()
			if tip := f.h.Chain.Tip(); tip.Hash != before.Hash {
				t.Fatalf("after reopen, tip %s", tip.Hash)
			}
		})
	}
}

// A block more than two hours ahead of the clock is refused, and accepted
// once the clock has moved on (it is not remembered as invalid).
func TestFutureBlockAcceptedLater(t *testing.T) {
	f := newFixture(t)
	b := f.h.Next(nil, 0)
	b.Header.Time = uint32(f.h.Clock.Add(3 * time.Hour).Unix())
	resolve(t, b)
	if _, err := f.h.Chain.ProcessBlock(b, nil); chain.RuleOf(err) != chain.RuleTimeTooNew {
		t.Fatalf("error = %v, want time-too-new", err)
	}
	f.h.Clock = f.h.Clock.Add(90 * time.Minute)
	if _, err := f.h.Chain.ProcessBlock(b, nil); err != nil {
		t.Fatalf("an hour and a half later: %v", err)
	}
	if f.h.Chain.Tip().Hash != b.Hash() {
		t.Fatal("block not connected")
	}
}

// CVE-2012-2459: a copy of a valid block with its last transaction repeated
// has the same merkle root, hence the same hash. It is refused without
// condemning the hash, and the genuine block is accepted afterwards.
func TestMutatedBlockThenGenuine(t *testing.T) {
	f := newFixture(t)
	tx1 := f.spend(t, 100, f.mature)
	tx2coin := chaintest.Coin{OutPoint: wire.OutPoint{Hash: tx1.TxID()}, Value: tx1.Outputs[0].Value, Script: f.h.Script}
	tx2 := f.spend(t, 100, tx2coin)
	genuine := f.h.Next(nil, 200, tx1, tx2) // three transactions
	mutated := &wire.Block{Header: genuine.Header, Txs: append(append([]wire.Tx{}, genuine.Txs...), genuine.Txs[2])}
	if mutated.Hash() != genuine.Hash() {
		t.Fatal("premise: the mutated block should have the genuine block's hash")
	}
	if _, err := f.h.Chain.ProcessBlock(mutated, nil); chain.RuleOf(err) != chain.RuleMutated {
		t.Fatalf("mutated block: %v, want bad-txns-duplicate", err)
	}
	if _, err := f.h.Chain.ProcessBlock(genuine, nil); err != nil {
		t.Fatalf("genuine block after the mutated copy: %v", err)
	}
	if f.h.Chain.Tip().Hash != genuine.Hash() {
		t.Fatal("genuine block not connected")
	}
}

// Once a block is found invalid, its descendants are refused without work.
func TestDescendantOfInvalid(t *testing.T) {
	f := newFixture(t)
	bad := f.h.Next(nil, 0, f.spend(t, 0, f.immature))
	if _, err := f.h.Chain.ProcessBlock(bad, nil); chain.RuleOf(err) != chain.RulePremature {
		t.Fatalf("setup: %v", err)
	}
	// A child of the invalid block, with a header the index knows.
	parent := f.h.Chain.NodeByHash(bad.Hash())
	if parent == nil || !parent.Status.Invalid() {
		t.Fatal("invalid block not flagged in the index")
	}
	child := chaintest.Block(t, chain.Regtest, parent, f.h.Script, 0, 1)
	if _, err := f.h.Chain.ProcessBlock(child, nil); chain.RuleOf(err) != chain.RuleInvalidChain {
		t.Fatalf("child of an invalid block: %v", err)
	}
}
