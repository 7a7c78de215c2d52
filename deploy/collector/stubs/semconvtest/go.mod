// Stub: k8sattributesprocessor's tests import pkg/semconvtest, whose module
// zip the Go proxy refuses (403) at every v0.16x; `go mod tidy` in the builder's
// output needs the module graph of tests too. Nothing in the collector binary
// imports it (see ../../manifest.yaml).
module github.com/open-telemetry/opentelemetry-collector-contrib/pkg/semconvtest

go 1.24
