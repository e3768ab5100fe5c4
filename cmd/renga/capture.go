package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/sock"
)

// captureSnaplen is how much of each packet a live capture keeps: all of it
// for any loopback segment (64 KiB) with room to spare.
const captureSnaplen = 262144

func runCapture(ctx context.Context, args []string, io stdio) (err error) {
	fs := newFlags(io, "capture", "-i IFACE [-w FILE] [--port P]... [--json] [flags]",
		"Capture live on an interface (an AF_PACKET socket: root, Linux) the TCP and UDP traffic of\n"+
			"Renga's ports, decode the messages as they pass and print them as `renga decode` does;\n"+
			"optionally write the packets to a pcapng file. A classic BPF program in the kernel keeps\n"+
			"only those ports (IPv4 and IPv6 over Ethernet). On a loopback interface every packet\n"+
			"is seen twice; the outgoing copy is dropped, and directions are unknown (shown as ?)\n"+
			"since both ends are this host. Interrupt (Ctrl-C) to stop.\n"+
			"With --wireshark-plugin, print the Wireshark Lua plugin instead.",
		"  sudo renga capture -i lo -w devnet.pcapng\n"+
			"  sudo renga capture -i eth0 --port 18444 --json\n"+
			"  renga capture --wireshark-plugin > ~/.local/lib/wireshark/plugins/renga.lua")
	iface := fs.String("i", "", "capture on interface `IFACE`, e.g. lo")
	file := fs.String("w", "", "also write the captured packets to `FILE` (pcapng)")
	plugin := fs.Bool("wireshark-plugin", false, "print the Wireshark Lua plugin and exit")
	var d decodeFlags
	d.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: capture takes no arguments, got %q", errUsage, fs.Args())
	}
	if *plugin {
		_, err := fmt.Fprint(io.out, capture.WiresharkPlugin())
		return err
	}
	if *iface == "" {
		fs.Usage()
		return fmt.Errorf("%w: capture needs an interface (-i)", errUsage)
	}
	cfg, filter, err := d.config()
	if err != nil {
		return err
	}
	if cfg.Ports == nil {
		cfg.Ports = capture.DefaultPorts()
	}
	prog, err := capture.PortFilter(cfg.Ports, captureSnaplen)
	if err != nil {
		return fmt.Errorf("%w: --port: %v", errUsage, err)
	}
	filterProg := make([]sock.BPFInstruction, len(prog))
	for i, ins := range prog {
		filterProg[i] = sock.BPFInstruction(ins)
	}
	conn, err := sock.ListenPacket(sock.PacketOptions{Interface: *iface, Filter: filterProg})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("capture: %w (a packet socket needs root or CAP_NET_RAW)", err)
		}
		return fmt.Errorf("capture: %w", err)
	}
	// The interrupt closes the socket too; either close will do.
	defer func() { _ = conn.Close() }()
	if !conn.Ethernet() {
		return fmt.Errorf("capture: %s does not frame packets as Ethernet; only Ethernet and loopback interfaces are supported", *iface)
	}
	var png *capture.PcapngWriter
	if *file != "" {
		f, ferr := os.Create(*file)
		if ferr != nil {
			return fmt.Errorf("capture: %w", ferr)
		}
		defer func() { // a file written to must be closed without error
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("capture: %w", cerr)
			}
		}()
		if png, ferr = capture.NewPcapngWriter(f, capture.PcapngOptions{Application: "renga capture " + buildVersion()}); ferr != nil {
			return fmt.Errorf("capture: %s: %w", *file, ferr)
		}
		if _, ferr = png.AddInterface(capture.Interface{LinkType: capture.LinkEthernet, Name: *iface, Snaplen: captureSnaplen}); ferr != nil {
			return fmt.Errorf("capture: %s: %w", *file, ferr)
		}
	}
	// Closing the socket is how an interrupt stops the blocked read.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	_, _ = fmt.Fprintf(io.errs, "capturing on %s, ports %s; interrupt to stop\n", *iface, portList(cfg.Ports)) // a diagnostic
	return liveLoop(ctx, conn, png, *file, capture.NewDecoder(cfg), d.printer(io.out, filter), io)
}

// liveLoop reads, records and decodes packets until the context ends.
func liveLoop(ctx context.Context, conn *sock.PacketConn, png *capture.PcapngWriter, file string, dec *capture.Decoder, p *printer, io stdio) error {
	buf := make([]byte, captureSnaplen)
	var recs []capture.Record
	for {
		info, err := conn.ReadPacket(buf)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("capture: %w", err)
		}
		dir := capture.DirIn
		switch {
		case conn.Loopback() && info.Type == sock.PacketOutgoing:
			continue // the same packet comes back in as PacketHost
		case conn.Loopback():
			dir = capture.DirUnknown // both ends are this host
		case info.Type == sock.PacketOutgoing:
			dir = capture.DirOut
		}
		pkt := capture.Packet{Time: info.Time, LinkType: capture.LinkEthernet, Data: buf[:info.N], Length: info.Length, Direction: dir}
		if png != nil {
			if err := png.WritePacket(0, pkt); err != nil {
				return fmt.Errorf("capture: %s: %w", file, err)
			}
		}
		recs = dec.Feed(pkt, recs[:0])
		if err := p.print(recs); err != nil {
			return err
		}
		if err := p.flush(); err != nil {
			return err
		}
	}
	if err := p.print(dec.Flush(recs[:0])); err != nil {
		return err
	}
	if err := p.flush(); err != nil {
		return err
	}
	st := dec.Stats()
	_, _ = fmt.Fprintf(io.errs, "captured %d packets: %d messages, %d beacons, %d unknown, %d malformed, %d gaps\n",
		st.Packets, st.Messages, st.Beacons, st.Unknown, st.Malformed, st.Gaps)
	return nil
}

func portList(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}
