package main

// Tests with real sockets and live capture, each in a private network
// namespace of its own (design.md §6, "Network safety"): nothing is sent or
// captured outside it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/capture"
	"github.com/renga-p2p/renga/net/sock/nstest"
	"github.com/renga-p2p/renga/wire"
)

// TestDecodeDumpcapCapture decodes what dumpcap (Wireshark's capture engine)
// wrote of real exchanges over loopback in a private namespace: on lo as
// pcapng (Ethernet frames) and as classic pcap, and on the "any" pseudo
// interface (Linux cooked headers, SLL and SLL2).
func TestDecodeDumpcapCapture(t *testing.T) {
	dumpcap, err := exec.LookPath("dumpcap")
	if err != nil {
		t.Skip("dumpcap is not installed (Debian package wireshark-common, which tshark pulls in)")
	}
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	for _, tc := range []struct {
		name, iface, format string
		args                []string
		link                capture.LinkType
	}{
		{"lo pcapng", "lo", "pcapng", nil, capture.LinkEthernet},
		{"lo pcap", "lo", "pcap", []string{"-P"}, capture.LinkEthernet},
		{"any", "any", "pcapng", nil, capture.LinkLinuxSLL},
		{"any SLL2", "any", "pcapng", []string{"-y", "LINUX_SLL2"}, capture.LinkLinuxSLL2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, want := dumpcapExchange(t, dumpcap, tc.iface, tc.args...)
			out, errs, err := runCmd(t, "decode", path, "--json")
			if err != nil && !errors.Is(err, capture.ErrTruncated) { // killed mid-write at worst
				t.Fatalf("%v\n%s", err, errs)
			}
			if got := field(jsonRecords(t, out), "command"); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("decoded %v\nsent    %v", got, want)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = f.Close() }() // read-only
			rd, err := capture.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := rd.Next()
			if err != nil || rd.Format() != tc.format || p.LinkType != tc.link {
				t.Fatalf("dumpcap wrote %s with link type %v (%v), want %s with %v", rd.Format(), p.LinkType, err, tc.format, tc.link)
			}
		})
	}
}

// dumpcapExchange captures an exchange on iface with dumpcap and returns the
// file it wrote and the commands exchanged.
func dumpcapExchange(t *testing.T, dumpcap, iface string, args ...string) (string, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	args = append([]string{"-q", "-i", iface, "-f", "tcp port 18444 or udp port 28334", "-w", "-"}, args...)
	cmd := exec.CommandContext(ctx, dumpcap, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()         // its exit status is that of the kill
	defer func() { _ = cmd.Process.Kill() }() // stops only on a signal; may have exited
	// dumpcap writes the file header once it captures, and flushes every
	// packet to a pipe: follow it with the reader until every message has
	// passed.
	var file bytes.Buffer
	rd, err := capture.NewReader(io.TeeReader(stdout, &file))
	if err != nil {
		t.Fatalf("dumpcap's output: %v\n%s", err, stderr.String())
	}
	want := exchangeOnLoopback(t, "127.0.0.1:18444")
	dec := capture.NewDecoder(capture.DecoderConfig{})
	var seen int
	for seen < len(want) {
		p, err := rd.Next()
		if err != nil {
			t.Fatalf("after %d of %d messages: %v\n%s", seen, len(want), err, stderr.String())
		}
		seen += len(dec.Feed(p, nil))
	}
	_ = cmd.Process.Kill()        // stops only on a signal
	_, _ = io.Copy(&file, stdout) // what it wrote before the kill, if anything
	path := filepath.Join(t.TempDir(), "dumpcap")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// runCmdCtx runs renga in-process with a context.
func runCmdCtx(ctx context.Context, args []string, out, errs io.Writer) error {
	return run(ctx, args, stdio{out: out, errs: errs})
}

// lines sends each line read from r on the returned channel, closing it at
// the end of r.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 1000) // a failed test that stops reading does not block the writer
	go func() {
		defer close(ch)
		s := bufio.NewScanner(r)
		for s.Scan() {
			ch <- s.Text()
		}
	}()
	return ch
}

// exchangeOnLoopback plays the conversation over a real TCP connection to
// addr (an address on lo), in lockstep so the order on the wire is the
// script's, then sends a beacon to UDP 28334. It returns the commands sent
// as renga decode shows them (a cmpr as what it carries).
func exchangeOnLoopback(t *testing.T, addr string) []string {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	script := conversation()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer func() { _ = c.Close() }()
		if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			served <- err
			return
		}
		served <- play(c, script, false)
	}()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := play(c, script, true); err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	u, err := net.Dial("udp4", "127.0.0.1:28334")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = u.Close() }()
	if _, err := u.Write(wire.AppendBeacon(nil, &wire.Beacon{Magic: regtest, Port: 18444, StartHeight: 7}, nil)); err != nil {
		t.Fatal(err)
	}
	return append(shownOf(script), "beacon")
}

// play sends this side's messages of the script and reads the other side's.
func play(c net.Conn, script []message, client bool) error {
	r := wire.NewReader(c, regtest)
	for i, m := range script {
		if m.fromClient == client {
			if err := wire.WriteMessage(c, regtest, m.msg); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
			continue
		}
		got, err := r.ReadMessage()
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		if got.Command() != m.msg.Command() {
			return fmt.Errorf("step %d: read %s, want %s", i, got.Command(), m.msg.Command())
		}
	}
	return nil
}

// TestCaptureLoopback runs `renga capture -i lo` in a private namespace
// while two sockets on 127.0.0.1 exchange frames: every message is printed
// once (the outgoing copies dropped), and the pcapng it writes decodes to the
// same messages, with renga decode and with tshark.
func TestCaptureLoopback(t *testing.T) {
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	file := filepath.Join(t.TempDir(), "live.pcapng")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runCmdCtx(ctx, []string{"capture", "-i", "lo", "-w", file, "--json"}, outW, errW)
		_ = outW.Close() // a pipe's Close does not fail
		_ = errW.Close()
		done <- err
	}()
	outLines, errLines := lines(outR), lines(errR)
	select {
	case l, ok := <-errLines:
		if !ok || !strings.Contains(l, "capturing on lo") {
			t.Fatalf("capture said %q (%v)", l, <-done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("capture did not start")
	}

	want := exchangeOnLoopback(t, "127.0.0.1:18444")
	var got []string
	timeout := time.After(30 * time.Second)
	for len(got) < len(want) {
		select {
		case l := <-outLines:
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("not JSON: %q", l)
			}
			if rec["kind"] != "message" && rec["kind"] != "beacon" {
				t.Errorf("record %s", l)
			}
			got = append(got, rec["command"].(string))
		case <-timeout:
			t.Fatalf("printed %v, want %v", got, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for l := range outLines {
		t.Errorf("printed after the last message: %s", l)
	}
	var summary []string
	for l := range errLines {
		summary = append(summary, l)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("printed %v\nsent    %v", got, want)
	}
	if len(summary) != 1 || !strings.Contains(summary[0], fmt.Sprintf("%d messages, 1 beacons", len(want)-1)) {
		t.Errorf("summary %q", summary)
	}

	out, _, err := runCmd(t, "decode", file, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if cmds := field(jsonRecords(t, out), "command"); strings.Join(cmds, " ") != strings.Join(want, " ") {
		t.Fatalf("the pcapng decodes to %v", cmds)
	}
	tsharkCheck(t, file, append(commandsOf(conversation()), "beacon")) // tshark shows a cmpr as cmpr
}
