package servicename

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Where a name came from.
const (
	FromServiceName = "OTEL_SERVICE_NAME"
	FromResource    = "OTEL_RESOURCE_ATTRIBUTES"
	FromDefault     = "program default"
	FromExecutable  = "executable name"
)

// Resolve applies the rule to the variables read through lookup, with
// programDefault as step 3 ("" to skip it). from says which step gave the
// name (one of the From constants).
func Resolve(lookup func(string) (string, bool), programDefault string) (name, from string) {
	if v, ok := lookup("OTEL_SERVICE_NAME"); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v), FromServiceName
	}
	if v, ok := fromResourceAttributes(lookup); ok {
		return v, FromResource
	}
	if v := strings.TrimSpace(programDefault); v != "" {
		return v, FromDefault
	}
	return Executable(), FromExecutable
}

// fromResourceAttributes finds service.name in OTEL_RESOURCE_ATTRIBUTES
// (key=value pairs separated by commas, values percent-encoded). Entries
// that do not parse are skipped here: exporters reports them.
func fromResourceAttributes(lookup func(string) (string, bool)) (string, bool) {
	attrs, ok := lookup("OTEL_RESOURCE_ATTRIBUTES")
	if !ok {
		return "", false
	}
	name, found := "", false
	for entry := range strings.SplitSeq(attrs, ",") {
		k, v, ok := strings.Cut(entry, "=")
		if !ok || strings.TrimSpace(k) != "service.name" {
			continue
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil || strings.TrimSpace(decoded) == "" {
			continue
		}
		name, found = decoded, true // the last one wins, as in the SDK
	}
	return name, found
}

// Executable is the name of the running program's file, the last resort of
// the rule.
func Executable() string {
	if exe, err := os.Executable(); err == nil {
		return filepath.Base(exe)
	}
	if len(os.Args) > 0 && os.Args[0] != "" {
		return filepath.Base(os.Args[0])
	}
	return "unknown_service"
}
