package exporters

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// receiver is an OTLP metrics receiver: the gRPC service a collector runs,
// or its HTTP twin. It keeps every request and the headers it came with.
type receiver struct {
	colmetricpb.UnimplementedMetricsServiceServer

	arrived chan struct{} // signalled (without blocking) on every request

	mu       sync.Mutex
	requests []*colmetricpb.ExportMetricsServiceRequest
	headers  []map[string]string // lower-case keys
}

func newReceiver() *receiver { return &receiver{arrived: make(chan struct{}, 1)} }

func (r *receiver) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	h := map[string]string{}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, v := range md {
		h[k] = strings.Join(v, ",")
	}
	r.add(req, h)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func (r *receiver) add(req *colmetricpb.ExportMetricsServiceRequest, headers map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
	r.headers = append(r.headers, headers)
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

// waitForMetric waits until a request carrying the named metric arrives.
func (r *receiver) waitForMetric(t *testing.T, name string, within time.Duration) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		reqs, _ := r.received()
		if m, _ := findMetric(reqs, name); m != nil {
			return
		}
		select {
		case <-r.arrived:
		case <-deadline.C:
			t.Fatalf("no %s within %v", name, within)
		}
	}
}

func (r *receiver) received() ([]*colmetricpb.ExportMetricsServiceRequest, []map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*colmetricpb.ExportMetricsServiceRequest(nil), r.requests...),
		append([]map[string]string(nil), r.headers...)
}

// ServeHTTP is the OTLP/HTTP binary protobuf endpoint.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST application/x-protobuf", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	msg := &colmetricpb.ExportMetricsServiceRequest{}
	if err := proto.Unmarshal(raw, msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := map[string]string{":path": req.URL.Path}
	for k, v := range req.Header {
		h[strings.ToLower(k)] = strings.Join(v, ",")
	}
	r.add(msg, h)
	resp, err := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

func startGRPCReceiver(t *testing.T) (*receiver, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver()
	srv := grpc.NewServer()
	colmetricpb.RegisterMetricsServiceServer(srv, rcv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return rcv, lis.Addr().String()
}

func startHTTPReceiver(t *testing.T) (*receiver, string) {
	t.Helper()
	rcv := newReceiver()
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	return rcv, srv.Listener.Addr().String()
}

// findMetric returns the first metric named name in the requests, with the
// resource it came with.
func findMetric(reqs []*colmetricpb.ExportMetricsServiceRequest, name string) (*metricpb.Metric, map[string]string) {
	for _, req := range reqs {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() == name {
						return m, resourceAttrs(rm.GetResource().GetAttributes())
					}
				}
			}
		}
	}
	return nil, nil
}

func resourceAttrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return m
}
