package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// GoBuild builds the main packages (paths relative to moduleDir, for
// example "./cmd/poolscope") into dir, each binary named after its
// package's directory, and returns dir. It is safe to call from any
// goroutine.
func GoBuild(dir, moduleDir string, packages ...string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("harness: go not found in PATH (the harness builds its binaries with it): %w", err)
	}
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, packages...)
	cmd := exec.Command(goBin, args...)
	cmd.Dir = moduleDir
	// A harness that dies (a test timeout, a panic) must not leave the
	// build running (its compiler children finish within seconds on their
	// own).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("harness: go %v in %s: %w\n%s", args, moduleDir, err, out)
	}
	return dir, nil
}

// BuildPoolscope builds the product's ./cmd/poolscope (root is RepoRoot's
// answer) into dir and returns the binary's path.
func BuildPoolscope(root, dir string) (string, error) {
	if _, err := GoBuild(dir, root, "./cmd/poolscope"); err != nil {
		return "", err
	}
	return filepath.Join(dir, "poolscope"), nil
}

// CollectorBinary builds an OpenTelemetry Collector with
// scripts/build-collector.sh from the builder manifest (a path relative to
// root, or absolute; empty: the script's default,
// collector-config/builder/manifest.yaml, otelcol-poolscope) and returns the
// binary's path, the script's last line on stdout. A cold build takes
// several minutes; the script caches the binary by the manifest's hash. It
// is safe to call from any goroutine.
func CollectorBinary(root, manifest string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "scripts", "build-collector.sh"))
	cmd.Dir = root
	script := "scripts/build-collector.sh"
	if manifest != "" {
		if !filepath.IsAbs(manifest) {
			manifest = filepath.Join(root, manifest)
		}
		cmd.Env = append(os.Environ(), "POOLSCOPE_MANIFEST="+manifest)
		script = "POOLSCOPE_MANIFEST=" + manifest + " " + script
	}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A harness that dies must not leave the script running; a cold
	// build's builder child then finishes on its own and caches nothing
	// half-written (the script renames the binary into place).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("harness: %s: %w\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	path := lines[len(lines)-1]
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("harness: %s printed %q, which is not a file: %w", script, path, err)
	}
	return path, nil
}
