package instrument_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/poolscope/poolscope/internal/redistest"
)

// TestMain fails the package when any test leaves a goroutine behind:
// instrument starts none, so every one left would come from a client or
// server a test forgot. The DNS lookups of the recorder's probe client
// (redistest.WaitForLookups) end on their own and are waited for first.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		redistest.WaitForLookups()
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: Errors on successful test run:", err)
			code = 1
		}
	}
	os.Exit(code)
}
