package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/poolscope/poolscope/internal/redistest"
)

const (
	fixtureContainerID = "3f5c1b2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"
	fixturePodUID      = "8d2f1c3e-4b5a-4c6d-9e8f-0a1b2c3d4e5f"
)

// TestParseCgroupFixtures: every runtime's and driver's path format, under
// cgroup v1 and v2, from testdata/cgroup/.
func TestParseCgroupFixtures(t *testing.T) {
	for file, want := range map[string]cgroupIDs{
		"v2-containerd-systemd.txt": {fixtureContainerID, fixturePodUID},
		"v2-crio-guaranteed.txt":    {fixtureContainerID, fixturePodUID},
		"v2-crio-conmon.txt":        {"", fixturePodUID}, // CRI-O's monitor, not the container
		"v2-docker.txt":             {fixtureContainerID, ""},
		"v2-podman.txt":             {fixtureContainerID, ""},
		"v2-host-process.txt":       {},
		"v2-cgroupns-root.txt":      {}, // a cgroup namespace hides the path
		"v1-cgroupfs-kubepods.txt":  {fixtureContainerID, fixturePodUID},
		"v1-containerd-systemd.txt": {fixtureContainerID, fixturePodUID},
		"v1-docker-hybrid.txt":      {fixtureContainerID, ""},
		"v1-host-this-sandbox.txt":  {}, // a 32-hex id is no container's
	} {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "cgroup", file))
			if err != nil {
				t.Fatal(err)
			}
			if got := parseCgroup(string(b)); got != want {
				t.Errorf("parseCgroup = %+v, want %+v", got, want)
			}
		})
	}
}

// An unreadable cgroup file is an error for the caller to report, not a
// panic and not made-up ids.
func TestReadCgroupMissing(t *testing.T) {
	ids, err := readCgroup(t.TempDir(), fixturePID)
	if err == nil || ids != (cgroupIDs{}) {
		t.Fatalf("readCgroup of a missing file = %+v, %v; want no ids and an error", ids, err)
	}
}

// FuzzParseCgroup: any content gives either nothing or well-formed ids
// that appear in the input (the pod uid with _ or -), never a panic.
func FuzzParseCgroup(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "cgroup", "*.txt"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
		f.Add(string(b[:len(b)/2]))
	}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		f.Add(string(b))
	}
	for _, s := range []string{"", ":", "::", "0::", "0::/pod", "0::/kubepods-pod", "0::/crio-", "a:b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		ids := parseCgroup(content)
		if ids.containerID != "" && (!isContainerID(ids.containerID) || !strings.Contains(content, ids.containerID)) {
			t.Fatalf("container id %q from %q", ids.containerID, content)
		}
		if ids.podUID != "" && (!isUID(ids.podUID) ||
			!strings.Contains(strings.ReplaceAll(content, "_", "-"), ids.podUID)) {
			t.Fatalf("pod uid %q from %q", ids.podUID, content)
		}
	})
}

// A process's container.id and k8s.pod.uid reach its metrics, read through
// WithProcRoot from a /proc tree mounted elsewhere (here, a fixture).
func TestProcessCarriesContainerAndPod(t *testing.T) {
	root := realFixture(t).write(t)
	b, err := os.ReadFile(filepath.Join("testdata", "cgroup", "v2-containerd-systemd.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, strconv.Itoa(fixturePID), "cgroup"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	ta := startAgent(t, WithProcRoot(root), WithPIDs(fixturePID))
	redistest.Eventually(t, waitFor, func() error {
		ps := byAttr(ta.collect(t)[metricMemoryUsage], attrProcessPID, strconv.Itoa(fixturePID))
		if len(ps) != 1 {
			return fmt.Errorf("memory points for the fixture process: %d, want 1", len(ps))
		}
		if got := ps[0].str(attrContainerID); got != fixtureContainerID {
			return fmt.Errorf("container.id = %q, want %q", got, fixtureContainerID)
		}
		if got := ps[0].str(attrPodUID); got != fixturePodUID {
			return fmt.Errorf("k8s.pod.uid = %q, want %q", got, fixturePodUID)
		}
		return nil
	})
}
