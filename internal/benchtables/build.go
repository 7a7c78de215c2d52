package benchtables

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// HostmetricsManifest is the builder manifest of the comparison
// collector, relative to the module root.
const HostmetricsManifest = "internal/benchtables/hostmetrics-manifest.yaml"

// ModuleRoot is the directory of poolscope's go.mod, found with `go env
// GOMOD` from the working directory.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("benchtables: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("benchtables: not inside poolscope's module (go env GOMOD=%q): run from the repository", gomod)
	}
	return filepath.Dir(gomod), nil
}

// BuildPoolscope builds ./cmd/poolscope into dir and returns the binary.
func BuildPoolscope(root, dir string) (string, error) {
	bin := filepath.Join(dir, "poolscope")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/poolscope")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("benchtables: go build ./cmd/poolscope: %w\n%s", err, out)
	}
	return bin, nil
}

// BuildCollector builds (or finds in the cache) the hostmetrics collector
// with scripts/build-collector.sh and returns the binary. A cold build
// takes several minutes; the script caches the binary by the manifest's
// hash.
func BuildCollector(root string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "scripts", "build-collector.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "POOLSCOPE_MANIFEST="+filepath.Join(root, HostmetricsManifest))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("benchtables: scripts/build-collector.sh with POOLSCOPE_MANIFEST=%s: %w\n%s", HostmetricsManifest, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}
