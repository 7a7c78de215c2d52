package redisurl

import "strings"

// Redact hides the credentials of a URL of any scheme (redis, rediss, unix,
// http, https): "redis://user:pw@h:1/0" becomes "redis://user:***@h:1/0",
// "redis://pw@h" becomes "redis://***@h", and the value of every query
// parameter but go-redis's own URL options becomes ***. It works on text
// that does not parse, so that an error about a malformed URL cannot leak
// its password; text without "://" but with an "@" loses everything before
// the last "@".
func Redact(raw string) string {
	scheme, rest, found := strings.Cut(raw, "://")
	if !found {
		// Not a URL at all; a lone "@" still suggests credentials.
		if at := strings.LastIndex(raw, "@"); at >= 0 {
			return "***" + raw[at:]
		}
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		user, _, hasPassword := strings.Cut(rest[:at], ":")
		redacted := "***"
		if hasPassword && user != "" {
			redacted = user + ":***"
		}
		rest = redacted + rest[at:]
	}
	return scheme + "://" + redactQuery(rest)
}

// RedactIfURL redacts v when it looks like a URL and returns it unchanged
// otherwise (a pool size, a flag).
func RedactIfURL(v string) string {
	if strings.Contains(v, "://") {
		return Redact(v)
	}
	return v
}

// plainURLOptions are the query parameters go-redis's ParseURL reads
// (v9.23), none of them a credential.
var plainURLOptions = map[string]bool{
	"client_name": true, "conn_max_idle_time": true, "conn_max_lifetime": true, "conn_max_lifetime_jitter": true,
	"db": true, "dial_timeout": true, "idle_timeout": true, "max_active_conns": true, "max_concurrent_dials": true,
	"max_conn_age": true, "max_idle_conns": true, "max_retries": true, "max_retry_backoff": true,
	"min_idle_conns": true, "min_retry_backoff": true, "pipeline_pool_size": true,
	"pipeline_read_buffer_size": true, "pipeline_write_buffer_size": true, "pool_fifo": true,
	"pool_size": true, "pool_timeout": true, "protocol": true, "read_timeout": true,
	"skip_verify": true, "write_timeout": true,
}

// redactQuery masks query values in "host/path?query#frag": every value
// but those of go-redis's own URL options, which hold no secret. Masking by
// what a name looks like is not enough: a misspelt "?pasword=" is exactly
// the value a user did not mean to show.
func redactQuery(s string) string {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s
	}
	query, frag, hasFrag := strings.Cut(s[q+1:], "#")
	params := strings.Split(query, "&")
	for i, kv := range params {
		k, _, hasValue := strings.Cut(kv, "=")
		if hasValue && !plainURLOptions[strings.ToLower(k)] {
			params[i] = k + "=***"
		}
	}
	out := s[:q+1] + strings.Join(params, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out
}
