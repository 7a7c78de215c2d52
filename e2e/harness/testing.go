package harness

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// StartTest starts cmd as Start does, inside a test: its output, where
// cmd does not take it, goes to NAME.log in the test's temporary directory,
// and Stop runs at the test's cleanup, failing the test when the process
// had to be killed.
func StartTest(tb testing.TB, name string, cmd *exec.Cmd) (*Process, error) {
	tb.Helper()
	p, err := Start(name, cmd, Options{Log: filepath.Join(tb.TempDir(), name+".log")})
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() {
		if err := p.Stop(); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return p, nil
}
