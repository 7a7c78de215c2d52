// Package wire is the line protocol between the e2e test and its workload
// process (e2e/internal/workload): one JSON Reply per line on the
// workload's stdout, in answer to a command ("quiet", "busy", "stats") on
// its stdin.
package wire

// PoolCounts is one role's connections as its go-redis client counts them
// (PoolStats), by kind: what db.client.connection.count reports, and what
// the server's CLIENT LIST should show under Name.
type PoolCounts struct {
	Name     string `json:"name"`
	Regular  int    `json:"regular"`
	Pipeline int    `json:"pipeline"`
	PubSub   int    `json:"pubsub"`
	Total    int    `json:"total"`
}

// Reply is one line on stdout.
type Reply struct {
	Event  string                `json:"event"`
	Pid    int                   `json:"pid,omitempty"`
	Pools  map[string]PoolCounts `json:"pools,omitempty"`
	Errors map[string]int64      `json:"errors,omitempty"`
	Error  string                `json:"error,omitempty"`
}
