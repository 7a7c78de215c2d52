// Stub: the hostmetrics receiver's tests import scrapertest, whose module zip
// the Go proxy refuses (403) at v0.165.0. Nothing in the collector binary
// uses it; see ../../hostmetrics-manifest.yaml.
module go.opentelemetry.io/collector/scraper/scrapertest

go 1.24
