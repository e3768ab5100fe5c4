package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/renga-p2p/renga/net/capture"
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
