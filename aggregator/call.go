package aggregator

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sony/gobreaker/v2"
)

// BreakerSettings configures an upstream's circuit breaker.
type BreakerSettings struct {
	// Failures is how many consecutive upstream failures open the breaker.
	// Zero means 5; negative disables the breaker.
	Failures int
	// OpenTimeout is how long the breaker stays open before letting one probe
	// through. Zero means 30s.
	OpenTimeout time.Duration
}

// retryDelays are the waits before the second and third attempt of a safe
// request; a retry is made only if the call's deadline leaves room for it.
var retryDelays = []time.Duration{100 * time.Millisecond, 400 * time.Millisecond}

// guard is everything that protects one upstream from its callers and its
// callers from it: the per-call timeout, the concurrency cap, the circuit
// breaker and the retry rule. Its one method is [call].
type guard struct {
	upstream string
	timeout  time.Duration
	log      *slog.Logger
	breaker  *gobreaker.CircuitBreaker[struct{}] // nil when disabled
	slots    chan struct{}                       // concurrency cap; nil when none
	// onResult, if set, sees the outcome of every attempt that reached a
	// session (nil on success): the upstream follows its login state by it.
	onResult func(error)
}

func newGuard(spec UpstreamSpec, log *slog.Logger, onBreaker func(from, to gobreaker.State)) *guard {
	if onBreaker == nil {
		onBreaker = func(gobreaker.State, gobreaker.State) {}
	}
	g := &guard{upstream: spec.Name, timeout: spec.CallTimeout, log: log}
	if spec.MaxConcurrency > 0 {
		g.slots = make(chan struct{}, spec.MaxConcurrency)
	}
	g.breaker = newBreaker(spec.Name, spec.Breaker, onBreaker)
	return g
}

func newBreaker(name string, s BreakerSettings, onChange func(from, to gobreaker.State)) *gobreaker.CircuitBreaker[struct{}] {
	if s.Failures < 0 {
		return nil
	}
	if s.Failures == 0 {
		s.Failures = 5
	}
	if s.OpenTimeout <= 0 {
		s.OpenTimeout = 30 * time.Second
	}
	failures := uint32(s.Failures)
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     s.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			onChange(from, to)
		},
		// Only the upstream's own failures count; the classification says
		// which those are (an answer it chose to give is a success).
		IsSuccessful: func(err error) bool { return fault.Classify(err).Breaker == fault.BreakerSuccess },
		IsExcluded:   func(err error) bool { return fault.Classify(err).Breaker == fault.BreakerIgnore },
	})
}

// errConnectionFailed is what the run loop records in the breaker when a
// connection attempt fails or a connection is lost.
var errConnectionFailed = errors.New("upstream connection failed")

// recordConnection tells the breaker how a connection attempt or a
// connection ended: a failure counts like a failed call (so a crash loop
// opens the breaker); a successful connect counts as a success.
func (g *guard) recordConnection(ok bool) {
	if g.breaker == nil {
		return
	}
	_, _ = g.breaker.Execute(func() (struct{}, error) { // an open breaker refuses: nothing to record
		if ok {
			return struct{}{}, nil
		}
		return struct{}{}, errConnectionFailed
	})
}

// breakerState names the breaker's state for status output.
func (g *guard) breakerState() string {
	if g.breaker == nil {
		return "disabled"
	}
	return g.breaker.State().String()
}

// acquire takes a slot under the concurrency cap, waiting until ctx ends.
// The returned func frees it.
func (g *guard) acquire(ctx context.Context) (func(), error) {
	if g.slots == nil {
		return func() {}, nil
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fault.Busy(g.upstream, cap(g.slots))
		}
		return nil, fault.Cancelled(ctx.Err())
	}
}

// call sends one request to the upstream with everything that guards an
// upstream call: the call timeout (a fixed deadline: progress does not
// extend it, and on expiry the SDK sends the upstream
// notifications/cancelled), a slot under the concurrency cap, the circuit
// breaker, and — for idempotent requests only, and only when the request never
// got an answer — retries with backoff within the deadline. ss is the
// downstream session the request is made for (nil for none); sessionFor
// returns the upstream session an attempt goes to; f makes the request on
// it. Every error it returns is classified by fault and names the upstream.
func call[R any](ctx context.Context, g *guard, ss *mcp.ServerSession, method string, idempotent bool, sessionFor func(context.Context, *mcp.ServerSession) (*session, error), f func(context.Context, *session) (R, error)) (R, error) {
	cctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	release, err := g.acquire(cctx)
	if err != nil {
		var zero R
		return zero, err
	}
	defer release()
	for attempt := 0; ; attempt++ {
		res, err := attemptOnce(ctx, cctx, g, ss, method, sessionFor, f)
		if err == nil || !idempotent || !fault.Classify(err).Retry || attempt >= len(retryDelays) {
			return res, err
		}
		delay := retryDelays[attempt]
		if deadline, ok := cctx.Deadline(); ok && time.Until(deadline) < delay {
			return res, err
		}
		g.log.Debug("retrying idempotent request", "method", method, "attempt", attempt+2, "err", err)
		select {
		case <-cctx.Done():
			return res, err
		case <-time.After(delay):
		}
	}
}

// attemptOnce makes one attempt through the circuit breaker, with the call
// tracked as in flight on its session (so that the upstream's requests back
// to the client can be attributed to it). ctx is the caller's, cctx the
// call's (with its deadline). A lost upstream session (HTTP 404) closes the
// connection so that it is made again.
func attemptOnce[R any](ctx, cctx context.Context, g *guard, ss *mcp.ServerSession, method string, sessionFor func(context.Context, *mcp.ServerSession) (*session, error), f func(context.Context, *session) (R, error)) (R, error) {
	var res R
	cctx, span := startUpstreamSpan(cctx, g.upstream, method)
	run := func() (struct{}, error) {
		s, err := sessionFor(ctx, ss)
		if err != nil {
			return struct{}{}, err
		}
		defer s.untrack(s.track(ctx, ss))
		r, err := f(cctx, s)
		if g.onResult != nil && ctx.Err() == nil && s.owner == nil {
			g.onResult(err)
		}
		switch {
		case err == nil:
			res = r
		case ctx.Err() != nil:
			err = fault.Cancelled(ctx.Err())
		case errors.Is(cctx.Err(), context.DeadlineExceeded):
			err = fault.Timeout(g.upstream, method, g.timeout)
		case fault.Classify(err).Kind == fault.KindUpstreamAnswer:
		default:
			if errors.Is(err, mcp.ErrSessionMissing) {
				g.log.Warn("upstream lost our session; reconnecting", "method", method)
				s.close()
			}
			// A connection that fails takes every call in flight with it:
			// the breaker counts it once (and a connection that closed was
			// counted by whoever closed it, or by the run loop).
			counted := fault.Classify(err).Breaker == fault.BreakerIgnore || !s.failed.CompareAndSwap(false, true)
			err = fault.Connection(g.upstream, method, err, counted)
		}
		return struct{}{}, err
	}
	var err error
	if g.breaker == nil {
		_, err = run()
	} else if _, err = g.breaker.Execute(run); errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		err = fault.BreakerOpen(g.upstream)
	}
	endUpstreamSpan(span, res, err)
	return res, err
}
