package redisserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel is a redis-server running in sentinel mode, monitoring one master.
type Sentinel struct {
	*Server
	// MasterName is the name the master is monitored under.
	MasterName string
}

// StartSentinel starts a Sentinel that monitors master under masterName with
// quorum 1 and short timeouts (down after 1 s), so that failover tests run
// in seconds. It waits until the Sentinel knows the master.
func StartSentinel(master *Server, masterName string) (*Sentinel, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, ErrNotInstalled
	}
	dir, err := os.MkdirTemp("", "poolscope-sentinel-")
	if err != nil {
		return nil, fmt.Errorf("redisserver: temp dir: %w", err)
	}
	s := &Sentinel{Server: &Server{Host: "127.0.0.1", Dir: dir}, MasterName: masterName}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if s.Port, err = FreePort(); err != nil {
			break
		}
		conf := filepath.Join(dir, "sentinel.conf")
		lines := []string{
			fmt.Sprintf("port %d", s.Port),
			"bind 127.0.0.1",
			"protected-mode no",
			"dir " + dir,
			"logfile " + s.LogFile(),
			fmt.Sprintf("sentinel monitor %s %s %d 1", masterName, master.Host, master.Port),
			fmt.Sprintf("sentinel down-after-milliseconds %s 1000", masterName),
			fmt.Sprintf("sentinel failover-timeout %s 5000", masterName),
			fmt.Sprintf("sentinel parallel-syncs %s 1", masterName),
		}
		if master.opts.Password != "" {
			lines = append(lines, fmt.Sprintf("sentinel auth-pass %s %s", masterName, master.opts.Password))
		}
		// Sentinel rewrites its configuration file, so it must be writable.
		if err = os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			break
		}
		cmd := exec.Command("redis-server", conf, "--sentinel")
		if lastErr = s.launchCmd(cmd, s.knowsMaster); lastErr == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(dir)
	if err != nil {
		return nil, fmt.Errorf("redisserver: sentinel: %w", err)
	}
	return nil, lastErr
}

// SentinelClient opens a client to the Sentinel itself.
func (s *Sentinel) SentinelClient() *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), DialTimeout: time.Second, MaxRetries: -1})
}

func (s *Sentinel) knowsMaster(ctx context.Context) error {
	c := s.SentinelClient()
	defer c.Close()
	_, err := c.GetMasterAddrByName(ctx, s.MasterName).Result()
	return err
}

// MasterAddr asks the Sentinel for the current master's address.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	c := s.SentinelClient()
	defer c.Close()
	addr, err := c.GetMasterAddrByName(ctx, s.MasterName).Result()
	if err != nil {
		return "", err
	}
	return strings.Join(addr, ":"), nil
}

// WaitReplicas polls until the Sentinel lists at least n replicas that are
// not down, or ctx ends.
func (s *Sentinel) WaitReplicas(ctx context.Context, n int) error {
	c := s.SentinelClient()
	defer c.Close()
	for {
		replicas, err := c.Replicas(ctx, s.MasterName).Result()
		if err == nil {
			up := 0
			for _, r := range replicas {
				if !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") {
					up++
				}
			}
			if up >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redisserver: sentinel on port %d: fewer than %d replicas known: %w", s.Port, n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Failover asks the Sentinel to fail the master over now.
func (s *Sentinel) Failover(ctx context.Context) error {
	c := s.SentinelClient()
	defer c.Close()
	return c.Failover(ctx, s.MasterName).Err()
}
