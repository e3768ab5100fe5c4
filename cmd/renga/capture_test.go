package main

import (
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

func TestCaptureWiresharkPlugin(t *testing.T) {
	out, _, err := runCmd(t, "capture", "--wireshark-plugin")
	if err != nil || out != capture.WiresharkPlugin() || !strings.Contains(out, `DissectorTable.get("bitcoin.command")`) {
		t.Fatalf("printed %d bytes (%v)", len(out), err)
	}
}

func TestCaptureUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no interface", []string{"capture"}},
		{"arguments", []string{"capture", "-i", "lo", "extra"}},
		{"bad port", []string{"capture", "-i", "lo", "--port", "x"}},
		{"too many ports", append([]string{"capture", "-i", "lo"}, strings.Split(manyPorts(), " ")...)},
		{"bad direction", []string{"capture", "-i", "lo", "--direction", "sideways"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := runCmd(t, tc.args...); !errors.Is(err, errUsage) {
				t.Fatalf("error %v, want a usage error", err)
			}
		})
	}
	t.Run("no such interface", func(t *testing.T) {
		_, _, err := runCmd(t, "capture", "-i", "no-such-if0")
		if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "no-such-if0") {
			t.Fatalf("error %v", err)
		}
	})
}

func manyPorts() string {
	var s []string
	for p := range capture.MaxFilterPorts + 1 {
		s = append(s, fmt.Sprintf("--port=%d", 1000+p))
	}
	return strings.Join(s, " ")
}

// exchangeOnLoopback plays the conversation over a real TCP connection to
// addr (an address on lo), in lockstep so the order on the wire is the
// script's, then sends a beacon to UDP 28334. It returns the commands sent.
func exchangeOnLoopback(t *testing.T, addr string) []string {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	script := conversation()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		served <- play(c, script, false)
	}()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := play(c, script, true); err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
	c.Close()
	u, err := net.Dial("udp4", "127.0.0.1:28334")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Write(wire.AppendBeacon(nil, &wire.Beacon{Magic: regtest, Port: 18444, StartHeight: 7}, nil)); err != nil {
		t.Fatal(err)
	}
	return append(commandsOf(script), "beacon")
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
		outW.Close()
		errW.Close()
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
	tsharkCheck(t, file, want)
}

// tsharkCheck reads a capture with tshark and the plugin: the same messages,
// no malformed packets, no expert errors.
func tsharkCheck(t *testing.T, file string, want []string) {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark is not installed (Debian package tshark): the capture file is not cross-checked")
		return
	}
	plugin := filepath.Join(t.TempDir(), "renga.lua")
	os.WriteFile(plugin, []byte(capture.WiresharkPlugin()), 0o644)
	tshark := func(args ...string) string {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, path, append([]string{"-n", "-X", "lua_script:" + plugin, "-r", file}, args...)...).Output()
		if err != nil {
			t.Fatalf("tshark %v: %v", args, err)
		}
		return string(out)
	}
	var seq []string
	for _, line := range strings.Split(strings.TrimSpace(tshark("-T", "fields", "-E", "separator=|", "-e", "bitcoin.command", "-e", "renga.beacon.port")), "\n") {
		cmds, beacon, _ := strings.Cut(line, "|")
		if cmds != "" {
			seq = append(seq, strings.Split(cmds, ",")...)
		}
		if beacon != "" {
			seq = append(seq, "beacon")
		}
	}
	if strings.Join(seq, " ") != strings.Join(want, " ") {
		t.Errorf("tshark decoded %v\nwant          %v", seq, want)
	}
	if expert := tshark("-q", "-z", "expert"); strings.Contains(expert, "Errors (") {
		t.Errorf("tshark reports errors:\n%s", expert)
	}
	if v := tshark("-V"); strings.Contains(v, "Malformed") || strings.Contains(v, "Lua Error") {
		t.Errorf("tshark reports a malformed packet")
	}
}
