package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Answers that are not what Prometheus's API returns give an error that
// says what was wrong, never a panic or a made-up sample.
func TestPromClientHostileAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		want   string // error substring; "" means success
		values []float64
	}{
		"instant vector": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1700000000.5,"3"]}]}}`, "", []float64{3}},
		"special values": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]},{"metric":{},"value":[1,"+Inf"]},{"metric":{},"value":[1,"-Inf"]}]}}`, "", nil},
		"empty result":   {200, `{"status":"success","data":{"resultType":"vector","result":[]}}`, "", nil},
		"API error":      {400, `{"status":"error","errorType":"bad_data","error":"parse error at char 5"}`, "HTTP 400 Bad Request: bad_data: parse error at char 5", nil},
		"long API error": {422, `{"status":"error","errorType":"execution","error":"` + strings.Repeat("e", 5000) + `"}`, "eee...", nil},
		"HTML":           {200, `<html>login</html>`, "not a Prometheus API answer", nil},
		"empty body":     {502, ``, "HTTP 502 Bad Gateway, not a Prometheus API answer", nil},
		"matrix":         {200, `{"status":"success","data":{"resultType":"matrix","result":[]}}`, `a "matrix" answer, want "vector"`, nil},
		"scalar":         {200, `{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}`, "not a Prometheus API answer", nil},
		"value not a string": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,3]}]}}`,
			"sample value 3 is not a string", nil},
		"value not a number": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"three"]}]}}`,
			`sample value "three" is not a number`, nil},
		"time not a number": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":["now","3"]}]}}`,
			`sample time "now" is not a number`, nil},
		"short sample": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}`,
			"a sample of 1 fields, want 2", nil},
		"metric not labels": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":[1,2],"value":[1,"3"]}]}}`,
			"not a Prometheus API answer", nil},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/prefix/api/v1/query" || r.FormValue("query") != "up" {
					http.Error(w, "unexpected request "+r.URL.Path, http.StatusTeapot)
					return
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			base, _ := url.Parse(srv.URL + "/prefix")
			c := newPromClient(base, nil)
			defer c.close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := c.query(ctx, "up", time.Now())
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				if len(err.Error()) > 1000 {
					t.Errorf("error of %d bytes", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range tc.values {
				if got[i].points[0].v != v {
					t.Errorf("sample %d = %v, want %v", i, got[i].points[0].v, v)
				}
			}
		})
	}
}

// Credentials in --prometheus are sent as basic auth, and the request URL
// carries none.
func TestPromClientBasicAuth(t *testing.T) {
	var user, pass, rawURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ = r.BasicAuth()
		rawURL = r.URL.String()
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	defer srv.Close()
	f, code, ok := parseAdviseFlags(env{args: []string{"--prometheus", strings.Replace(srv.URL, "http://", "http://reader:"+canary+"@", 1)}, stderr: &strings.Builder{}})
	if !ok {
		t.Fatalf("flags refused (exit %d)", code)
	}
	if strings.Contains(f.prometheus.String(), canary) {
		t.Fatalf("the URL kept the password: %s", f.prometheus)
	}
	c := newPromClient(f.prometheus, f.user)
	defer c.close()
	if _, err := c.query(context.Background(), "up", time.Now()); err != nil {
		t.Fatal(err)
	}
	if user != "reader" || pass != canary || strings.Contains(rawURL, canary) {
		t.Errorf("basic auth %q/%q, URL %q", user, pass, rawURL)
	}
}
