package pools

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/poolscope/poolscope/internal/redisurl"
)

// RedactURL hides the credentials of a URL: "redis://user:pw@h:1/0" becomes
// "redis://user:***@h:1/0", "redis://pw@h" becomes "redis://***@h", and the
// value of every query parameter but go-redis's own URL options becomes
// ***. It works on strings that do not parse, so that an error about a
// malformed URL cannot leak its password. It is the one redaction poolscope
// uses everywhere (internal/redisurl), exported for programs that print a
// pool's URL.
func RedactURL(raw string) string { return redisurl.Redact(raw) }

// A RoleConfig prints, logs and encodes with its URL redacted, so that a
// log line or error that shows a whole Config by accident cannot leak the
// password the URL may carry. Read the URL field for the real one.
type printedRoleConfig RoleConfig // no methods: fmt and slog print its fields

func (rc RoleConfig) redacted() printedRoleConfig {
	p := printedRoleConfig(rc)
	p.URL = RedactURL(rc.URL)
	return p
}

// Format prints rc under every verb with the URL redacted.
func (rc RoleConfig) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), rc.redacted())
}

// LogValue makes log/slog record rc with the URL redacted.
func (rc RoleConfig) LogValue() slog.Value { return slog.AnyValue(rc.redacted()) }

// MarshalJSON encodes rc with the URL redacted.
func (rc RoleConfig) MarshalJSON() ([]byte, error) { return json.Marshal(rc.redacted()) }
