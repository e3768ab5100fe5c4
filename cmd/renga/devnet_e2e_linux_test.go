package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/renga-p2p/renga/net/sock/nstest"
)

// TestDevnet runs `renga devnet` as a user would, for half a minute, on
// loopback (what `make devnet` does) and with --netns: its nodes find each
// other, two mine, and the final view shows every node answering, connected
// to the others, past the genesis block and within a block of each other
// (a block may be in flight when they stop). In a private namespace.
func TestDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: node processes for half a minute")
	}
	if !nstest.Enter(t) {
		return
	}
	nstest.LoopbackUp(t)
	for _, mode := range []string{"loopback", "netns"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "netns" {
				nstest.RequireLinkType(t, "veth")
				nstest.RequireLinkType(t, "bridge")
			}
			dir := filepath.Join(t.TempDir(), "devnet")
			args := []string{"devnet", "-n", "3", "--dir", dir, "--duration", "25s", "--tx-every", "0"}
			if mode == "netns" {
				args = append(args, "--netns")
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
			for i := 1; i <= 3; i++ {
				if _, err := os.Stat(filepath.Join(dir, "node"+strconv.Itoa(i), "node.log")); err != nil {
					t.Errorf("node %d's log: %v", i, err)
				}
			}
		})
	}
}
