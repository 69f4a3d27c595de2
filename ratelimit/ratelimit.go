// Package ratelimit keeps the gateway's per-identity token buckets. The front
// door (transport) is its one user: every request a client sends, over HTTP
// or stdio, takes a token there before the MCP server sees it.
//
// It is a leaf: standard library and x/time/rate only.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter keeps a token bucket per key (an identity). Buckets of keys that
// have been idle longer than the idle period are dropped, so memory is
// bounded by the callers of the last idle period, not by every caller ever
// seen. Safe for concurrent use.
type Limiter struct {
	idle time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim        *rate.Limiter
	rpm, burst int
	seen       time.Time
}

// DefaultIdle is how long a bucket is kept unused when New is given zero.
const DefaultIdle = 10 * time.Minute

// New returns a Limiter that forgets keys idle for longer than idle (zero
// means [DefaultIdle]).
func New(idle time.Duration) *Limiter {
	if idle <= 0 {
		idle = DefaultIdle
	}
	return &Limiter{idle: idle, buckets: map[string]*bucket{}}
}

// Allow takes one token from key's bucket of rpm requests per minute with
// the given burst (less than 1 counts as 1). A negative rpm means unlimited.
// If the bucket is empty it returns false and how long until a token is
// available.
func (l *Limiter) Allow(key string, rpm, burst int) (bool, time.Duration) {
	if rpm < 0 {
		return true, 0
	}
	if burst < 1 {
		burst = 1
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.idle/2 {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil || b.rpm != rpm || b.burst != burst {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(rpm)/60), burst), rpm: rpm, burst: burst}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, l.idle
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.seen) > l.idle {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
