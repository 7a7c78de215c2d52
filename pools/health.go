package pools

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// HealthOutcome is the result of one health check.
type HealthOutcome string

// The outcomes of a health check.
const (
	HealthOK      HealthOutcome = "ok"
	HealthError   HealthOutcome = "error"
	HealthTimeout HealthOutcome = "timeout"
)

// HealthCheck is one PING made by a role's health loop.
type HealthCheck struct {
	Role     Role
	Outcome  HealthOutcome
	Duration time.Duration
	At       time.Time
	// Err is the check's error (nil when Outcome is HealthOK). go-redis
	// errors name the address, never the password.
	Err error
}

// HealthStatus is what a role's health loop knows now.
type HealthStatus struct {
	Role Role
	// Checked is false until the first check has finished.
	Checked bool
	// Healthy reports whether the last check succeeded.
	Healthy bool
	Last    HealthCheck
	// ConsecutiveFailures counts failed checks since the last success.
	ConsecutiveFailures int
}

// healthMonitor runs one loop per role: a PING at every interval through a
// dedicated one-connection client, with a timeout.
type healthMonitor struct {
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	status    map[Role]HealthStatus
	observers []*healthObserver
	clients   []*redis.Client
}

type healthObserver struct{ fn func(HealthCheck) }

func startHealth(p *Pools) *healthMonitor {
	ctx, cancel := context.WithCancel(context.Background())
	h := &healthMonitor{ctx: ctx, cancel: cancel, status: map[Role]HealthStatus{}}
	// Fill the status map and client list before any loop starts: a loop
	// writes the map (under mu) as soon as its first PING returns, so
	// writing it here after starting one would race.
	for _, r := range Roles {
		h.clients = append(h.clients, p.healthClient(*p.cfg.Role(r)))
		h.status[r] = HealthStatus{Role: r}
	}
	for i, r := range Roles {
		h.wg.Add(1)
		go h.loop(ctx, p, r, h.clients[i])
	}
	return h
}

func (h *healthMonitor) loop(ctx context.Context, p *Pools, r Role, c *redis.Client) {
	defer h.wg.Done()
	interval, timeout := p.cfg.HealthCheckInterval, p.cfg.healthCheckTimeout()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		check := runCheck(ctx, c, r, timeout)
		if ctx.Err() != nil {
			return // a check cut short by Close says nothing about the server
		}
		h.record(p, check)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func runCheck(ctx context.Context, c *redis.Client, r Role, timeout time.Duration) HealthCheck {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := c.Ping(cctx).Err()
	check := HealthCheck{Role: r, Outcome: HealthOK, Duration: time.Since(start), At: start, Err: err}
	if err != nil {
		check.Outcome = HealthError
		if isTimeout(err) {
			check.Outcome = HealthTimeout
		}
	}
	return check
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func (h *healthMonitor) record(p *Pools, check HealthCheck) {
	h.mu.Lock()
	prev := h.status[check.Role]
	next := HealthStatus{Role: check.Role, Checked: true, Healthy: check.Outcome == HealthOK, Last: check}
	if !next.Healthy {
		next.ConsecutiveFailures = prev.ConsecutiveFailures + 1
	}
	h.status[check.Role] = next
	observers := append([]*healthObserver(nil), h.observers...)
	h.mu.Unlock()

	// Log transitions only, not every failed check.
	switch {
	case next.Healthy && prev.Checked && !prev.Healthy:
		p.logger.Info("pools: health check recovered", "pool", string(check.Role), "failed_checks", prev.ConsecutiveFailures)
	case !next.Healthy && !prev.Checked && check.Role == Local && p.cfg.LocalFollowsDefault():
		p.cfg.localDefaultUnreachable(p.logger, check)
	case !next.Healthy && (!prev.Checked || prev.Healthy):
		p.logger.Warn("pools: health check failed", "pool", string(check.Role), "outcome", string(check.Outcome), "error", check.Err)
	}
	for _, o := range observers {
		o.fn(check)
	}
}

func (h *healthMonitor) stop() {
	h.cancel()
	h.wg.Wait()
	for _, c := range h.clients {
		_ = c.Close()
	}
}

// Health is the role's current health.
func (p *Pools) Health(r Role) HealthStatus {
	p.health.mu.Lock()
	defer p.health.mu.Unlock()
	return p.health.status[r]
}

// OnHealthCheck calls fn after every health check of every role, from the
// health loop's goroutine (so fn must be quick). remove stops the calls.
func (p *Pools) OnHealthCheck(fn func(HealthCheck)) (remove func()) {
	o := &healthObserver{fn: fn}
	h := p.health
	h.mu.Lock()
	h.observers = append(h.observers, o)
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for i, x := range h.observers {
			if x == o {
				h.observers = append(h.observers[:i:i], h.observers[i+1:]...)
				return
			}
		}
	}
}
