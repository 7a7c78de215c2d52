package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/poolscope/poolscope/internal/redisserver"
)

// FreeAddrs returns n distinct free loopback host:port addresses.
func FreeAddrs(n int) ([]string, error) {
	seen := map[int]bool{}
	var addrs []string
	for len(addrs) < n {
		p, err := redisserver.FreePort()
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			addrs = append(addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		}
	}
	return addrs, nil
}

// httpClient talks to the children's HTTP endpoints. Its own transport
// keeps no idle connection, so that no keep-alive goroutine outlives a test
// (goleak) or shows in the soak's goroutine count.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// readyTimeout bounds one readiness request.
const readyTimeout = 2 * time.Second

// HTTPOK is a readiness check: nil when GET url answers 200 OK within 2 s.
func HTTPOK(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	_, err := httpGet(ctx, url)
	return err
}

// httpGet returns the body of GET url, an error unless it is 200 OK.
func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}
