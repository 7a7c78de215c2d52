package stack

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// GoBuild builds the main packages (import paths relative to repoRoot, for
// example "./cmd/poolscope") into one temporary directory and returns it;
// each binary is named after its package's directory.
func GoBuild(tb testing.TB, repoRoot string, packages ...string) string {
	tb.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("go not found in PATH: the end-to-end test builds its binaries with it: %v", err)
	}
	dir := tb.TempDir()
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, packages...)
	cmd := exec.Command(goBin, args...)
	cmd.Dir = repoRoot
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go %v: %v\n%s", args, err, out)
	}
	tb.Logf("built %v in %s", packages, time.Since(start).Round(time.Millisecond))
	return dir
}
