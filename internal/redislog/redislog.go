// Package redislog sends go-redis's internal log lines (dial retries,
// pool warnings) to log/slog at debug level. go-redis has one process-wide
// logger; only poolscope's commands call Route, never its libraries, so an
// application keeps whatever logger it set.
package redislog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Printf(ctx context.Context, format string, v ...any) {
	if s.l.Enabled(ctx, slog.LevelDebug) {
		s.l.DebugContext(ctx, fmt.Sprintf(format, v...), "source", "go-redis")
	}
}

// Route makes go-redis log through l at debug level.
func Route(l *slog.Logger) { redis.SetLogger(slogLogger{l}) }
