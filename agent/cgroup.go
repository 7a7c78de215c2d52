package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// /proc/PID/cgroup says which container, and on Kubernetes which pod, a
// process belongs to: its lines are "HIERARCHY:CONTROLLERS:PATH" (cgroup
// v1, one line per hierarchy) or "0::PATH" (v2), and container runtimes
// name the path after the container's 64-hex id:
//
//	containerd, systemd driver  .../kubepods-burstable-pod<UID with _>.slice/cri-containerd-<ID>.scope
//	cgroupfs driver             /kubepods/burstable/pod<UID>/<ID>
//	CRI-O                       .../crio-<ID>.scope
//	Docker                      /docker/<ID>, or .../docker-<ID>.scope
//	Podman                      .../libpod-<ID>.scope
//
// The agent reports those two ids (container.id, k8s.pod.uid) and nothing
// else: the Collector's k8sattributes processor turns them into pod names
// and labels.

// containerIDPrefixes are the runtimes' prefixes of a scope named after a
// container id. crio-conmon-<ID> (CRI-O's monitor process) is not the
// container and does not match: what follows its prefix is not an id.
var containerIDPrefixes = []string{"cri-containerd-", "crio-", "docker-", "libpod-"}

// cgroupIDs are the ids /proc/PID/cgroup names; empty when it names none
// (a process outside any container).
type cgroupIDs struct {
	containerID string
	podUID      string
}

// readCgroup reads /proc/PID/cgroup under root.
func readCgroup(root string, pid int) (cgroupIDs, error) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return cgroupIDs{}, err
	}
	return parseCgroup(string(b)), nil
}

// parseCgroup finds the container id and pod uid in a /proc/PID/cgroup
// file. The first line naming a container wins (under cgroup v1 every
// hierarchy names the same one); within a path, the deepest match.
// Malformed lines are skipped; it never fails and never panics.
func parseCgroup(content string) cgroupIDs {
	var found cgroupIDs
	for _, line := range strings.Split(content, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ids := parseCgroupPath(parts[2])
		if found.podUID == "" {
			found.podUID = ids.podUID
		}
		if ids.containerID != "" {
			found.containerID = ids.containerID
			if ids.podUID != "" {
				found.podUID = ids.podUID
			}
			return found
		}
	}
	return found
}

// parseCgroupPath reads the ids from one cgroup path.
func parseCgroupPath(path string) cgroupIDs {
	var ids cgroupIDs
	for _, seg := range strings.Split(path, "/") {
		seg = strings.TrimSuffix(strings.TrimSuffix(seg, ".scope"), ".slice")
		if id := containerIDOf(seg); id != "" {
			ids.containerID = id
		}
		if uid := podUIDOf(seg); uid != "" {
			ids.podUID = uid
		}
	}
	return ids
}

// containerIDOf is the container id a path segment names: 64 hex digits,
// alone or after a runtime's prefix.
func containerIDOf(seg string) string {
	if isContainerID(seg) {
		return seg
	}
	for _, p := range containerIDPrefixes {
		if id, ok := strings.CutPrefix(seg, p); ok && isContainerID(id) {
			return id
		}
	}
	return ""
}

// podUIDOf is the pod uid a segment names: "pod<UID>" (cgroupfs driver) or
// "kubepods[-QOS]-pod<UID with _ for ->" (systemd driver).
func podUIDOf(seg string) string {
	var raw string
	switch {
	case strings.HasPrefix(seg, "pod"):
		raw = seg[len("pod"):]
	case strings.HasPrefix(seg, "kubepods"):
		i := strings.LastIndex(seg, "-pod")
		if i < 0 {
			return ""
		}
		raw = seg[i+len("-pod"):]
	default:
		return ""
	}
	uid := strings.ReplaceAll(raw, "_", "-")
	if !isUID(uid) {
		return ""
	}
	return uid
}

func isContainerID(s string) bool {
	return len(s) == 64 && isHex(s)
}

// isUID reports whether s is a UUID in its 8-4-4-4-12 hex form.
func isUID(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) != 5 {
		return false
	}
	for i, n := range [5]int{8, 4, 4, 4, 12} {
		if len(parts[i]) != n || !isHex(parts[i]) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}
