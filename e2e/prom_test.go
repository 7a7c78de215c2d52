package e2e

import (
	"context"
	"fmt"
	"math"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// instant runs an instant query and returns its vector.
func instant(ctx context.Context, api promv1.API, query string) (model.Vector, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, _, err := api.Query(qctx, query, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s: got a %s, want a vector", query, v.Type())
	}
	return vec, nil
}

// byLabel maps the value of one label to the sample value, for a query
// that aggregates by that label.
func byLabel(vec model.Vector, label model.LabelName) map[string]float64 {
	m := make(map[string]float64, len(vec))
	for _, s := range vec {
		m[string(s.Metric[label])] += float64(s.Value)
	}
	return m
}

// single returns the only sample of a vector.
func single(vec model.Vector, query string) (*model.Sample, error) {
	if len(vec) != 1 {
		return nil, fmt.Errorf("query %s: %d series, want 1: %v", query, len(vec), vec)
	}
	return vec[0], nil
}

// rangeSummary describes a range query's result: how many series, and how
// many points are numbers (not NaN or Inf, which Grafana draws as nothing).
func rangeSummary(m model.Matrix) (series, numbers int) {
	for _, s := range m {
		for _, p := range s.Values {
			if f := float64(p.Value); !math.IsNaN(f) && !math.IsInf(f, 0) {
				numbers++
			}
		}
		for _, h := range s.Histograms {
			if h.Histogram != nil {
				numbers++
			}
		}
	}
	return len(m), numbers
}

func modelLabel(name string) model.LabelName { return model.LabelName(name) }
