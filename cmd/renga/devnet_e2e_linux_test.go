package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/sock/nstest"
)

// TestDevnet runs `renga devnet` as a user would, for half a minute, on
// loopback (what `make devnet` does), with --netns, and with its nodes
// in-process (--in-process, through net/node): its nodes find each
// other, two mine, and the final view shows every node answering, connected
// to the others, past the genesis block and within a block of each other
// (a block may be in flight when they stop). On loopback, `renga capture -i
// lo` watches it meanwhile, and tshark reads the same messages from the file
// it writes. In a private namespace.
func TestDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: node processes for half a minute")
	}
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	for _, mode := range []string{"loopback", "netns", "in-process"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "netns" {
				nstest.RequireLinkType(t, "veth")
				nstest.RequireLinkType(t, "bridge")
			}
			dir := filepath.Join(t.TempDir(), "devnet")
			args := []string{"devnet", "-n", "3", "--dir", dir, "--duration", "25s", "--tx-every", "0"}
			switch mode {
			case "netns":
				args = append(args, "--netns")
			case "in-process":
				args = append(args, "--in-process")
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := rengaCommand(args...)
			var out, errs bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var live []string
			var liveFile string
			if mode == "loopback" {
				live, liveFile = captureDevnet(t, 20*time.Second)
			}
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				_ = cmd.Process.Kill()
				err = <-done
			}
			if err != nil {
				t.Fatalf("renga devnet: %v\n%s%s", err, out.String(), errs.String())
			}
			final := out.String()
			if i := strings.LastIndex(final, "renga devnet: final state"); i >= 0 {
				final = final[i:]
			} else {
				t.Fatalf("no final state in:\n%s", out.String())
			}
			t.Logf("%s", final)
			row := regexp.MustCompile(`(?m)^(\d)\*?\s+\d+\s+\S+\s+(\d+)\s+[0-9a-f]+…\s+(\d+)\s`)
			rows := row.FindAllStringSubmatch(final, -1)
			if len(rows) != 3 {
				t.Fatalf("%d of 3 nodes answered at the end", len(rows))
			}
			lo, hi := int64(1<<31), int64(0)
			for _, r := range rows {
				height, _ := strconv.ParseInt(r[2], 10, 32)
				peers, _ := strconv.Atoi(r[3])
				if peers < 2 {
					t.Errorf("node %s had %d peers, want 2", r[1], peers)
				}
				lo, hi = min(lo, height), max(hi, height)
			}
			if lo < 2 || hi-lo > 1 {
				t.Errorf("heights from %d to %d: want all past 1 and within one block", lo, hi)
			}
			// The view names each new block's miner: one of the two.
			if !strings.Contains(out.String(), "mined by node") || strings.Contains(out.String(), "mined by node 3") ||
				strings.Contains(out.String(), "(miner unknown)") || strings.Contains(out.String(), "mined elsewhere") {
				t.Errorf("the view does not name the miners 1 and 2 of its blocks:\n%s", out.String())
			}
			for i := 1; i <= 3; i++ {
				if _, err := os.Stat(filepath.Join(dir, "node"+strconv.Itoa(i), "node.log")); err != nil {
					t.Errorf("node %d's log: %v", i, err)
				}
			}
			if mode == "loopback" {
				checkLiveCapture(t, live, liveFile)
			}
		})
	}
}

// captureDevnet runs `renga capture -i lo` on the devnet's ports for d, as
// the devnet's banner suggests, and returns the commands it printed and the
// pcapng it wrote.
func captureDevnet(t *testing.T, d time.Duration) ([]string, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "devnet.pcapng")
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var out, errs bytes.Buffer
	err := runCmdCtx(ctx, []string{"capture", "-i", "lo", "--port", "28334,38333,38335,38337", "-w", file, "--json"}, &out, &errs)
	if err != nil {
		t.Fatalf("renga capture: %v\n%s", err, errs.String())
	}
	var cmds []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r struct{ Command string }
		if json.Unmarshal([]byte(line), &r) != nil {
			t.Fatalf("renga capture printed %q", line)
		}
		cmds = append(cmds, r.Command)
	}
	return cmds, file
}

// checkLiveCapture: what renga capture printed of a running devnet holds
// the handshake, block relay and beacons, and tshark reads the same messages
// from the file it wrote, without errors.
func checkLiveCapture(t *testing.T, live []string, file string) {
	t.Helper()
	count := map[string]int{}
	for _, c := range live {
		count[c]++
	}
	t.Logf("renga capture -i lo printed %d records: %v", len(live), count)
	for _, want := range []string{"version", "verack", "headers", "getdata", "beacon"} {
		if count[want] == 0 {
			t.Errorf("renga capture printed no %s", want)
		}
	}
	// Between Renga nodes a new block goes as a BIP152 cmpctblock to the
	// peers that asked for high-bandwidth relay and whole (block) to the
	// rest: one of them must be there.
	if count["block"]+count["cmpctblock"] == 0 {
		t.Errorf("renga capture printed no block and no cmpctblock")
	}
	// 3 nodes: 3 connections, 6 version messages, a few more if two nodes
	// dial each other at once. Reconnecting in a loop shows here (it was 46).
	if count["version"] > 12 {
		t.Errorf("%d version messages in 20 s among 3 nodes: connections are being remade", count["version"])
	}
	tshark := tsharkOn(t, file)
	if tshark == nil {
		return
	}
	seen := tsharkSequence(tshark)
	a, b := slices.Clone(live), slices.Clone(seen)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Errorf("tshark read %d messages from the file, renga capture printed %d", len(seen), len(live))
	}
	tsharkClean(t, tshark)
}
