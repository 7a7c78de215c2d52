package pools

import "github.com/poolscope/poolscope/internal/redisurl"

// RedactURL hides the credentials of a URL: "redis://user:pw@h:1/0" becomes
// "redis://user:***@h:1/0", "redis://pw@h" becomes "redis://***@h", and the
// value of every query parameter but go-redis's own URL options becomes
// ***. It works on strings that do not parse, so that an error about a
// malformed URL cannot leak its password. It is the one redaction poolscope
// uses everywhere (internal/redisurl), exported for programs that print a
// pool's URL.
func RedactURL(raw string) string { return redisurl.Redact(raw) }
