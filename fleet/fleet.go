// Package fleet holds the state that gateway replicas share: the rate limit
// per identity and the failed-authentication limit per remote address
// (one gate, [State.Allow]), and session records, so that a session made on
// one replica is served by any other ([State.Track], [State.Handler]).
//
// With a Redis URL the state lives in Redis; without one, the limits are the
// in-process token buckets of package ratelimit and sessions live only on
// the replica that made them, which is all a single gateway needs. Redis
// never holds a request up for long: every call is bounded by
// [Options.Timeout], and after a failed call Redis is not asked again until
// a background probe (every [Options.ProbeInterval]) reaches it. While it is
// unreachable each part falls back: limits become per replica, new sessions
// are not recorded, and a session unknown to this replica cannot be found.
// The fall-back is logged once per transition, reported to the [Observer]
// (mcp_gateway_redis_up, mcp_gateway_redis_degraded_total), and undone as
// soon as the probe succeeds.
//
// The package is a leaf: go-sdk, go-redis, redis_rate, policy and
// ratelimit; cmd wires its parts into the transport.
package fleet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/mcp-gateway/mcp-gateway/ratelimit"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults for Options fields left zero.
const (
	DefaultPrefix        = "mcp-gateway:"
	DefaultTimeout       = 100 * time.Millisecond
	DefaultProbeInterval = time.Second
	DefaultSessionIdle   = 30 * time.Minute
)

// Kinds of degraded decision, as counted by [Observer.Degraded].
const (
	// KindRateLimit: a rate-limit or failed-authentication decision taken
	// from this replica's own buckets.
	KindRateLimit = "rate_limit"
	// KindSessionSave: a session's record (new, or changed state) not
	// written; other replicas will not find it, or find it stale.
	KindSessionSave = "session_save"
	// KindSessionLookup: a session unknown to this replica that could not
	// be looked up; the client is told the session is not found.
	KindSessionLookup = "session_lookup"
)

// Observer is told of Redis's reachability and of each decision taken
// without it. Methods must not block.
type Observer interface {
	// RedisUp is told the state once at start and at every transition.
	RedisUp(up bool)
	// Degraded counts one decision taken without Redis; kind is one of the
	// Kind constants.
	Degraded(kind string)
	// Restored counts one session made by another replica and rebuilt on
	// this one.
	Restored()
}

// Options configures New.
type Options struct {
	// URL is the Redis server: redis://[[user]:password@]host:port[/db], or
	// rediss:// for TLS. Empty means in-process state only.
	URL string
	// Prefix starts every key, so that several gateways can share one
	// database. Empty means [DefaultPrefix].
	Prefix string
	// Timeout bounds each Redis call. Zero means [DefaultTimeout].
	Timeout time.Duration
	// ProbeInterval is how often Run pings Redis while it is down, to notice
	// it coming back, and while idle, to notice it going. Zero means
	// [DefaultProbeInterval].
	ProbeInterval time.Duration
	// SessionIdle is the idle lifetime of a session record and of a session
	// restored on this replica. Zero means [DefaultSessionIdle].
	SessionIdle time.Duration
	// Logger receives the transitions and errors; nil discards them.
	Logger *slog.Logger
	// Observer, if set, is told of Redis's state and degraded decisions.
	Observer Observer
}

// State is one replica's view of the shared state. Safe for concurrent use.
type State struct {
	o     Options
	local *ratelimit.Limiter
	rdb   *redis.Client // nil without Redis
	rate  *redis_rate.Limiter

	up       atomic.Bool
	mu       sync.Mutex // guards downAt
	downAt   time.Time
	kick     chan struct{} // a call failed: probe now
	restored restoredSessions
	deliver  deliverers
	id       string // this replica, in published messages
}

// New builds the state. With a URL it parses it; Redis is not dialled until
// Run (an unreachable Redis is not an error: the state starts degraded and
// the probe brings it back). A malformed URL is an error.
func New(opts *Options) (*State, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = DefaultSessionIdle
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &State{o: o, local: ratelimit.New(0), kick: make(chan struct{}, 1), id: rand.Text()}
	s.restored.init()
	if o.URL == "" {
		return s, nil
	}
	ropts, err := redisOptions(o.URL, o.Timeout)
	if err != nil {
		return nil, err
	}
	s.rdb = redis.NewClient(ropts)
	s.rate = redis_rate.NewLimiter(s.rdb)
	return s, nil
}

// Shared reports whether the state is meant to live in Redis.
func (s *State) Shared() bool { return s.rdb != nil }

// Up reports whether Redis is reachable (false without Redis).
func (s *State) Up() bool { return s.rdb != nil && s.up.Load() }

// Run probes Redis until ctx is done, then closes the restored sessions and
// the Redis client. Without Redis it only waits.
func (s *State) Run(ctx context.Context) error {
	defer s.restored.closeAll()
	if s.rdb == nil {
		<-ctx.Done()
		return nil
	}
	defer s.rdb.Close()
	relayed := make(chan struct{})
	go func() { defer close(relayed); s.relayReplies(ctx) }()
	defer func() { <-relayed }()
	s.setUp(s.ping(ctx) == nil, nil)
	if s.o.Observer != nil && !s.up.Load() {
		s.o.Observer.RedisUp(false) // setUp reports transitions; the start is one too
	}
	t := time.NewTicker(s.o.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
		err := s.ping(ctx)
		s.setUp(err == nil, err)
	}
}

func (s *State) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	return s.rdb.Ping(ctx).Err()
}

// setUp records Redis's reachability, logging and reporting a transition.
func (s *State) setUp(up bool, err error) {
	if s.up.Swap(up) == up {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if up {
		down := ""
		if !s.downAt.IsZero() {
			down = time.Since(s.downAt).Round(time.Millisecond).String()
		}
		s.o.Logger.Info("redis reachable: rate limits and sessions are shared across replicas again", "url", RedactURL(s.o.URL), "was_down", down)
	} else {
		s.downAt = time.Now()
		s.o.Logger.Error("redis unreachable: rate limits are per replica, new sessions and session changes are not shared, and sessions made on other replicas cannot be served here until it returns",
			"url", RedactURL(s.o.URL), "err", err, "probe_every", s.o.ProbeInterval)
	}
	if s.o.Observer != nil {
		s.o.Observer.RedisUp(up)
	}
}

// call runs f against Redis within the time box. It reports false, without
// calling f, while Redis is known to be down; a failure of f marks it down
// and wakes the probe.
func (s *State) call(ctx context.Context, f func(context.Context) error) bool {
	if s.rdb == nil || !s.up.Load() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.Timeout)
	defer cancel()
	err := f(ctx)
	if err == nil || errors.Is(err, redis.Nil) {
		return true
	}
	s.setUp(false, err)
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return false
}

func (s *State) degraded(kind string) {
	if s.o.Observer != nil {
		s.o.Observer.Degraded(kind)
	}
}

func (s *State) key(parts ...string) string {
	return s.o.Prefix + strings.Join(parts, ":")
}

// redisOptions turns the URL into client options whose every timeout is
// the time box: a call fails fast rather than waiting on a dead server.
func redisOptions(raw string, timeout time.Duration) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, fmt.Errorf("redis url %q: want redis://HOST:PORT/DB or rediss://HOST:PORT/DB", RedactURL(raw))
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redis url %q: %v", RedactURL(raw), err)
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
	o.ContextTimeoutEnabled = true
	o.DialerRetries = 1
	// No retries: a retry would outlast the time box, and the probe notices
	// a restarted server within a second.
	o.MaxRetries = -1
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	o.ClientName = "mcp-gateway"
	o.DisableIdentity = true // no CLIENT SETINFO: older servers answer it with an error
	return o, nil
}

// RedactURL drops the password from a Redis URL, for errors and logs.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[redacted]"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}
