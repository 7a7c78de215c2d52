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
// collector, relative to the repository root.
const HostmetricsManifest = "bench/benchtables/hostmetrics-manifest.yaml"

// ModuleRoot is the repository root: the directory of the product's go.mod
// (module github.com/poolscope/poolscope), found upwards from the working
// directory (a package directory in tests, bench/ or the root under make).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/poolscope/poolscope\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("benchtables: not inside the poolscope repository (no product go.mod found upwards): run from the repository")
		}
		dir = parent
	}
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
