package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// poolscopeBin is ./cmd/poolscope built once for the tests: the agent's
// real flag parser checks every command line here, and systemd-analyze
// verify needs an executable at the unit's ExecStart.
var poolscopeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "poolscope-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	poolscopeBin = filepath.Join(dir, "poolscope")
	build := exec.Command("go", "build", "-o", poolscopeBin, "./cmd/poolscope")
	build.Dir = ".." // the repository root: the product module
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "deploy: go build ./cmd/poolscope: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
