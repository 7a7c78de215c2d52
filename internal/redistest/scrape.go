package redistest

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Scrape returns the body a Prometheus endpoint (or any URL) serves, and
// fails the test when it cannot be fetched or does not answer 200 OK: a
// Prometheus exporter that refuses a scrape answers 500 with the reason.
func Scrape(tb testing.TB, url string) string {
	tb.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s\n%.2000s", url, resp.Status, body)
	}
	return string(body)
}
