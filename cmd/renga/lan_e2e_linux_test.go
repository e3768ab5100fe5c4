package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/sock/nstest"
)

// TestLAN is the main job end to end: eight `renga node` processes, each in
// its own network namespace on one bridge, started with no addresses at all.
//
//   - zero configuration: each connects to others through multicast
//     discovery within 10 s; two mine; all converge on one tip; a payment
//     made with `renga wallet send` reaches every mempool and is mined;
//   - self-healing: three nodes (one a miner) stop, the others keep extending
//     the chain, and the three restart with their datadirs and catch up;
//   - partition: the bridge is split into two halves that both mine and both
//     confirm a payment of their own, then healed: every node ends on the
//     branch with more work, and the losing branch's payment goes back to
//     the mempools and is mined again.
func TestLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: eight node processes for minutes")
	}
	if !nstest.Enter(t) {
		return
	}
	l := newLAN(t, 8)
	for _, i := range []int{1, 2} {
		l.node(i).flags = []string{"--mine", "--threads", "1"}
	}
	all := l.nodes

	ok := t.Run("zero-config discovery", func(t *testing.T) {
		for _, n := range all {
			n.start()
		}
		waitFor(t, 10*time.Second, "every node connected to at least two others through discovery", func() (bool, string) {
			var counts []int
			for _, n := range all {
				counts = append(counts, n.peers())
			}
			return slices.Min(counts) >= 2, fmt.Sprintf("connections per node %v", counts)
		})
	})
	ok = ok && t.Run("converge", func(t *testing.T) {
		// Coinbases mature after 20 blocks: mine past that.
		waitFor(t, 5*time.Minute, "every node on one tip past height 21", func() (bool, string) {
			return sameTip(all, 22)
		})
	})
	ok = ok && t.Run("payment reaches every mempool and is mined", func(t *testing.T) {
		// A miner's coins pay node 3, which then pays node 5: the payment
		// under test comes from a node that does not mine.
		payer, payee := l.node(3), l.node(5)
		waitFor(t, 3*time.Minute, "node 1 has mature coins", func() (bool, string) {
			return spendable(l.node(1)) >= 6*100_000_000, "node 1's balance"
		})
		setup := firstLine(t, l.node(1), "wallet", "send", firstLine(t, payer, "wallet", "address"), "5")
		waitFor(t, 2*time.Minute, "node 3 funded", func() (bool, string) {
			return confirmedEverywhere(all, setup, firstLine(t, payer, "wallet", "address"))
		})
		// The miners are paused while the payment spreads: a block found
		// meanwhile would confirm it before it reached some pools, and a
		// node never takes a confirmed transaction into its pool. The kernel
		// keeps what their peers send them until they resume.
		miners := []*lanNode{l.node(1), l.node(2)}
		for _, m := range miners {
			m.signal(syscall.SIGSTOP)
		}
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				for _, m := range miners {
					m.signal(syscall.SIGCONT)
				}
			}
		}
		defer resume()
		to := firstLine(t, payee, "wallet", "address")
		txid := firstLine(t, payer, "wallet", "send", to, "1.25")
		others := []*lanNode{l.node(3), l.node(4), l.node(5), l.node(6), l.node(7), l.node(8)}
		waitFor(t, 30*time.Second, "every node that does not mine accepted the payment", func() (bool, string) {
			return acceptedBy(others, txid)
		})
		resume()
		waitFor(t, 30*time.Second, "the miners accepted the payment", func() (bool, string) {
			return acceptedBy(miners, txid)
		})
		waitFor(t, 2*time.Minute, "the payment mined, on every node", func() (bool, string) {
			return confirmedEverywhere(all, txid, to)
		})
	})
	ok = ok && t.Run("three stop, the rest go on, the three catch up", func(t *testing.T) {
		stopped := []*lanNode{l.node(2), l.node(6), l.node(7)}
		for _, n := range stopped {
			n.stop()
		}
		rest := []*lanNode{l.node(1), l.node(3), l.node(4), l.node(5), l.node(8)}
		h, _ := l.node(1).tip()
		waitFor(t, 3*time.Minute, "the five left on one tip three blocks further", func() (bool, string) {
			return sameTip(rest, h+3)
		})
		for _, n := range stopped {
			n.start()
		}
		h, _ = l.node(1).tip()
		waitFor(t, 2*time.Minute, "the three restarted caught up", func() (bool, string) {
			return sameTip(all, h)
		})
	})
	ok = ok && t.Run("partition and heal", func(t *testing.T) {
		half := map[string][]*lanNode{
			"A": {l.node(1), l.node(3), l.node(5), l.node(7)},
			"B": {l.node(2), l.node(4), l.node(6), l.node(8)},
		}
		l.split(1, 3, 5, 7)
		splitHeight, _ := l.node(1).tip()
		// Each half confirms a payment of its own on its branch.
		txs, payees := map[string]string{}, map[string]string{}
		for name, nodes := range half {
			waitFor(t, 3*time.Minute, "the miner of half "+name+" has mature coins", func() (bool, string) {
				return spendable(nodes[0]) >= 100_000_000, "its balance"
			})
			payees[name] = firstLine(t, nodes[1], "wallet", "address")
			txs[name] = firstLine(t, nodes[0], "wallet", "send", payees[name], "0.5")
		}
		tips := map[string]string{}
		for name, nodes := range half {
			waitFor(t, 3*time.Minute, "half "+name+" confirmed its payment two blocks past the split", func() (bool, string) {
				if ok, state := sameTip(nodes, splitHeight+2); !ok {
					return false, state
				}
				ok, state := confirmedEverywhere(nodes, txs[name], payees[name])
				return ok, state
			})
		}
		for name, nodes := range half {
			_, tips[name] = nodes[0].tip()
		}
		work := map[string]*big.Int{}
		for name, nodes := range half {
			work[name] = chainwork(t, nodes[0], tips[name])
		}
		t.Logf("split at height %d; tips at heal: A %s (work %x), B %s (work %x)", splitHeight, tips["A"], work["A"], tips["B"], work["B"])
		l.heal()
		waitFor(t, 3*time.Minute, "every node on one tip after the heal", func() (bool, string) {
			h, _ := l.node(1).tip()
			return sameTip(all, h)
		})
		// The winner is the half whose tip is on the final chain, asked of a
		// node of that half: every node is on the final chain now, and a
		// winner need never have heard of the losing branch's last blocks.
		var onChain []string
		for name, nodes := range half {
			if confirmations(t, nodes[0], tips[name]) > 0 {
				onChain = append(onChain, name)
			}
		}
		if len(onChain) != 1 {
			t.Fatalf("halves on the final chain: %v, want exactly one", onChain)
		}
		winner, loser := onChain[0], map[string]string{"A": "B", "B": "A"}[onChain[0]]
		_, final := l.node(1).tip()
		if finalWork := chainwork(t, l.node(1), final); finalWork.Cmp(work[loser]) <= 0 {
			t.Fatalf("final chain work %x does not exceed the losing branch's %x", finalWork, work[loser])
		}
		t.Logf("half %s won; half %s's payment %s goes back to the pools", winner, loser, txs[loser])
		// The losing half disconnected its blocks. Its payment went back to a
		// pool somewhere, or the winners could never mine it: usually in the
		// losers' pools, but when a winner briefly reorganized onto the losing
		// branch and back, it is the winner that put the payment back and
		// mined it, and a loser that reorganizes after that finds it
		// confirmed already (the pool logs nothing then, rightly).
		for _, n := range half[loser] {
			if !slices.ContainsFunc(n.logEntries(), func(e logEntry) bool {
				h, _ := e.Fields["height"].(float64)
				return e.Msg == "block disconnected" && int32(h) > splitHeight
			}) {
				t.Errorf("node %d (half %s) disconnected no block of its branch (past height %d)", n.index, loser, splitHeight)
			}
		}
		if !slices.ContainsFunc(all, func(n *lanNode) bool {
			return n.logged("transactions of a disconnected block are back in the pool")
		}) {
			t.Errorf("no node put a disconnected block's transactions back in its pool")
		}
		waitFor(t, 2*time.Minute, "the losing branch's payment mined again, on every node", func() (bool, string) {
			return confirmedEverywhere(all, txs[loser], payees[loser])
		})
	})
	if !ok {
		return
	}
	for _, n := range all {
		n.stop()
		for _, e := range n.logEntries() {
			if e.Fields["level"] == "ERROR" {
				t.Errorf("node %d logged an error: %s %v", n.index, e.Msg, e.Fields)
			}
		}
	}
}

// sameTip reports whether every node answers with the same tip at least
// minHeight high.
func sameTip(nodes []*lanNode, minHeight int32) (bool, string) {
	var state []string
	tips := map[string]bool{}
	low := false
	for _, n := range nodes {
		h, hash := n.tip()
		tips[hash] = true
		low = low || h < minHeight || hash == ""
		state = append(state, fmt.Sprintf("%d:%d/%.8s", n.index, h, hash))
	}
	return len(tips) == 1 && !low, strings.Join(state, " ")
}

// confirmedEverywhere reports whether every node's UTXO set holds an output
// of txid paying to addr.
func confirmedEverywhere(nodes []*lanNode, txid, addr string) (bool, string) {
	var missing []int
	for _, n := range nodes {
		var scan struct {
			Unspents []struct {
				TxID string `json:"txid"`
			} `json:"unspents"`
		}
		found := false
		if n.call(&scan, "scantxoutset", "start", []string{"addr(" + addr + ")"}) == nil {
			for _, u := range scan.Unspents {
				found = found || u.TxID == txid
			}
		}
		if !found {
			missing = append(missing, n.index)
		}
	}
	return len(missing) == 0, fmt.Sprintf("not confirmed on nodes %v", missing)
}

// acceptedBy reports whether every node's log says its mempool accepted txid.
func acceptedBy(nodes []*lanNode, txid string) (bool, string) {
	var missing []int
	for _, n := range nodes {
		if !n.logged("transaction accepted", "txid", txid) {
			missing = append(missing, n.index)
		}
	}
	return len(missing) == 0, fmt.Sprintf("not accepted by nodes %v", missing)
}

// logged reports whether the node logged a line with this message and,
// if given, this key and value.
func (n *lanNode) logged(msg string, kv ...string) bool {
	for _, e := range n.logEntries() {
		if e.Msg == msg && (len(kv) < 2 || e.Fields[kv[0]] == kv[1]) {
			return true
		}
	}
	return false
}

// spendable is the node's wallet balance it may spend now, in satoshis.
func spendable(n *lanNode) int64 {
	out, err := n.renga("wallet", "balance", "--json")
	if err != nil {
		return 0
	}
	var b struct {
		Spendable int64 `json:"spendable"`
	}
	if json.Unmarshal([]byte(out), &b) != nil {
		return 0
	}
	return b.Spendable
}

// firstLine runs a renga command on the node and returns the first line it
// printed, failing the test on an error.
func firstLine(t *testing.T, n *lanNode, args ...string) string {
	t.Helper()
	out, err := n.renga(args...)
	if err != nil {
		t.Fatalf("node %d: %v", n.index, err)
	}
	line, _, _ := strings.Cut(out, "\n")
	return line
}

// chainwork is the work of the chain up to block hash, as the node says.
func chainwork(t *testing.T, n *lanNode, hash string) *big.Int {
	t.Helper()
	var h struct {
		Chainwork string `json:"chainwork"`
	}
	if err := n.call(&h, "getblockheader", hash); err != nil {
		t.Fatalf("node %d: getblockheader %s: %v", n.index, hash, err)
	}
	w, ok := new(big.Int).SetString(h.Chainwork, 16)
	if !ok {
		t.Fatalf("chainwork %q", h.Chainwork)
	}
	return w
}

// confirmations is what the node's getblockheader says of a block: -1 when
// it is not on the active chain.
func confirmations(t *testing.T, n *lanNode, hash string) int {
	t.Helper()
	var h struct {
		Confirmations int `json:"confirmations"`
	}
	if err := n.call(&h, "getblockheader", hash); err != nil {
		t.Fatalf("node %d: getblockheader %s: %v", n.index, hash, err)
	}
	return h.Confirmations
}
