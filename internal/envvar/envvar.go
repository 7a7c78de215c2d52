package envvar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/poolscope/poolscope/internal/redisurl"
)

// Reader reads variables through a lookup and collects every problem.
type Reader struct {
	pkg          string
	lookup       func(string) (string, bool)
	blankIsUnset bool
	kind         error
	errs         []error
}

// Option configures New.
type Option func(*Reader)

// BlankIsUnset trims every value and treats one that is empty (or only
// spaces) as unset, as the OpenTelemetry specification asks of OTEL_*
// variables. Without it an empty value is a value, and usually an error.
func BlankIsUnset() Option { return func(r *Reader) { r.blankIsUnset = true } }

// Wrapping makes every Error wrap kind (errors.Is(err, kind)), so that a
// caller can tell a configuration mistake from a runtime failure.
func Wrapping(kind error) Option { return func(r *Reader) { r.kind = kind } }

// New returns a Reader whose messages start with "pkg: ".
func New(pkg string, lookup func(string) (string, bool), opts ...Option) *Reader {
	r := &Reader{pkg: pkg, lookup: lookup}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Error is one problem: the variable (or option) and its value, or a
// sentence of its own (Failf).
type Error struct {
	Pkg     string
	Name    string // OTEL_..., REDIS_..., or an option such as WithPrometheusAddr
	Value   string // as typed, already redacted; empty when Hidden
	Hidden  bool   // the value may be a secret: not shown
	Option  bool   // Name is an option: Name("value")
	Problem string
	text    string // a whole message (Failf)
	kind    error
}

func (e *Error) Error() string {
	switch {
	case e.text != "":
		return e.Pkg + ": " + e.text
	case e.Hidden:
		return fmt.Sprintf("%s: %s: %s", e.Pkg, e.Name, e.Problem)
	case e.Option:
		return fmt.Sprintf("%s: %s(%q): %s", e.Pkg, e.Name, e.Value, e.Problem)
	default:
		return fmt.Sprintf("%s: %s=%q: %s", e.Pkg, e.Name, e.Value, e.Problem)
	}
}

// Unwrap returns the kind given to Wrapping, if any.
func (e *Error) Unwrap() error { return e.kind }

// Fail records a problem with a variable's value. The caller redacts a
// value that may carry credentials (redisurl.RedactIfURL).
func (r *Reader) Fail(name, value, problem string) {
	r.errs = append(r.errs, &Error{Pkg: r.pkg, Name: name, Value: value, Problem: problem, kind: r.kind})
}

// FailHidden records a problem with a variable whose value must not be
// shown (a password, a header holding a token).
func (r *Reader) FailHidden(name, problem string) {
	r.errs = append(r.errs, &Error{Pkg: r.pkg, Name: name, Hidden: true, Problem: problem, kind: r.kind})
}

// FailOption records a problem with an option's value.
func (r *Reader) FailOption(name, value, problem string) {
	r.errs = append(r.errs, &Error{Pkg: r.pkg, Name: name, Value: value, Option: true, Problem: problem, kind: r.kind})
}

// Failf records a problem that involves several variables. The arguments
// must already be redacted.
func (r *Reader) Failf(format string, args ...any) {
	r.errs = append(r.errs, &Error{Pkg: r.pkg, text: fmt.Sprintf(format, args...), kind: r.kind})
}

// Err joins every problem recorded so far; nil when there is none.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Lookup returns a variable's value and whether it is set.
func (r *Reader) Lookup(name string) (string, bool) {
	v, ok := r.lookup(name)
	if r.blankIsUnset {
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	return v, ok
}

// First returns the first set variable among names (a name and its
// aliases). Aliases set to a different value are a problem.
func (r *Reader) First(names ...string) (name, value string, ok bool) {
	for _, n := range names {
		v, set := r.Lookup(n)
		if !set {
			continue
		}
		if !ok {
			name, value, ok = n, v, true
			continue
		}
		if v != value {
			r.Failf("%s=%q and %s=%q disagree; set one of them", name, redisurl.RedactIfURL(value), n, redisurl.RedactIfURL(v))
		}
	}
	return name, value, ok
}

// Flag reads a 1/0/true/false switch into dst and returns the variable
// that set it ("" when none).
func (r *Reader) Flag(dst *bool, names ...string) string {
	name, v, ok := r.First(names...)
	if !ok {
		return ""
	}
	switch strings.ToLower(v) {
	case "1", "true":
		*dst = true
	case "0", "false":
		*dst = false
	default:
		r.Fail(name, v, "not a flag (want 1, 0, true or false)")
	}
	return name
}

// Bool parses an OpenTelemetry boolean: true or false, any case.
func (r *Reader) Bool(name, value string) (b, ok bool) {
	switch strings.ToLower(value) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	r.Fail(name, value, "not a boolean (want true or false)")
	return false, false
}

// Int reads a whole number from lowest to highest into dst and returns the
// variable that set it ("" when none).
func (r *Reader) Int(dst *int, lowest, highest int, names ...string) string {
	name, v, ok := r.First(names...)
	if !ok {
		return ""
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil && lowest == 0:
		r.Fail(name, v, "not a whole number >= 0")
	case err != nil:
		r.Fail(name, v, "not a positive integer")
	case n < lowest || n > highest:
		r.Fail(name, v, fmt.Sprintf("out of range (want %d to %d)", lowest, highest))
	default:
		*dst = n
	}
	return name
}

// Longest and shortest durations Duration accepts (other than 0).
const (
	maxDuration = 24 * time.Hour
	minDuration = time.Millisecond
)

// Duration reads a Go duration ("500ms", "5s", "10m") from 1ms to 24h into
// dst; zeroOK also accepts 0 (off). It returns the variable that set it.
func (r *Reader) Duration(dst *time.Duration, zeroOK bool, name string) string {
	v, ok := r.Lookup(name)
	if !ok {
		return ""
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		r.Fail(name, v, "not a duration (for example 500ms, 5s, 10m)")
	case (d < 0 || d == 0) && zeroOK:
		if d < 0 {
			r.Fail(name, v, "must be 0 (off) or positive")
		} else {
			*dst = 0
		}
	case d <= 0:
		r.Fail(name, v, "must be positive")
	case d > maxDuration:
		r.Fail(name, v, "longer than 24h")
	case d < minDuration:
		r.Fail(name, v, "shorter than 1ms")
	default:
		*dst = d
	}
	return name
}

// Milliseconds parses a positive whole number of milliseconds, the unit of
// every OpenTelemetry duration variable.
func (r *Reader) Milliseconds(name, value string) (time.Duration, bool) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n <= 0 || n > int64(time.Duration(1<<63-1)/time.Millisecond) {
		r.Fail(name, value, "not a positive whole number of milliseconds")
		return 0, false
	}
	return time.Duration(n) * time.Millisecond, true
}

// URL reads a Redis URL into dst (checked by redisurl.Parse; the value is
// quoted redacted) and returns the variable that set it.
func (r *Reader) URL(dst *string, names ...string) string {
	name, v, ok := r.First(names...)
	if !ok {
		return ""
	}
	if err := redisurl.Check(v); err != nil {
		r.Fail(name, redisurl.Redact(v), err.Error())
		return name
	}
	*dst = v
	return name
}

// Count is the number of problems recorded so far.
func (r *Reader) Count() int { return len(r.errs) }
