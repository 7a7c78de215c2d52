package harness

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// productModule is the line that names the product's module in its go.mod
// (the harness modules' own go.mod files name github.com/poolscope/poolscope/...).
const productModule = "module github.com/poolscope/poolscope\n"

// RepoRoot is the repository root: the directory of the product's go.mod
// (module github.com/poolscope/poolscope), found upwards from the working
// directory (a package directory in tests, a module directory or the root
// under make).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), productModule) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: not inside the poolscope repository (no product go.mod found upwards): run from the repository")
		}
		dir = parent
	}
}
