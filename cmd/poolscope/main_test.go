package main

import (
	"os"
	"testing"
)

// asMainEnv makes the test binary behave as the poolscope binary: commands
// that re-execute themselves (demo starts demo-workers through
// os.Executable) and tests that need a real process with exit codes run
// the test binary with this variable set to 1.
const asMainEnv = "POOLSCOPE_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}
