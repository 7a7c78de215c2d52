package redistest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Goroutines counts the process's goroutines whose stack mentions fn, a
// function as runtime.Stack prints it (for example "(*ConnPool).tryDial(").
func Goroutines(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			count := 0
			for _, g := range strings.Split(string(buf[:n]), "\n\n") {
				if strings.Contains(g, fn) {
					count++
				}
			}
			return count
		}
		buf = make([]byte, 2*len(buf))
	}
}

// lookupsTimeout bounds WaitForLookups: the resolver's timeout (5 s by
// default) for each of its attempts (2), with room for a loaded machine.
const lookupsTimeout = 30 * time.Second

// WaitForLookups waits, at most lookupsTimeout, until no goroutine of the
// process is in a DNS lookup of Go's resolver; a goroutine-leak check
// (goleak) calls it first. go-redis resolves a client's host name when the
// client is made (NewClient classifies the endpoint for its maintenance
// notifications, waiting at most 2 s); a query that the DNS server drops
// goes on after that until the resolver's own timeout. instrument's
// recorder probe is such a client, made at instrument.New and Close: here
// 1 lookup of its name in 100 took 5 s, and its goroutines, which end on
// their own, outlived goleak's own retries (about 2 s).
func WaitForLookups() {
	for deadline := time.Now().Add(lookupsTimeout); Goroutines("net.(*Resolver).") > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

// VerifyTestMain runs a package's tests and fails it when they leave a
// goroutine behind (goleak), as goleak.VerifyTestMain does, once the DNS
// lookups that end on their own have ended (WaitForLookups): for packages
// that run instrument in-process.
func VerifyTestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		WaitForLookups()
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: Errors on successful test run:", err)
			code = 1
		}
	}
	os.Exit(code)
}
