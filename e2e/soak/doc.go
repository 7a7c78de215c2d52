// Package soak runs poolscope's reliability checks against real processes:
// a redis-server, the OpenTelemetry Collector built by
// scripts/build-collector.sh (configured by collector-config/gateway.yaml),
// `poolscope agent` as a child process, and an application in this process
// (pools, instrument and exporters pushing OTLP to the collector).
//
// Run drives a workload with connection churn through that application
// while the server and the collector restart, stops the collector once for
// a whole outage window (comparing command latency with and without it),
// and samples the application's goroutines, file descriptors and heap and
// the agent's RSS and file descriptors. Its Report says whether each stays
// flat and whether export resumed after every collector restart.
//
// `make soak DURATION=30m` runs cmd/soak; the package test runs a short
// version (about 25 s, a 10 s outage) inside `make test`. The collector and
// the agent are started and stopped by e2e/harness.
package soak
