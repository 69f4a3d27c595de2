package ui

import (
	"sync"
	"sync/atomic"
	"time"
)

// Call is one finished tool call, as the audit log records it (never its
// arguments).
type Call struct {
	Time     time.Time `json:"time"`
	Tool     string    `json:"tool"`
	Upstream string    `json:"upstream,omitempty"`
	Identity string    `json:"identity"`
	Outcome  string    `json:"outcome"`
	// DurationMS is the call's duration in milliseconds.
	DurationMS float64 `json:"duration_ms"`
}

// RateLimit is one request refused by an identity's rate limit.
type RateLimit struct {
	Time     time.Time `json:"time"`
	Identity string    `json:"identity"`
}

// Transition is an upstream going up or down.
type Transition struct {
	Time     time.Time `json:"time"`
	Upstream string    `json:"upstream"`
	State    string    `json:"state"`
	Error    string    `json:"error,omitempty"`
}

// Event kinds.
const (
	EventCall       = "call"
	EventRateLimit  = "ratelimit"
	EventTransition = "transition"
	// EventChanged says upstream details changed (breaker, restarts,
	// catalog): read them again.
	EventChanged = "changed"
)

// Event is one thing that happened, as subscribers receive it.
type Event struct {
	Kind       string
	Call       *Call
	RateLimit  *RateLimit
	Transition *Transition
}

// DefaultRecent is how many of each kind of event a Feed keeps.
const DefaultRecent = 100

// subscriberBuffer is how many events wait for one subscriber before the
// next are dropped (and the subscriber told to read everything again).
const subscriberBuffer = 256

// Feed fans the gateway's events out to status-page subscribers and keeps
// the most recent of each kind for a page that loads later. Publishing never
// blocks: a subscriber that falls behind loses events and is marked lagged.
// A Feed is safe for concurrent use; a nil *Feed drops everything.
type Feed struct {
	mu          sync.Mutex
	calls       ring[Call]
	limits      ring[RateLimit]
	transitions ring[Transition]
	subs        map[*subscriber]struct{}
}

type subscriber struct {
	ch     chan Event
	lagged atomic.Bool
}

// NewFeed returns a Feed keeping the last n events of each kind; n <= 0
// means [DefaultRecent].
func NewFeed(n int) *Feed {
	if n <= 0 {
		n = DefaultRecent
	}
	return &Feed{calls: newRing[Call](n), limits: newRing[RateLimit](n), transitions: newRing[Transition](n), subs: map[*subscriber]struct{}{}}
}

// ToolCall records a finished call.
func (f *Feed) ToolCall(c Call) {
	if f == nil {
		return
	}
	f.mu.Lock()
	f.calls.add(c)
	f.publish(Event{Kind: EventCall, Call: &c})
	f.mu.Unlock()
}

// RateLimited records a refused request.
func (f *Feed) RateLimited(identity string, at time.Time) {
	if f == nil {
		return
	}
	l := RateLimit{Time: at, Identity: identity}
	f.mu.Lock()
	f.limits.add(l)
	f.publish(Event{Kind: EventRateLimit, RateLimit: &l})
	f.mu.Unlock()
}

// UpstreamTransition records an upstream going up or down.
func (f *Feed) UpstreamTransition(tr Transition) {
	if f == nil {
		return
	}
	f.mu.Lock()
	f.transitions.add(tr)
	f.publish(Event{Kind: EventTransition, Transition: &tr})
	f.mu.Unlock()
}

// Changed says upstream details changed.
func (f *Feed) Changed() {
	if f == nil {
		return
	}
	f.mu.Lock()
	f.publish(Event{Kind: EventChanged})
	f.mu.Unlock()
}

// publish sends ev to every subscriber that has room. Called with f.mu held.
func (f *Feed) publish(ev Event) {
	for s := range f.subs {
		select {
		case s.ch <- ev:
		default:
			s.lagged.Store(true)
		}
	}
}

// Subscribe returns a channel of events from now on; lagged reports (and
// clears) whether events were dropped since the last call; cancel ends the
// subscription.
func (f *Feed) Subscribe() (events <-chan Event, lagged func() bool, cancel func()) {
	s := &subscriber{ch: make(chan Event, subscriberBuffer)}
	f.mu.Lock()
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	return s.ch, func() bool { return s.lagged.Swap(false) }, func() {
		f.mu.Lock()
		delete(f.subs, s)
		f.mu.Unlock()
	}
}

// Recent returns the kept events of each kind, newest first.
func (f *Feed) Recent() (calls []Call, limits []RateLimit, transitions []Transition) {
	if f == nil {
		return nil, nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls.newestFirst(), f.limits.newestFirst(), f.transitions.newestFirst()
}

// ring keeps the last len(buf) items added.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func newRing[T any](n int) ring[T] { return ring[T]{buf: make([]T, n)} }

func (r *ring[T]) add(v T) {
	r.buf[r.next] = v
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

func (r *ring[T]) newestFirst() []T {
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]T, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}
