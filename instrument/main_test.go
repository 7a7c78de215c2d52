package instrument_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when any test leaves a goroutine behind:
// instrument starts none, so every one left would come from a client or
// server a test forgot.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
