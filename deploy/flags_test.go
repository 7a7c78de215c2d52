package deploy

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// assertAgentArgs fails the test when checkAgentArgs refuses args.
func assertAgentArgs(t *testing.T, args []string) {
	t.Helper()
	if err := checkAgentArgs(args); err != nil {
		t.Error(err)
	}
}

// checkAgentArgs runs the agent's own flag parser on a command line from a
// deployment file (args[0] is "agent"), so that no file here uses a flag
// the agent does not have or a value it refuses:
//   - with --help appended, an unknown flag fails (exit 2) before the help;
//   - with a bad --interval appended, the agent reports every problem it
//     finds and exits 2: that one must be the only problem.
func checkAgentArgs(args []string) error {
	if len(args) == 0 || args[0] != "agent" {
		return fmt.Errorf("command line %q does not start with the agent subcommand", args)
	}
	line := strings.Join(args, " ")
	if out, err := runPoolscope(append(args, "--help")...); err != nil {
		return fmt.Errorf("poolscope %s --help: %v\n%s", line, err, out)
	}
	out, err := runPoolscope(append(args, "--interval=not-a-duration")...)
	var exit *exec.ExitError
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || len(lines) != 1 || !strings.Contains(lines[0], "not-a-duration") {
		return fmt.Errorf("poolscope %s: %v, want exit 2 and only the problem planted (--interval); output:\n%s", line, err, out)
	}
	return nil
}

// runPoolscope runs the binary with no environment but PATH: no REDIS_*
// or OTEL_* variable of the caller's takes part.
func runPoolscope(args ...string) (string, error) {
	cmd := exec.Command(poolscopeBin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCheckAgentArgsRefusesBadLines shows that the check catches an
// invented flag and a bad value, and passes a good line.
func TestCheckAgentArgsRefusesBadLines(t *testing.T) {
	for _, args := range [][]string{
		{"agent", "--path.procfs", "/host/proc"}, // node_exporter's spelling; the agent's is --proc-root
		{"agent", "--discover-every", "often"},
		{"agent", "--match", "("},
	} {
		if err := checkAgentArgs(args); err == nil {
			t.Errorf("%q passed the check", args)
		}
	}
	if err := checkAgentArgs([]string{"agent", "--discover", "--pss"}); err != nil {
		t.Error(err)
	}
}
