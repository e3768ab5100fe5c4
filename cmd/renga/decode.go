package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/renga-p2p/renga/net/capture"
)

func runDecode(ctx context.Context, args []string, io stdio) error {
	fs := newFlags(io, "decode", "FILE|DIR [flags]",
		"Read a pcap or pcapng capture, reassemble its TCP streams and print one line per Bitcoin\n"+
			"message, discovery beacon, gap or malformed item: time, source → destination, direction\n"+
			"(in: received by the node), command, payload size and a summary. Regtest and mainnet\n"+
			"frames are recognised by their magic; devnet's is learned from the capture or given\n"+
			"with --magic. A cmpr frame is decompressed and shown as the message it carries, as if\n"+
			"sent plain, its summary marked [cmpr CODEC SIZE B].\n"+
			"Bitcoin Core's message-capture files (-capturemessages, renga node --capturemessages) are\n"+
			"read too: a .dat file, or a directory (a data directory, its message_capture, or one\n"+
			"peer's directory) whose msgs_sent.dat and msgs_recv.dat files are printed in time order,\n"+
			"the peer taken from the directory name and the direction from the file name; the node's\n"+
			"own address is not in those files and shows as -.",
		"  renga decode node.pcapng\n"+
			"  renga decode lo.pcapng --peer 127.0.0.1:18444 --command inv,getdata --direction in\n"+
			"  renga decode node.pcapng --json | jq .summary\n"+
			"  renga decode ~/.renga/regtest/message_capture --command cmpctblock,getblocktxn,blocktxn")
	var d decodeFlags
	d.register(fs)
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: decode takes one capture file or directory, got %d", errUsage, len(files))
	}
	cfg, filter, err := d.config()
	if err != nil {
		return err
	}
	if isMessageCapture(files[0]) {
		return decodeMessageCapture(ctx, files[0], cfg, d.printer(io.out, filter), io.errs)
	}
	return decodeFile(ctx, files[0], cfg, d.printer(io.out, filter), io.errs)
}

// isMessageCapture tells Core's message-capture files (a directory, or a
// .dat file) from packet captures.
func isMessageCapture(name string) bool {
	info, err := os.Stat(name)
	if err != nil {
		return false // decodeFile reports it
	}
	return info.IsDir() || strings.HasSuffix(name, ".dat")
}

// decodeMessageCapture prints the records of Core's message-capture files
// at path in time order, as decodeFile prints a packet capture's.
func decodeMessageCapture(ctx context.Context, path string, cfg capture.DecoderConfig, p *printer, errs io.Writer) error {
	rd, err := capture.OpenMessageCapture(path)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	defer func() { _ = rd.Close() }() // read-only
	dec := capture.NewDecoder(cfg)
	recs := make([]capture.Record, 1)
	var readErr error
	for ctx.Err() == nil {
		m, err := rd.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("decode %s: %w", path, err)
			}
			break
		}
		recs[0] = dec.Message(m)
		if err := p.print(recs); err != nil {
			return err
		}
	}
	if err := p.flush(); err != nil {
		return err
	}
	st := dec.Stats()
	_, _ = fmt.Fprintf(errs, "%s (message capture, %d files): %d messages, %d unknown, %d malformed, %d cmpr decompressed\n",
		path, len(rd.Files()), st.Messages, st.Unknown, st.Malformed, st.Decompressed)
	// What was read before a file went wrong is still printed; then its
	// problem is the command's error.
	if err := rd.Err(); err != nil && readErr == nil {
		readErr = fmt.Errorf("decode %s: %w", path, err)
	}
	if readErr != nil {
		return readErr
	}
	return ctx.Err()
}

func decodeFile(ctx context.Context, name string, cfg capture.DecoderConfig, p *printer, errs io.Writer) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only
	rd, err := capture.NewReader(f)
	if err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	dec := capture.NewDecoder(cfg)
	var recs []capture.Record
	var readErr error
	for ctx.Err() == nil {
		pkt, err := rd.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("decode %s: %w", name, err)
			}
			break
		}
		recs = dec.Feed(pkt, recs[:0])
		if err := p.print(recs); err != nil {
			return err
		}
	}
	// What was read before a bad or cut-off record is still reported.
	if err := p.print(dec.Flush(recs[:0])); err != nil {
		return err
	}
	if err := p.flush(); err != nil {
		return err
	}
	st := dec.Stats()
	_, _ = fmt.Fprintf(errs, "%s (%s): %d packets, %d messages, %d beacons, %d unknown, %d malformed, %d gaps (%d bytes), %d cmpr decompressed\n",
		name, rd.Format(), st.Packets, st.Messages, st.Beacons, st.Unknown, st.Malformed, st.Gaps, st.GapBytes, st.Decompressed)
	if readErr != nil {
		return readErr
	}
	return ctx.Err()
}

// decodeFlags are the flags decode and capture share.
type decodeFlags struct {
	peers, commands, magics, ports listFlag
	direction                      string
	json, utc                      bool
}

func (d *decodeFlags) register(fs *flag.FlagSet) {
	fs.Var(&d.peers, "peer", "only items to or from `ADDR`: an address, address:port or prefix (repeatable)")
	fs.Var(&d.commands, "command", "only messages of `CMD` (a cmpr matches its inner command too; repeatable, or comma-separated)")
	fs.StringVar(&d.direction, "direction", "", "only items going `DIR`: in (received by the node) or out (sent by it)")
	fs.BoolVar(&d.json, "json", false, "print JSON lines instead of aligned text")
	fs.BoolVar(&d.utc, "utc", false, "print times in UTC instead of local time")
	fs.Var(&d.magics, "magic", "also decode frames with network magic `HEX` (8 hex digits in wire order; repeatable)")
	fs.Var(&d.ports, "port", "Renga's TCP/UDP `PORT`s, whose streams are decoded even when they start mid-frame (repeatable; default 28333,28334,18444,8333)")
}

func (d *decodeFlags) config() (capture.DecoderConfig, capture.Filter, error) {
	var cfg capture.DecoderConfig
	var f capture.Filter
	for _, s := range d.magics {
		m, err := capture.ParseMagic(s)
		if err != nil {
			return cfg, f, fmt.Errorf("%w: --magic: %v", errUsage, err)
		}
		cfg.Magics = append(cfg.Magics, m)
	}
	ports, err := parsePorts(d.ports)
	if err != nil {
		return cfg, f, err
	}
	cfg.Ports = ports
	for _, s := range d.peers {
		m, err := capture.ParsePeerMatch(s)
		if err != nil {
			return cfg, f, fmt.Errorf("%w: --peer: %v", errUsage, err)
		}
		f.Peers = append(f.Peers, m)
	}
	f.Commands = d.commands
	if d.direction != "" {
		dir, err := capture.ParseDirection(d.direction)
		if err != nil {
			return cfg, f, fmt.Errorf("%w: --direction: %v", errUsage, err)
		}
		f.Direction = dir
	}
	return cfg, f, nil
}

// parsePorts parses --port values; none means nil (the default ports).
func parsePorts(list []string) ([]uint16, error) {
	var ports []uint16
	for _, s := range list {
		p, err := strconv.ParseUint(s, 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("%w: --port %q is not a port number", errUsage, s)
		}
		ports = append(ports, uint16(p))
	}
	return ports, nil
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// parseInterspersed parses flags that may come before or after positional
// arguments (`renga decode FILE --json`), which the flag package alone stops
// at, and returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// printer writes records, filtered, as text or JSON lines.
type printer struct {
	w      *bufio.Writer
	json   bool
	filter capture.Filter
	loc    *time.Location
	line   []byte
}

func (d *decodeFlags) printer(w io.Writer, filter capture.Filter) *printer {
	p := &printer{w: bufio.NewWriter(w), json: d.json, filter: filter, loc: time.Local}
	if d.utc {
		p.loc = time.UTC
	}
	return p
}

func (p *printer) print(recs []capture.Record) error {
	for i := range recs {
		r := &recs[i]
		if !p.filter.Match(r) {
			continue
		}
		if p.json {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			p.line = append(b, '\n')
		} else {
			p.line = append(r.AppendText(p.line[:0], p.loc), '\n')
		}
		if _, err := p.w.Write(p.line); err != nil {
			return err
		}
	}
	return nil
}

func (p *printer) flush() error { return p.w.Flush() }
