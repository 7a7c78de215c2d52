package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
)

// The demo's processes (the agent in the demo itself and each worker) serve
// their own metrics on a free loopback port. The hub scrapes them all once a
// second and serves the union on one endpoint, labelled the way the
// OpenTelemetry Collector's Prometheus exporter labels them (job =
// service.name, instance = service.instance.id), so that what a user sees on
// 127.0.0.1:9464 is what Prometheus would store behind a collector. The live
// table is drawn from the same snapshot.

// metricSource is one process's /metrics endpoint.
type metricSource struct {
	job  string // service.name
	addr string // host:port
}

// snapshot is one scrape of every source, merged by metric family.
type snapshot struct {
	at       time.Time
	families map[string]*dto.MetricFamily
	errors   []string // one per source that could not be scraped
}

type metricsHub struct {
	client *http.Client

	mu      sync.Mutex
	sources []metricSource
	latest  *snapshot
}

func newMetricsHub() *metricsHub {
	return &metricsHub{client: &http.Client{Timeout: 900 * time.Millisecond}}
}

func (h *metricsHub) add(s metricSource) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sources = append(h.sources, s)
}

// scrape reads every source concurrently and makes the result the latest
// snapshot.
func (h *metricsHub) scrape(ctx context.Context) *snapshot {
	h.mu.Lock()
	sources := append([]metricSource(nil), h.sources...)
	h.mu.Unlock()

	results := make([]map[string]*dto.MetricFamily, len(sources))
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		wg.Go(func() { results[i], errs[i] = h.scrapeOne(ctx, s) })
	}
	wg.Wait()

	snap := &snapshot{at: time.Now(), families: map[string]*dto.MetricFamily{}}
	for i, fams := range results {
		if errs[i] != nil {
			snap.errors = append(snap.errors, fmt.Sprintf("%s (%s): %v", sources[i].job, sources[i].addr, errs[i]))
			continue
		}
		for name, f := range fams {
			if have, ok := snap.families[name]; ok && have.GetType() == f.GetType() {
				have.Metric = append(have.Metric, f.Metric...)
			} else if !ok {
				snap.families[name] = f
			}
		}
	}
	h.mu.Lock()
	h.latest = snap
	h.mu.Unlock()
	return snap
}

func (h *metricsHub) scrapeOne(ctx context.Context, s metricSource) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	// target_info carries the resource; its service_instance_id is the
	// instance label the collector would give every series.
	instance := s.addr
	if ti := fams["target_info"]; ti != nil && len(ti.Metric) > 0 {
		if v := labelValue(ti.Metric[0], "service_instance_id"); v != "" {
			instance = v
		}
	}
	for _, f := range fams {
		for _, m := range f.Metric {
			m.Label = append(m.Label,
				&dto.LabelPair{Name: proto.String("job"), Value: proto.String(s.job)},
				&dto.LabelPair{Name: proto.String("instance"), Value: proto.String(instance)})
		}
	}
	return fams, nil
}

func (h *metricsHub) snapshot() *snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.latest
}

// ServeHTTP serves the latest snapshot in the text format.
func (h *metricsHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	snap := h.snapshot()
	if snap == nil {
		http.Error(w, "no scrape yet: try again in a second", http.StatusServiceUnavailable)
		return
	}
	names := make([]string, 0, len(snap.families))
	for n := range snap.families {
		names = append(names, n)
	}
	sort.Strings(names)
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, n := range names {
		if err := enc.Encode(snap.families[n]); err != nil {
			return // the client went away
		}
	}
}

// serve listens on addr and serves the hub on /metrics until ctx ends.
// The listener is opened before serve returns, so a busy port is an error
// here, not a log line later.
func (h *metricsHub) serve(ctx context.Context, addr string) (bound string, stop func(), err error) {
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	return lis.Addr().String(), func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
