package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/renga-p2p/renga/chain"
)

func runImport(ctx context.Context, args []string, io stdio) (err error) {
	fs := newFlags(io, "import", "[flags] FILE...",
		"Import blocks from bitcoind/btcd block files (magic | length | block, repeated) with full\n"+
			"validation of every header, transaction, script and signature. Blocks already known are\n"+
			"skipped, so an interrupted import is finished by running it again. On bad data it stops\n"+
			"with the file, the offset and the rule, keeping everything before.",
		"  renga import --network mainnet --datadir /tmp/renga blk_0_to_14131.dat")
	cf := addChainFlags(fs, "mainnet")
	reindex := fs.Bool("reindex-chainstate", false, "rebuild the UTXO set from the stored blocks first")
	quiet := fs.Bool("quiet", false, "no progress line")
	jsonOut := fs.Bool("json", false, "print the summary as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 && !*reindex {
		fs.Usage()
		return fmt.Errorf("%w: no block file given", errUsage)
	}
	p, err := cf.params()
	if err != nil {
		return err
	}
	c, err := chain.Open(cf.dir(p), p, chain.Options{Logger: newLogger(io.errs, slog.LevelWarn)})
	if err != nil {
		return err
	}
	// Close commits the blocks still waiting in the batch: its error is the
	// import's.
	defer func() { err = errors.Join(err, c.Close()) }()

	start := time.Now()
	if *reindex {
		fmt.Fprintf(io.errs, "reindexing the chain state of %s…\n", cf.dir(p))
		if err := c.ReindexChainstate(ctx); err != nil {
			return err
		}
	}
	var total chain.ImportProgress
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		size := int64(0)
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		bar := newProgress(io, name, size, *quiet)
		st, err := c.Import(ctx, f, name, bar.update)
		_ = f.Close() // opened read-only: closing cannot lose anything
		bar.done(st)
		total.Blocks += st.Blocks
		total.Skipped += st.Skipped
		total.Bytes += st.Bytes
		if err != nil {
			return err
		}
	}
	stats, err := c.UTXOStats()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if *jsonOut {
		return json.NewEncoder(io.out).Encode(map[string]any{
			"network": p.Name, "blocks": total.Blocks, "skipped": total.Skipped, "bytes": total.Bytes,
			"seconds": elapsed.Seconds(), "height": stats.Height, "tip": stats.Tip.String(),
			"coins": stats.Coins, "total": stats.Total, "utxo_digest": stats.Digest.String(),
		})
	}
	fmt.Fprintf(io.out, "imported %d blocks (%d already known) in %.2fs\n", total.Blocks, total.Skipped, elapsed.Seconds())
	fmt.Fprintf(io.out, "tip        %d %s\n", stats.Height, stats.Tip)
	fmt.Fprintf(io.out, "utxo set   %d coins, %s\n", stats.Coins, chain.Amount(stats.Total))
	fmt.Fprintf(io.out, "utxo hash  %s\n", stats.Digest)
	return nil
}

// progress draws "height, blocks/s, ETA" for an import.
type progress struct {
	io    stdio
	name  string
	size  int64
	quiet bool
	tty   bool
	last  time.Time
}

func newProgress(io stdio, name string, size int64, quiet bool) *progress {
	return &progress{io: io, name: name, size: size, quiet: quiet, tty: isTerminal(io.errs)}
}

func (p *progress) line(st chain.ImportProgress, finished bool) string {
	rate := float64(st.Blocks) / max(st.Elapsed.Seconds(), 1e-9)
	s := fmt.Sprintf("%s: height %d  %d blocks  %.0f blocks/s  %.1f MB", p.name, st.Height, st.Blocks, rate, float64(st.Bytes)/1e6)
	switch {
	case finished:
		return s + fmt.Sprintf("  done in %s", st.Elapsed.Round(time.Millisecond))
	case p.size > 0 && st.Bytes > 0:
		// From the share of the file read (a pre-allocated file's zero
		// padding makes this pessimistic).
		left := time.Duration(float64(st.Elapsed) * float64(p.size-st.Bytes) / float64(st.Bytes))
		return s + "  ETA " + left.Round(time.Second).String()
	}
	return s
}

func (p *progress) update(st chain.ImportProgress) {
	if p.quiet {
		return
	}
	if p.tty {
		fmt.Fprintf(p.io.errs, "\r\033[K%s", p.line(st, false))
		return
	}
	if time.Since(p.last) >= 2*time.Second { // a line now and then when not on a terminal
		p.last = time.Now()
		fmt.Fprintln(p.io.errs, p.line(st, false))
	}
}

func (p *progress) done(st chain.ImportProgress) {
	if p.quiet {
		return
	}
	if p.tty {
		fmt.Fprint(p.io.errs, "\r\033[K")
	}
	fmt.Fprintln(p.io.errs, p.line(st, true))
}
