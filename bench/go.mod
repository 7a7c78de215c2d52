module github.com/poolscope/poolscope/bench

go 1.26.0

require (
	github.com/poolscope/poolscope v0.0.0-00010101000000-000000000000
	github.com/poolscope/poolscope/e2e v0.0.0-00010101000000-000000000000
	github.com/prometheus/procfs v0.23.0
	github.com/redis/go-redis/extra/redisotel/v9 v9.23.0
	github.com/redis/go-redis/v9 v9.23.0
	go.opentelemetry.io/otel v1.47.0
	go.opentelemetry.io/otel/sdk/metric v1.47.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/redis/go-redis/extra/rediscmd/v9 v9.23.0 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/otel/log v1.47.0 // indirect
	go.opentelemetry.io/otel/metric v1.47.0 // indirect
	go.opentelemetry.io/otel/sdk v1.47.0 // indirect
	go.opentelemetry.io/otel/trace v1.47.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

// The product and the harness's process supervisor (e2e/harness) come from
// this repository, never from a proxy; so does the dashboards module, which
// e2e requires (no package of it is built here, but the full module graph,
// as go list -m all and go mod graph load it, names it).
replace (
	github.com/poolscope/poolscope => ../
	github.com/poolscope/poolscope/collector-config => ../collector-config
	github.com/poolscope/poolscope/e2e => ../e2e
)
