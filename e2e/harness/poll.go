package harness

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// pollEvery is how often Poll tries its condition.
const pollEvery = 50 * time.Millisecond

// Poll calls cond every 50 ms until it returns nil, ctx ends or timeout
// passes, and returns its last error. An error wrapping ErrExited (a child
// died) ends it at once.
func Poll(ctx context.Context, timeout time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	timer := time.NewTimer(pollEvery)
	defer timer.Stop()
	for {
		err := cond()
		if err == nil || errors.Is(err, ErrExited) {
			return err
		}
		timer.Reset(pollEvery)
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		case <-timer.C:
		}
	}
}
