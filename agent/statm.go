package agent

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// statm is the part of /proc/PID/statm the agent reports, in bytes.
type statm struct {
	size, resident int64 // VMS and RSS
}

// errStatm wraps every malformed-statm error.
var errStatm = errors.New("agent: malformed statm")

// pageSize converts statm's pages to bytes.
var pageSize = int64(os.Getpagesize())

// readStatm reads /proc/PID/statm under root. It replaces procfs's
// Proc.Statm, which indexes its seven fields without checking that they
// are there: a truncated file (FuzzProcfsFixture found an empty one) made it
// panic, which would kill the agent's process goroutine.
func readStatm(root string, pid int) (statm, error) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "statm"))
	if err != nil {
		return statm{}, err
	}
	return parseStatm(string(b))
}

// parseStatm reads the first two fields of a statm line ("size resident
// shared text lib data dt", in pages). The kernel always writes seven; two
// are all the agent needs, so a shorter line is accepted when those two are
// there.
func parseStatm(s string) (statm, error) {
	fields := strings.Fields(s)
	if len(fields) < 2 {
		return statm{}, fmt.Errorf("%w: %q has %d fields, want 7", errStatm, clip(s), len(fields))
	}
	var pages [2]int64
	for i := range pages {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/pageSize {
			return statm{}, fmt.Errorf("%w: field %d %q is not a page count", errStatm, i+1, clip(fields[i]))
		}
		pages[i] = n
	}
	return statm{size: pages[0] * pageSize, resident: pages[1] * pageSize}, nil
}
