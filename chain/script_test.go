package chain_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/chaintest"
	"github.com/renga-p2p/renga/chain/mempool"
	"github.com/renga-p2p/renga/wire"
)

// TestScripts runs the scenario scripts in testdata/*.txt. A script is a list
// of cases; each case is command lines, a line "----", and the output expected
// from those commands, ended by a blank line. Lines starting with # are
// comments.
//
// Every script starts from a regtest chain of 100 blocks labelled base1 to
// base100 (their coinbases are spendable from the start). Commands:
//
//	mine NAME N [from=LABEL] [txs=T1,T2]  mine N blocks on LABEL (default: the tip), labelled
//	                                      NAMEk onwards from the first unused k; the first
//	                                      carries the listed transactions
//	tx NAME spend=COIN[,COIN] [fee=F]     build (not send) a transaction paying the harness key;
//	                                      a COIN is cb:BLOCK (a coinbase) or TX:N (an output)
//	send NAME                             offer the transaction to the mempool
//	tip                                   the tip's label and height
//	mempool                               the mempool's transactions, sorted
//	coin COIN                             whether COIN is unspent in the chain
func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScript(t, file) })
	}
}

type scenario struct {
	t      *testing.T
	h      *chaintest.Harness
	pool   *mempool.Pool
	blocks map[string]*wire.Block
	labels map[string]string // block hash -> label
	txs    map[string]*wire.Tx
	txName map[string]string // txid -> label
}

func runScript(t *testing.T, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, h: chaintest.New(t, chain.Regtest), blocks: map[string]*wire.Block{},
		labels: map[string]string{}, txs: map[string]*wire.Tx{}, txName: map[string]string{}}
	s.pool = mempool.New(s.h.Chain, mempool.Config{})
	s.labels[chain.Regtest.GenesisHash.String()] = "genesis"
	for i, b := range s.h.Mine(100) {
		s.name(fmt.Sprintf("base%d", i+1), b)
	}

	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		// A case: commands up to "----", then expected lines up to a blank line.
		var commands, want []string
		start := line
		for ; text != "----"; line++ {
			commands = append(commands, text)
			if !sc.Scan() {
				t.Fatalf("%s:%d: case without ----", file, start)
			}
			text = strings.TrimSpace(sc.Text())
		}
		for sc.Scan() {
			line++
			if strings.TrimSpace(sc.Text()) == "" {
				break
			}
			want = append(want, strings.TrimSpace(sc.Text()))
		}
		var got []string
		for _, cmd := range commands {
			for _, l := range s.run(cmd) {
				got = append(got, strings.TrimSpace(l))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s:%d: %s\n got:\n\t%s\nwant:\n\t%s", file, start, strings.Join(commands, "; "),
				strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
}

func (s *scenario) name(label string, b *wire.Block) {
	s.blocks[label] = b
	s.labels[b.Hash().String()] = label
}

func (s *scenario) label(n *chain.Node) string {
	if l, ok := s.labels[n.Hash.String()]; ok {
		return l
	}
	return n.Hash.String()
}

// args splits "mine a 3 from=x" into positional words and key=value options.
func args(cmd string) ([]string, map[string]string) {
	var pos []string
	opts := map[string]string{}
	for _, f := range strings.Fields(cmd) {
		if k, v, ok := strings.Cut(f, "="); ok {
			opts[k] = v
		} else {
			pos = append(pos, f)
		}
	}
	return pos, opts
}

func (s *scenario) coin(ref string) chaintest.Coin {
	t := s.t
	if blk, ok := strings.CutPrefix(ref, "cb:"); ok {
		b := s.blocks[blk]
		if b == nil {
			t.Fatalf("unknown block %s", blk)
		}
		return chaintest.CoinbaseCoin(b)
	}
	name, idx, _ := strings.Cut(ref, ":")
	tx := s.txs[name]
	n, err := strconv.Atoi(idx)
	if tx == nil || err != nil || n >= len(tx.Outputs) {
		t.Fatalf("unknown coin %s", ref)
	}
	return chaintest.Coin{OutPoint: wire.OutPoint{Hash: tx.TxID(), Index: uint32(n)}, Value: tx.Outputs[n].Value, Script: tx.Outputs[n].ScriptPubKey}
}

func (s *scenario) run(cmd string) []string {
	t := s.t
	pos, opts := args(cmd)
	switch pos[0] {
	case "mine":
		n, _ := strconv.Atoi(pos[2])
		parent := s.h.Chain.Tip()
		if from, ok := opts["from"]; ok {
			parent = s.h.Chain.NodeByHash(s.blocks[from].Hash())
		}
		var txs []*wire.Tx
		var fees int64
		if list, ok := opts["txs"]; ok {
			for _, name := range strings.Split(list, ",") {
				txs = append(txs, s.txs[name])
				fees += s.fee(s.txs[name])
			}
		}
		// Labels continue a branch's numbering: after b2 comes b3.
		first := 1
		for s.blocks[fmt.Sprintf("%s%d", pos[1], first)] != nil {
			first++
		}
		var out []string
		for i := first; i < first+n; i++ {
			b := s.h.Next(parent, fees, txs...)
			txs, fees = nil, 0
			label := fmt.Sprintf("%s%d", pos[1], i)
			s.name(label, b)
			node, err := s.h.Chain.ProcessBlock(b, nil)
			if err != nil {
				out = append(out, fmt.Sprintf("%s: %s", label, chain.RuleOf(err)))
				break
			}
			parent = node
		}
		return append(out, s.run("tip")...)
	case "tx":
		var coins []chaintest.Coin
		var total int64
		for _, ref := range strings.Split(opts["spend"], ",") {
			c := s.coin(ref)
			coins = append(coins, c)
			total += c.Value
		}
		fee := int64(10_000)
		if f, ok := opts["fee"]; ok {
			fee, _ = strconv.ParseInt(f, 10, 64)
		}
		tx := chaintest.Spend(t, s.h.Key, coins, wire.TxOut{Value: total - fee, ScriptPubKey: s.h.Script})
		s.txs[pos[1]] = tx
		s.txName[tx.TxID().String()] = pos[1]
		return nil
	case "send":
		if _, err := s.pool.Accept(s.txs[pos[1]]); err != nil {
			return []string{fmt.Sprintf("%s: %v", pos[1], shortErr(err))}
		}
		return []string{pos[1] + ": accepted"}
	case "tip":
		tip := s.h.Chain.Tip()
		return []string{fmt.Sprintf("tip %s height=%d", s.label(tip), tip.Height)}
	case "mempool":
		var names []string
		for _, e := range s.pool.Entries() {
			names = append(names, s.txName[e.TxID.String()])
		}
		slices.Sort(names)
		return []string{"mempool: " + strings.Join(names, " ")}
	case "coin":
		c := s.coin(pos[1])
		if _, err := s.h.Chain.Coin(c.OutPoint); err != nil {
			return []string{pos[1] + ": spent or missing"}
		}
		return []string{pos[1] + ": unspent"}
	}
	t.Fatalf("unknown command %q", cmd)
	return nil
}

func (s *scenario) fee(tx *wire.Tx) int64 {
	var in, out int64
	for _, i := range tx.Inputs {
		for name, other := range s.txs {
			_ = name
			if other.TxID() == i.PrevOut.Hash {
				in += other.Outputs[i.PrevOut.Index].Value
			}
		}
		for _, b := range s.blocks {
			if b.Txs[0].TxID() == i.PrevOut.Hash {
				in += b.Txs[0].Outputs[0].Value
			}
		}
	}
	for _, o := range tx.Outputs {
		out += o.Value
	}
	return in - out
}

// shortErr names an error by its class, so scripts do not depend on wording.
func shortErr(err error) string {
	if r := chain.RuleOf(err); r != "" {
		return string(r)
	}
	for _, e := range []error{mempool.ErrConflict, mempool.ErrDuplicate, mempool.ErrOrphan, mempool.ErrLowFee, mempool.ErrNonStandard} {
		if strings.Contains(err.Error(), e.Error()) {
			return strings.TrimPrefix(e.Error(), "mempool: ")
		}
	}
	return err.Error()
}
