package miner_test

import (
	"context"
	"fmt"
	"os"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/miner"
)

// Mining blocks on a regtest chain, as generatetoaddress does: the coinbase
// pays the given script (here an unspendable OP_RETURN).
func ExampleMiner_Generate() {
	dir, err := os.MkdirTemp("", "renga-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary directory
	c, err := chain.Open(dir, chain.Regtest, chain.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Println(err)
		}
	}()

	m, err := miner.New(miner.Config{Chain: c, Threads: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	hashes, err := m.Generate(context.Background(), 3, []byte{chain.OpReturn})
	if err != nil {
		fmt.Println(err)
		return
	}
	st := m.Stats()
	fmt.Println("tip height", c.Tip().Height, "is the last block mined:", c.Tip().Hash == hashes[2])
	fmt.Println("found", st.Found, "with", st.Threads, "threads")
	// Output:
	// tip height 3 is the last block mined: true
	// found 3 with 2 threads
}
