// Command renga is Renga's one binary: the node, a local devnet, the miner's
// benchmark, block import, packet capture and decoding, a wallet and an RPC
// client, each a subcommand with its own flags. Run `renga help` for the list
// and `renga <command> -h` for one command with an example.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// stdio is where a command writes: out for results, errs for progress and
// diagnostics. Tests give buffers; main gives the process's streams.
type stdio struct {
	out, errs io.Writer
}

// command is one subcommand. run gets the arguments after the command's name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io stdio) error
}

// commands lists the subcommands in the order `renga help` shows them.
var commands = []command{
	{"node", "run a node: peers, LAN discovery, sync, relay, RPC, and with --mine, mining", runNode},
	{"devnet", "start N nodes on this machine that find each other and mine; show them live", runDevnet},
	{"cli", "call a running node's JSON-RPC method", runCLI},
	{"wallet", "keep keys and pay through a running node: new, address, balance, send", runWallet},
	{"import", "import and validate blocks from bitcoind/btcd block files", runImport},
	{"version", "print the version of renga and of the protocol", runVersion},
	{"decode", "print the messages of a pcap or pcapng capture, one line each", runDecode},
	{"capture", "capture and decode live traffic on an interface (root); print the Wireshark plugin", runCapture},
	{"bench", "measure every SHA-256d mining kernel against crypto/sha256 on 1..N threads", runBench},
	{"mine", "mine N blocks into the local chain of devnet or regtest", runMine},
}

// errUsage marks a mistake in the command line; main exits with status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], stdio{out: os.Stdout, errs: os.Stderr})
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "renga:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "renga:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, io stdio) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(io.out)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], io)
		}
	}
	printHelp(io.errs)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "renga: a peer-to-peer node speaking the Bitcoin P2P protocol")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: renga <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'renga <command> -h' for a command's flags and an example.")
}

// newFlags returns a FlagSet for a command whose -h text shows usage, a
// description and an example, and whose errors come back (not exit).
func newFlags(io stdio, name, usage, description, example string) *flag.FlagSet {
	fs := flag.NewFlagSet("renga "+name, flag.ContinueOnError)
	fs.SetOutput(io.errs)
	fs.Usage = func() {
		fmt.Fprintf(io.errs, "usage: renga %s %s\n\n%s\n\nflags:\n", name, usage, description)
		fs.PrintDefaults()
		if example != "" {
			fmt.Fprintf(io.errs, "\nexample:\n%s\n", example)
		}
	}
	return fs
}

// parseFlags parses args and turns a bad command line into errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}
