// Package stack starts the processes of poolscope's end-to-end test (the
// collector built from the builder manifest, Prometheus, the workload and
// the agent) on free loopback ports, each in its own process group with
// Pdeathsig, logging to a file, and stopped by t.Cleanup. Redis servers come
// from internal/redistest.
//
// A missing binary is a test failure with the install command, never a skip.
package stack
