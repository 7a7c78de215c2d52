package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/poolscope/poolscope/exporters"
)

// newPipeline is the metric pipeline of the commands that export, built by
// exporters/ from the standard OTEL_* variables (read through e.lookup, so
// tests can inject them). The int is the exit status to return when err is
// not nil: exitUsage for a bad variable, exitFail for anything else.
func newPipeline(ctx context.Context, e env, command string, opts ...exporters.Option) (*exporters.Pipeline, int, error) {
	opts = append([]exporters.Option{
		exporters.WithLookup(e.lookup),
		exporters.WithDefaultServiceName("poolscope-" + command),
	}, opts...)
	p, err := exporters.New(ctx, opts...)
	if err == nil {
		return p, exitOK, nil
	}
	if errors.Is(err, exporters.ErrInvalidConfig) {
		return nil, exitUsage, err
	}
	return nil, exitFail, fmt.Errorf("%s: metric exporter: %w", command, err)
}
