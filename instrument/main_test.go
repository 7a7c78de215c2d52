package instrument_test

import (
	"testing"

	"github.com/poolscope/poolscope/internal/redistest"
)

// TestMain fails the package when any test leaves a goroutine behind:
// instrument starts none, so every one left would come from a client or
// server a test forgot. The DNS lookups of the recorder's probe client
// end on their own and are waited for first (redistest.VerifyTestMain).
func TestMain(m *testing.M) { redistest.VerifyTestMain(m) }
