package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const unitFile = "systemd/poolscope-agent.service"

// unitSettings maps each Key= of the unit to its values, in order.
func unitSettings(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string][]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not Key=value", unitFile, line)
		}
		settings[key] = append(settings[key], value)
	}
	return settings
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit, with
// ExecStart pointing at a freshly built poolscope (verify refuses a unit
// whose binary does not exist). Any message, a warning included (an
// unknown or misspelt directive is only a warning), fails the test.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found in PATH; install it with: apt-get install -y --no-install-recommends systemd (or run: make deps)")
	}
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(data), "/usr/local/bin/poolscope", poolscopeBin)
	path := filepath.Join(t.TempDir(), filepath.Base(unitFile))
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
}

// TestSystemdUnitHardening asserts what docs/deploy.md promises of the
// unit: a dynamic user, a read-only system, /proc left whole, and exactly
// the two capabilities, ambient and bounding.
func TestSystemdUnitHardening(t *testing.T) {
	s := unitSettings(t)
	for key, want := range map[string]string{
		"DynamicUser":     "yes",
		"NoNewPrivileges": "yes",
		"ProtectSystem":   "strict",
		"ProtectHome":     "yes",
		"PrivateTmp":      "yes",
		"PrivateDevices":  "yes",
	} {
		if got := s[key]; !slices.Equal(got, []string{want}) {
			t.Errorf("%s=%v, want %s", key, got, want)
		}
	}
	for _, key := range []string{"ProtectProc", "ProcSubset", "PrivateUsers", "PrivateNetwork", "User"} {
		if got, set := s[key]; set {
			t.Errorf("%s=%v is set: it would hide the processes, sockets or privileges the agent reads", key, got)
		}
	}
	want := []string{"CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"}
	for _, key := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		got := strings.Fields(strings.Join(s[key], " "))
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s=%v, want exactly %v", key, got, want)
		}
	}
	exec := s["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("ExecStart=%v, want one command", exec)
	}
	fields := strings.Fields(exec[0])
	if fields[0] != "/usr/local/bin/poolscope" {
		t.Errorf("ExecStart runs %s, want /usr/local/bin/poolscope", fields[0])
	}
	assertAgentArgs(t, fields[1:])
}
