// Package redisurl checks Redis connection URLs and hides the credentials of
// any URL before it is shown: the one place where pools, the agent, the
// exporters and the CLI do either.
package redisurl
