// Command service is a complete, small HTTP service wired the way poolscope's
// README describes: Redis pools from the environment, OpenTelemetry metrics
// for them, and the metric pipeline from the standard OTEL_* variables.
//
//	GET /set?key=K&value=V   SET through the master pool
//	GET /get?key=K           GET through the replica pool
//
// Run it against a local server, exporting to the console every 5 s:
//
//	REDIS_MASTER_URL=redis://127.0.0.1:6379/0 OTEL_SERVICE_NAME=userapp \
//	OTEL_METRICS_EXPORTER=console OTEL_METRIC_EXPORT_INTERVAL=5000 \
//	go run ./examples/service -listen 127.0.0.1:8080
//
// It is built by `make test` and run by its test against a real redis-server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/exporters"
	"github.com/poolscope/poolscope/instrument"
	"github.com/poolscope/poolscope/pools"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP listen `address`")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen); err != nil {
		slog.Error("service stopped", "err", err)
		os.Exit(1)
	}
}

// run wires the three packages together, serves until ctx ends, then shuts
// down in the order that loses nothing: stop taking requests, flush the
// metrics (the last export still sees the pools), stop observing, close
// the pools.
func run(ctx context.Context, listen string) error {
	// 1. The metric pipeline: OTLP by default, or what OTEL_METRICS_EXPORTER
	// names. Its readers carry instrument's lock-free duration histograms
	// without more set-up (a Producer slot of the pipeline's own).
	pipeline, err := exporters.New(ctx)
	if err != nil {
		return err // names the bad variable and its value; never a token
	}
	// 2. The pools: REDIS_MASTER_URL, REDIS_SLAVE_URL, REDIS_<ROLE>_POOL_SIZE, ...
	p, err := pools.FromEnv()
	if err != nil {
		_ = pipeline.Shutdown(context.Background())
		return err
	}
	// 3. Their metrics, through the pipeline's meter provider, with each
	// command's latency (db.client.operation.duration, off by default:
	// about 13 to 28 ns of CPU per command, docs/hot-path.md).
	inst, err := instrument.New(p, instrument.WithMeterProvider(pipeline.MeterProvider()),
		instrument.WithCommandLatency(true))
	if err != nil {
		_ = p.Close()
		_ = pipeline.Shutdown(context.Background())
		return err
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		_ = inst.Close()
		_ = p.Close()
		_ = pipeline.Shutdown(context.Background())
		return err
	}
	srv := &http.Server{Handler: routes(p), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	slog.Info("serving", "addr", ln.Addr().String())

	select {
	case <-ctx.Done():
	case err = <-served:
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(
		err,
		ignoreClosed(srv.Shutdown(shutdownCtx)), // no new requests; in-flight ones finish
		pipeline.Shutdown(shutdownCtx),          // last export, pools still observed
		inst.Close(),                            // stop observing
		p.Close(),                               // close every connection
	)
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// routes uses p.Master() and p.Replica() where it needs a client: with a
// role's pool enabled that is the one shared, capped pool of the process.
func routes(p *pools.Pools) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /set", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := p.Master().Set(r.Context(), q.Get("key"), q.Get("value"), 0).Err(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "OK")
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		v, err := p.Replica().Get(r.Context(), r.URL.Query().Get("key")).Result()
		switch {
		case errors.Is(err, redis.Nil):
			http.NotFound(w, r)
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, v)
		}
	})
	return mux
}
