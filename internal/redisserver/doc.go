// Package redisserver starts real redis-server processes (standalone, with
// passwords and ACL users, TLS with certificates generated in Go, replicas
// and Sentinels) on free loopback ports in temporary directories.
//
// The tests use it through internal/redistest; the demo and the memory
// table use it directly to run their own server. It never mocks Redis: a
// missing redis-server is an error carrying the install command.
package redisserver
