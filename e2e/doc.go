// Package e2e proves poolscope's whole pipeline with real processes: a
// Redis master, a replica, a Sentinel and a local server on a unix socket;
// a workload using pools, instrument and exporters (OTLP/HTTP) and
// `poolscope agent` (OTLP/gRPC), both sending to the gateway collector built
// from collector-config/builder; and Debian's Prometheus scraping the
// collector with collector-config/prometheus/alerts.yml loaded.
//
// The test (`make e2e`, and `make test` through `go test ./...`) runs every
// query of every panel and every variable of the generated Grafana
// dashboards, cross-checks the figures between independent sources
// (client-side pool counts, the servers' CLIENT LIST and INFO, the agent,
// /proc), stops a Redis server to bring the health-check alerts to firing,
// and checks that no process is left behind. Every process is started and
// stopped by e2e/harness, which the soak, the canary and bench/ share.
package e2e
