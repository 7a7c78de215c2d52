// Package grafana holds poolscope's Grafana dashboards as code.
//
// The dashboards are built with the Grafana Foundation SDK in this package
// and written as JSON to dashboards/ by `go generate` (which runs ./gen); the
// JSON is committed so that Grafana can provision it without Go. The tests
// check that the committed JSON is what the code generates, that it
// unmarshals into the SDK's types, and that every panel's PromQL parses and
// uses only metric names from poolscope's metric contract.
//
// [Queries] and [Substitute] let other tests (the end-to-end test that runs
// the queries against a real Prometheus) walk the same panels.
package grafana
