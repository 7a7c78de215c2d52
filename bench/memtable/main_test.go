package memtable

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets the test binary serve as memtable's worker: Measure
// re-executes the running binary, which here is the test binary.
func TestMain(m *testing.M) {
	if code, ok := WorkerMain(); ok {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
