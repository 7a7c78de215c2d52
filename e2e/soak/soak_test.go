package soak

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSoakShort is `make soak` in miniature, inside make test: 25 s with a
// 10 s collector outage between two 5 s windows, then a redis-server
// restart and a collector restart, connection churn throughout. The full
// minute-long outage and 30 minutes of restarts are `make soak`'s.
func TestSoakShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	progress := &strings.Builder{}
	rep, err := Run(ctx, Config{
		Duration: 25 * time.Second, Outage: 10 * time.Second, Window: 5 * time.Second,
		ServerRestartEvery: 4 * time.Second, CollectorRestartEvery: 3 * time.Second,
		SampleEvery: time.Second, OpsPerSecond: 400, Dir: t.TempDir(), Progress: progress,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	var table strings.Builder
	rep.WriteTable(&table)
	t.Logf("\n%s", table.String())
	if err := rep.Err(); err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	if rep.ServerRestarts < 1 || rep.CollectorRestarts < 2 || rep.Churn == 0 {
		t.Errorf("restarts %d/%d, churn %d: the run did not exercise everything", rep.ServerRestarts, rep.CollectorRestarts, rep.Churn)
	}
}
