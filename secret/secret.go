package secret

import (
	"fmt"
	"log/slog"
)

// Redacted is what a String shows instead of its value.
const Redacted = "***"

// String is a password or token. Every way of printing or encoding it shows
// Redacted; Value returns the text. The empty String prints as the empty
// string, so that "not set" stays visible.
//
// One gap is inherent to Go: fmt prints an unexported struct field through
// reflection, without calling its methods, so a String held in an
// unexported field of a struct that is printed with %v shows its value.
// Keep Strings in exported fields, or never print the struct that holds
// them.
type String string

// Value returns the secret itself. Call it only where the secret is used.
func (s String) Value() string { return string(s) }

// String returns Redacted (or "" when s is empty).
func (s String) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString is what %#v shows.
func (s String) GoString() string { return fmt.Sprintf("secret.String(%q)", s.String()) }

// Format prints Redacted under every verb: %v %+v %s %q %x %X %d and the
// rest, so that no verb reaches the underlying text.
func (s String) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q':
		fmt.Fprintf(f, "%q", s.String())
	case verb == 'v' && f.Flag('#'):
		_, _ = f.Write([]byte(s.GoString()))
	default:
		_, _ = f.Write([]byte(s.String()))
	}
}

// MarshalJSON encodes Redacted as a JSON string.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText encodes Redacted (YAML, TOML, encoding/xml and JSON map keys
// use it).
func (s String) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue makes log/slog record Redacted.
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Compile-time checks of the interfaces that printing and encoding look for.
var (
	_ fmt.Stringer   = String("")
	_ fmt.GoStringer = String("")
	_ fmt.Formatter  = String("")
	_ slog.LogValuer = String("")
)
