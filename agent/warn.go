package agent

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// problems logs a target's problem once per target and cause instead of at
// every pass, and logs the recovery once when the cause goes away. Keys name
// the target and the cause ("redis 127.0.0.1:6379 down", "pid 42 fd
// permission"); a key's first report logs at Warn, repeats are silent.
type problems struct {
	logger *slog.Logger

	mu     sync.Mutex
	active map[string]struct{}
}

func newProblems(l *slog.Logger) *problems {
	return &problems{logger: l, active: map[string]struct{}{}}
}

// report logs msg at level the first time key is reported.
func (p *problems) report(level slog.Level, key, msg string, args ...any) {
	p.mu.Lock()
	_, seen := p.active[key]
	if !seen {
		p.active[key] = struct{}{}
	}
	p.mu.Unlock()
	if !seen {
		p.logger.Log(context.Background(), level, msg, args...)
	}
}

// warn is report at Warn level.
func (p *problems) warn(key, msg string, args ...any) { p.report(slog.LevelWarn, key, msg, args...) }

// resolve forgets every key that starts with prefix (a key, or a target
// and cause family such as "redis X down: "); when one of them had been
// reported and msg is not empty, msg is logged once at Info level so that
// the log shows when the problem ended.
func (p *problems) resolve(prefix, msg string, args ...any) {
	p.mu.Lock()
	seen := false
	for k := range p.active {
		if strings.HasPrefix(k, prefix) {
			delete(p.active, k)
			seen = true
		}
	}
	p.mu.Unlock()
	if seen && msg != "" {
		p.logger.Info(msg, args...)
	}
}
