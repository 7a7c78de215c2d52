package pools

import (
	"strconv"
	"strings"
)

// maxServiceNameLen bounds the service part of a client name, so that a
// long OTEL_SERVICE_NAME cannot make CLIENT LIST lines (or metric labels)
// grow without limit.
const maxServiceNameLen = 64

// ClientName is the name every poolscope connection announces with CLIENT
// SETNAME: "service:role:pid", for example "checkout:master:4242". The
// service is sanitised so that the name is one Redis word: every byte that
// is not a letter, digit, '.', '_' or '-' becomes '_' (Redis rejects spaces
// and newlines in names; ':' separates the fields), and it is cut to 64
// bytes. An empty service becomes "unknown".
func ClientName(service string, role Role, pid int) string {
	return SanitizeService(service) + ":" + string(role) + ":" + strconv.Itoa(pid)
}

// SanitizeService applies ClientName's rules to a service name.
func SanitizeService(service string) string {
	if service == "" {
		return "unknown"
	}
	b := []byte(service)
	if len(b) > maxServiceNameLen {
		b = b[:maxServiceNameLen]
	}
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

// ParsedClientName is a client name split into its parts.
type ParsedClientName struct {
	Service string
	Role    string
	Pid     int
}

// ParseClientName splits a name made by ClientName. ok is false for any
// other name (which the agent then keeps as it is). The role is returned
// as written; it is not checked against Roles, so a newer poolscope's
// roles still parse.
func ParseClientName(name string) (p ParsedClientName, ok bool) {
	service, rest, found := strings.Cut(name, ":")
	if !found || service == "" {
		return p, false
	}
	role, pid, found := strings.Cut(rest, ":")
	if !found || role == "" || strings.Contains(pid, ":") {
		return p, false
	}
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 || pid[0] == '+' || pid[0] == '0' {
		return p, false
	}
	return ParsedClientName{Service: service, Role: role, Pid: n}, true
}
