package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/renga-p2p/renga/chain"
	"github.com/renga-p2p/renga/chain/wallet"
	"github.com/renga-p2p/renga/crypto/address"
	"github.com/renga-p2p/renga/miner"
)

func runMine(ctx context.Context, args []string, io stdio) (err error) {
	fs := newFlags(io, "mine", "--blocks N [flags]",
		"Mine N blocks on the local chain of a network (no peers: the blocks go straight into the\n"+
			"store, where a node started later will find them), with the miner a node runs: the kernel\n"+
			"is chosen by calibration unless --kernel or $RENGA_KERNEL names one. The coinbase pays\n"+
			"--address, or else the first key of DIR/<network>/wallet.json, which is created if missing.\n"+
			"Each block is printed as it is found (height, hash, time taken), then the hashrate.\n"+
			"Mainnet is refused: its difficulty makes CPU mining pointless.",
		"  renga mine --network regtest --blocks 101 --datadir /tmp/renga\n"+
			"  renga mine --blocks 10 --address RxYz… --threads 1")
	cf := addChainFlags(fs, "devnet")
	blocks := fs.Int("blocks", 0, "number of blocks to mine (required)")
	addr := fs.String("address", "", "P2PKH address to pay (default: the wallet's first key)")
	threads := fs.Int("threads", 0, "workers (default GOMAXPROCS)")
	kernelName := fs.String("kernel", "", "scan kernel: generic, avx2, shani, shani4, avx512 (default: $RENGA_KERNEL, else the fastest)")
	quiet := fs.Bool("quiet", false, "no live status line")
	jsonOut := fs.Bool("json", false, "print the blocks and the summary as one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: mine takes no arguments (did you mean --blocks %s?)", errUsage, fs.Arg(0))
	}
	if *blocks < 1 {
		fs.Usage()
		return fmt.Errorf("%w: --blocks must be at least 1", errUsage)
	}
	if *threads < 0 {
		return fmt.Errorf("%w: --threads must not be negative", errUsage)
	}
	if *kernelName != "" {
		if err := checkKernel(*kernelName); err != nil {
			return err
		}
	}
	p, err := cf.params()
	if err != nil {
		return err
	}
	if p == chain.Mainnet {
		return fmt.Errorf("%w: refusing to mine on mainnet: a block needs at least 2^32 hashes (today's about 2^79), "+
			"and a private fork of Bitcoin's history is of no use; use --network devnet or regtest", errUsage)
	}
	var script []byte
	var payee string
	if *addr != "" {
		a, err := address.ParseP2PKH(*addr, p.PubKeyHashVersion)
		if err != nil {
			return fmt.Errorf("%w: --address: %v", errUsage, err)
		}
		script, payee = chain.PayToPubKeyHashScript(a.Hash), a.String()
	}

	dir := cf.dir(p)
	c, err := chain.Open(dir, p, chain.Options{Logger: newLogger(io.errs, slog.LevelWarn)})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("mine: close the chain: %w", cerr)
		}
	}()
	if script == nil {
		path := filepath.Join(dir, "wallet.json")
		key, created, err := wallet.FirstKey(path, p)
		if err != nil {
			return err
		}
		script, payee = key.Script, key.Address.String()
		if created {
			payee += " (new key in " + path + ")"
		} else {
			payee += " (" + path + ")"
		}
	}

	show := &mineProgress{io: io, tty: !*quiet && !*jsonOut && isTerminal(io.errs)}
	var report mineReport
	m, err := miner.New(miner.Config{
		Chain:   c,
		Threads: *threads,
		Kernel:  *kernelName,
		Logger:  newLogger(io.errs, slog.LevelWarn),
		OnBlock: func(f miner.Found) {
			if f.Err == nil {
				report.Blocks = append(report.Blocks, mineBlock{Height: f.Height, Hash: f.Hash.String(), Seconds: f.Elapsed.Seconds(), Txs: f.Txs})
			}
			if !*jsonOut {
				show.found(f)
			}
		},
	})
	if err != nil {
		return err
	}
	tip := c.Tip()
	fmt.Fprintf(io.errs, "mining %d blocks on %s from height %d with %s on %d threads, paying %s\n",
		*blocks, p.Name, tip.Height, m.Kernel(), m.Threads(), payee)

	// The status line is redrawn from its own goroutine while Generate runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if show.tty {
		wg.Go(func() {
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					show.status(m.Stats(), *blocks)
				}
			}
		})
	}
	start := time.Now()
	hashes, genErr := m.Generate(ctx, *blocks, script)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	show.clear()

	st := m.Stats()
	report.Network, report.Kernel, report.Threads = p.Name, st.Kernel, st.Threads
	report.Mined, report.Seconds, report.Hashes = len(hashes), elapsed.Seconds(), st.Hashes
	report.Rate = float64(st.Hashes) / max(elapsed.Seconds(), 1e-9)
	report.Height = c.Tip().Height
	report.Stale, report.Rejected = st.Stale, st.Rejected
	if *jsonOut {
		if err := json.NewEncoder(io.out).Encode(report); err != nil {
			return err
		}
	} else {
		report.print(io.out)
	}
	if genErr != nil {
		return fmt.Errorf("mine: %w", genErr)
	}
	return nil
}

// checkKernel fails with a usage error unless name is an available kernel.
func checkKernel(name string) error {
	_, err := benchKernels(name)
	return err
}

// mineBlock and mineReport are what --json prints.
type mineBlock struct {
	Height  int32   `json:"height"`
	Hash    string  `json:"hash"`
	Seconds float64 `json:"seconds"`
	Txs     int     `json:"txs"`
}

type mineReport struct {
	Network  string      `json:"network"`
	Kernel   string      `json:"kernel"`
	Threads  int         `json:"threads"`
	Mined    int         `json:"mined"`
	Height   int32       `json:"height"`
	Seconds  float64     `json:"seconds"`
	Hashes   uint64      `json:"hashes"`
	Rate     float64     `json:"nonces_per_second"`
	Stale    uint64      `json:"stale"`
	Rejected uint64      `json:"rejected"`
	Blocks   []mineBlock `json:"blocks"`
}

func (r *mineReport) print(w io.Writer) {
	per := 0.0
	if r.Mined > 0 {
		per = r.Seconds / float64(r.Mined)
	}
	fmt.Fprintf(w, "mined %d blocks in %.2fs (%.3fs a block); tip height %d\n", r.Mined, r.Seconds, per, r.Height)
	fmt.Fprintf(w, "hashrate %.2f M nonces/s (%d nonces, kernel %s, %d threads)\n", r.Rate/1e6, r.Hashes, r.Kernel, r.Threads)
	if r.Stale > 0 || r.Rejected > 0 {
		fmt.Fprintf(w, "%d stale, %d refused by the chain\n", r.Stale, r.Rejected)
	}
}

// mineProgress prints found blocks on out and, on a terminal, a status line
// on errs redrawn in place; the lock keeps the two from interleaving.
type mineProgress struct {
	io  stdio
	tty bool
	mu  sync.Mutex
}

func (p *mineProgress) found(f miner.Found) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.io.errs, "\r\033[K")
	}
	if f.Err != nil {
		fmt.Fprintf(p.io.errs, "block %d %s not connected: %v\n", f.Height, f.Hash, f.Err)
		return
	}
	fmt.Fprintf(p.io.out, "%8d  %s  %8.3fs  %d txs\n", f.Height, f.Hash, f.Elapsed.Seconds(), f.Txs)
}

func (p *mineProgress) status(st miner.Stats, want int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.io.errs, "\r\033[Kmining height %d  %.2f M nonces/s  found %d/%d", st.Height, st.Rate/1e6, st.Found, want)
}

func (p *mineProgress) clear() {
	if p.tty {
		p.mu.Lock()
		fmt.Fprint(p.io.errs, "\r\033[K")
		p.mu.Unlock()
	}
}
