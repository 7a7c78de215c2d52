package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// promClient is the two calls of Prometheus's HTTP API that advise needs
// (/api/v1/query and /api/v1/query_range). It is small enough not to pull
// client_golang's API package and its JSON library into the product module.
type promClient struct {
	base      *url.URL // without credentials
	user      *url.Userinfo
	transport *http.Transport
	http      *http.Client
}

// maxPromResponse bounds one answer: a day at one-minute steps for every
// pool of thousands of services fits; an endless body does not.
const maxPromResponse = 256 << 20

func newPromClient(base *url.URL, user *url.Userinfo) *promClient {
	// A transport of its own, closed at the end: no keep-alive goroutine
	// outlives the command (tests run it in-process).
	t := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 4, IdleConnTimeout: 10 * time.Second}
	return &promClient{base: base, user: user, transport: t, http: &http.Client{Transport: t}}
}

func (c *promClient) close() { c.transport.CloseIdleConnections() }

// promSeries is one series of an answer: an instant vector has one point.
type promSeries struct {
	metric map[string]string
	points []promPoint
}

type promPoint struct {
	t time.Time
	v float64
}

func (c *promClient) query(ctx context.Context, q string, at time.Time) ([]promSeries, error) {
	return c.post(ctx, "query", url.Values{"query": {q}, "time": {promTime(at)}}, "vector")
}

func (c *promClient) queryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]promSeries, error) {
	return c.post(ctx, "query_range", url.Values{
		"query": {q}, "start": {promTime(start)}, "end": {promTime(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}, "matrix")
}

func promTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// promAnswer is the API's envelope.
type promAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string   `json:"metric"`
			Value  []json.RawMessage   `json:"value"`
			Values [][]json.RawMessage `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

func (c *promClient) post(ctx context.Context, endpoint string, form url.Values, want string) ([]promSeries, error) {
	u := c.base.JoinPath("api", "v1", endpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.user != nil {
		pw, _ := c.user.Password()
		req.SetBasicAuth(c.user.Username(), pw)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the caller's message
		}
		return nil, err
	}
	defer resp.Body.Close()
	var a promAnswer
	body := io.LimitReader(resp.Body, maxPromResponse)
	if err := json.NewDecoder(body).Decode(&a); err != nil {
		return nil, fmt.Errorf("HTTP %s, not a Prometheus API answer (%v)", resp.Status, err)
	}
	if a.Status != "success" {
		return nil, fmt.Errorf("HTTP %s: %s: %s", resp.Status, a.ErrorType, clipText(a.Error, 512))
	}
	if a.Data.ResultType != want {
		return nil, fmt.Errorf("a %q answer, want %q", a.Data.ResultType, want)
	}
	out := make([]promSeries, 0, len(a.Data.Result))
	for _, r := range a.Data.Result {
		s := promSeries{metric: r.Metric}
		pairs := r.Values
		if r.Value != nil {
			pairs = [][]json.RawMessage{r.Value}
		}
		for _, pair := range pairs {
			p, err := parsePoint(pair)
			if err != nil {
				return nil, err
			}
			s.points = append(s.points, p)
		}
		out = append(out, s)
	}
	return out, nil
}

// parsePoint reads [unix seconds, "value"]; the value may be NaN or ±Inf.
func parsePoint(pair []json.RawMessage) (promPoint, error) {
	if len(pair) != 2 {
		return promPoint{}, fmt.Errorf("a sample of %d fields, want 2", len(pair))
	}
	var ts float64
	var vs string
	if err := json.Unmarshal(pair[0], &ts); err != nil || math.IsNaN(ts) {
		return promPoint{}, fmt.Errorf("sample time %s is not a number", clipText(string(pair[0]), 64))
	}
	if err := json.Unmarshal(pair[1], &vs); err != nil {
		return promPoint{}, fmt.Errorf("sample value %s is not a string", clipText(string(pair[1]), 64))
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return promPoint{}, fmt.Errorf("sample value %q is not a number", clipText(vs, 64))
	}
	return promPoint{t: time.UnixMilli(int64(math.Round(ts * 1000))), v: v}, nil
}

func clipText(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}
