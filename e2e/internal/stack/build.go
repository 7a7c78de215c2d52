package stack

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
)

// GoBuild builds the main packages (paths relative to repoRoot, for example
// "./cmd/poolscope") into dir, each binary named after its package's
// directory, and returns dir. It is safe to call from any goroutine.
func GoBuild(dir, repoRoot string, packages ...string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("stack: go not found in PATH (the end-to-end test builds its binaries with it): %w", err)
	}
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, packages...)
	cmd := exec.Command(goBin, args...)
	cmd.Dir = repoRoot
	// A test binary that dies (timeout, panic) must not leave the build
	// running (its compiler children finish within seconds on their own).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("stack: go %v: %w\n%s", args, err, out)
	}
	return dir, nil
}
