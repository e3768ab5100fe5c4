package wirediff

import (
	"testing"
)

// compare decodes payload with both implementations and fails the test on any
// disagreement that documented differences do not explain.
func compare(t *testing.T, cmd string, payload []byte) {
	t.Helper()
	if problem := judge(cmd, payload); problem != "" {
		t.Fatal(problem)
	}
}
