package pools_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/poolscope/poolscope/internal/redisserver"
	"github.com/poolscope/poolscope/internal/redistest"
	"github.com/poolscope/poolscope/pools"
)

func TestTLSClientConfig(t *testing.T) {
	s := redistest.Start(t, redisserver.Options{TLS: true})
	cfg, err := pools.LoadConfig(func(k string) (string, bool) {
		v, ok := map[string]string{"REDIS_MASTER_URL": s.URL(), "REDIS_TLS_CA_FILE": s.TLS.CAFile, "REDIS_TLS_SERVER_NAME": "127.0.0.1"}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, build := range map[string]func() (*tls.Config, error){
		"Config.TLSClientConfig": cfg.TLSClientConfig,
		"TLSConfig.ClientConfig": cfg.TLS.ClientConfig,
	} {
		tc, err := build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tc.MinVersion != tls.VersionTLS12 || tc.ServerName != "127.0.0.1" || tc.InsecureSkipVerify || tc.RootCAs == nil {
			t.Errorf("%s: %+v", name, tc)
		}
		c := redis.NewClient(&redis.Options{Addr: s.Addr(), TLSConfig: tc, MaxRetries: -1})
		if err := c.Ping(context.Background()).Err(); err != nil {
			t.Errorf("%s: PING over TLS: %v", name, err)
		}
		_ = c.Close()
	}
	bad := pools.TLSConfig{CAFile: "/nonexistent/ca.pem", CertFile: "x.pem"}
	if _, err := bad.ClientConfig(); err == nil || !strings.Contains(err.Error(), `REDIS_TLS_CA_FILE="/nonexistent/ca.pem"`) || !strings.Contains(err.Error(), "REDIS_TLS_KEY_FILE") {
		t.Errorf("bad files: %v", err)
	}
}
