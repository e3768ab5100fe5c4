package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/renga-p2p/renga/chain"
)

// chainFlags are the flags every command that opens a chain shares.
type chainFlags struct {
	network *string
	datadir *string
}

func addChainFlags(fs *flag.FlagSet, defaultNetwork string) *chainFlags {
	return &chainFlags{
		network: fs.String("network", defaultNetwork, "network: devnet, regtest or mainnet"),
		datadir: fs.String("datadir", defaultDataDir(), "data directory (each network in its own subdirectory)"),
	}
}

// defaultDataDir is ~/.renga, or ./.renga without a home directory.
func defaultDataDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".renga")
	}
	return ".renga"
}

func (f *chainFlags) params() (*chain.Params, error) {
	p, err := chain.NetworkByName(*f.network)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return p, nil
}

// dir is the network's directory inside the data directory.
func (f *chainFlags) dir(p *chain.Params) string { return filepath.Join(*f.datadir, p.Name) }

// isTerminal reports whether w is a terminal (progress lines are redrawn in
// place there, and printed now and then otherwise).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newLogger returns a text logger on w at the given level.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
