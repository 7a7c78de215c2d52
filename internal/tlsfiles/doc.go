// Package tlsfiles loads the PEM files of a TLS client (a CA bundle, a client
// certificate and its key) named by configuration variables: the one loader
// behind REDIS_TLS_* (pools) and OTEL_EXPORTER_OTLP_*CERTIFICATE (exporters).
// Its errors name the variable and the path, never a file's contents.
package tlsfiles
