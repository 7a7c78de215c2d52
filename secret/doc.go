// Package secret holds passwords and tokens in a type that does not print
// them.
//
// A String formats as *** under every fmt verb, in slog records, and in JSON
// and text encodings, so that a log line or an error that quotes a
// configuration by accident shows *** instead of the password. Value returns
// the real text for the one place that needs it (the dial, the header).
//
// The type is public, and a plain string underneath, so that code which
// builds a configuration by hand can still set a password:
//
//	cfg.Sentinel.Password = "from-a-vault"          // an untyped constant
//	cfg.Sentinel.Password = secret.String(password) // a string variable
//
// It lives in a package of its own rather than in pools, because pools,
// exporters and the agent all hold secrets and none of them should import
// another only for this type.
package secret
