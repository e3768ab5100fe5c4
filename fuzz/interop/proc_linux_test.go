package interop

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill cmd's process if the test binary dies
// without running its cleanups (go test's -timeout, a crash), so no btcd or
// renga outlives the test holding its ports.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
