package redisurl

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

const want = "want redis://host:port/db, rediss://host:port/db or unix:///path"

// Parse checks a redis://, rediss:// or unix:// URL and returns go-redis's
// options for it. Its errors never quote the URL, since it may carry a
// password: the caller quotes Redact(raw).
func Parse(raw string) (*redis.Options, error) {
	if raw == "" {
		return nil, errors.New("empty (" + want + ")")
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return nil, errors.New("contains white space")
	}
	scheme, _, found := strings.Cut(raw, "://")
	if !found {
		return nil, errors.New("not a URL (" + want + ")")
	}
	switch scheme {
	case "redis", "rediss", "unix":
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want redis, rediss or unix)", scheme)
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		// go-redis and net/url quote the whole URL in some errors: do not
		// pass their text on.
		return nil, errors.New("not a valid Redis URL")
	}
	if o.Network == "tcp" {
		host, port, err := net.SplitHostPort(o.Addr)
		if err != nil || host == "" {
			return nil, errors.New("no host")
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("port %q out of range", port)
		}
	}
	return o, nil
}

// Check is Parse without the options.
func Check(raw string) error {
	_, err := Parse(raw)
	return err
}
