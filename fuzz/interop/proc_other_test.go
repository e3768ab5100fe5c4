//go:build !linux

package interop

import "os/exec"

// dieWithParent does nothing off Linux: the test's cleanups stop every process.
func dieWithParent(*exec.Cmd) {}
