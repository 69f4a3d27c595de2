package config

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for gateway.redis.
const (
	DefaultRedisPrefix  = "mcp-gateway:"
	DefaultRedisTimeout = Duration(100 * time.Millisecond)
)

// Redis points the gateway at the Redis server that replicas share (gateway.redis): rate limits
// and failed-authentication limits across the fleet, and session records, so that any replica can
// serve any session. Without it the gateway keeps that state in its own process.
type Redis struct {
	// URL is redis://[[user]:password@]HOST:PORT[/DB], or rediss:// for TLS.
	URL string `json:"url,omitempty"`
	// Prefix starts every key, so that several gateways can share one database. Default
	// DefaultRedisPrefix.
	Prefix string `json:"prefix,omitempty"`
	// Timeout bounds each Redis call; past it the call counts as Redis being down. Default
	// DefaultRedisTimeout.
	Timeout Duration `json:"timeout,omitempty"`
}

// Redacted returns a copy of r whose URL has no password.
func (r *Redis) Redacted() *Redis {
	if r == nil {
		return nil
	}
	out := *r
	out.URL = RedactURL(r.URL)
	return &out
}

// RedactURL replaces the password of a URL with "[redacted]"; a URL it cannot parse is replaced
// whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[redacted]"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "[redacted]")
		s := u.String()
		return strings.Replace(s, url.QueryEscape("[redacted]"), "[redacted]", 1)
	}
	return u.String()
}

func validateRedis(errs *errorList, r *Redis) {
	if r == nil {
		return
	}
	p := "gateway.redis"
	if r.URL == "" {
		errs.add(child(p, "url"), detail(ErrRequired, "gateway.redis needs a url like redis://127.0.0.1:6379/0"))
	} else if msg := checkRedisURL(r.URL); msg != "" {
		errs.add(child(p, "url"), detail(ErrInvalidValue, "%s", msg))
	}
	if r.Timeout < 0 {
		errs.add(child(p, "timeout"), detail(ErrInvalidValue, "must not be negative"))
	}
	if strings.ContainsAny(r.Prefix, " \t\r\n") {
		errs.add(child(p, "prefix"), detail(ErrInvalidValue, "must not contain white space"))
	}
}

// checkRedisURL returns what is wrong with a Redis URL, or "".
func checkRedisURL(raw string) string {
	const want = "want redis://[[user]:password@]HOST:PORT[/DB] or rediss://…"
	u, err := url.Parse(raw)
	if err != nil {
		return "not a URL: " + want
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return "scheme must be redis or rediss: " + want
	}
	if u.Host == "" || u.Hostname() == "" {
		return "no host: " + want
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "port must be 1-65535"
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return "the path is the database number, like /0"
		}
	}
	return ""
}
