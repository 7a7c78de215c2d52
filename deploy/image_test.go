package deploy

import (
	"os"
	"strings"
	"testing"
)

// TestContainerfile asserts what docs/deploy.md promises of the image: an
// empty base, nothing run at build time (the binary is built on the host),
// a numeric non-root user by default.
func TestContainerfile(t *testing.T) {
	data, err := os.ReadFile("Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	var from, user []string
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			from = append(from, strings.Join(fields[1:], " "))
		case "USER":
			user = append(user, strings.Join(fields[1:], " "))
		case "RUN", "ADD":
			t.Errorf("%s: the image build runs or fetches nothing; the binary comes from the host", strings.TrimSpace(line))
		}
	}
	if len(from) != 1 || from[0] != "scratch" {
		t.Errorf("FROM %v, want only scratch", from)
	}
	if len(user) != 1 {
		t.Fatalf("USER %v, want one", user)
	}
	uid, _, _ := strings.Cut(user[0], ":")
	if uid == "0" || uid == "root" || strings.Trim(uid, "0123456789") != "" {
		t.Errorf("USER %s, want a numeric non-root user (no /etc/passwd in the image)", user[0])
	}
}
