// Package envvar is the one shape in which poolscope reads configuration
// variables: a Reader over an injectable lookup (os.LookupEnv in
// production, a map in tests) that parses each kind of value the same way
// everywhere and collects every problem, so that a user sees all of them at
// once (errors.Join). Each problem names the variable and the value it got;
// a value that may be a secret is redacted by the caller or left out
// (FailHidden). pools (REDIS_*) and exporters (OTEL_*) use it.
package envvar
