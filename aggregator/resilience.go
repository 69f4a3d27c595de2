package aggregator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
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

// BreakerOpenError is returned, without calling the upstream, while its
// circuit breaker is open.
type BreakerOpenError struct{ Upstream string }

func (e *BreakerOpenError) Error() string {
	return fmt.Sprintf("upstream %q is failing: circuit breaker open, calls fail fast until it recovers", e.Upstream)
}

// ConcurrencyError is returned when a call waited for a free slot under the
// upstream's max_concurrency for its whole timeout.
type ConcurrencyError struct {
	Upstream string
	Limit    int
}

func (e *ConcurrencyError) Error() string {
	return fmt.Sprintf("upstream %q is at its limit of %d concurrent calls", e.Upstream, e.Limit)
}

// errCallerGone marks an attempt that ended because the downstream caller
// cancelled: not the upstream's failure, so the breaker ignores it.
var errCallerGone = errors.New("caller cancelled")

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
		// Only the upstream's own failures count: an answer it chose to give
		// (a JSON-RPC error such as invalid params, or an isError result,
		// which is not an error at all) is a success.
		IsSuccessful: func(err error) bool { return err == nil || isUpstreamAnswer(err) },
		IsExcluded:   excludedFromBreaker,
	})
}

// excludedFromBreaker reports errors the breaker does not count: the
// caller's cancellation, and calls that failed because the connection was
// lost or down — the connection's own failure is counted once, by the
// upstream's run loop, however many calls it took with it.
func excludedFromBreaker(err error) bool {
	var unavail *UnavailableError
	return errors.Is(err, errCallerGone) || errors.Is(err, errCountedOnce) || errors.Is(err, mcp.ErrConnectionClosed) || errors.As(err, &unavail)
}

// errCountedOnce marks a transport failure on a connection that already
// had one.
var errCountedOnce = errors.New("connection already failed")

// errConnectionFailed is what the run loop records in the breaker when a
// connection fails or is lost.
var errConnectionFailed = errors.New("upstream connection failed")

// recordConnection tells the breaker how a connection attempt or a
// connection ended: a failure counts like a failed call (so a crash loop
// opens the breaker); a successful connect counts as a success.
func (u *upstream) recordConnection(ok bool) {
	if u.breaker == nil {
		return
	}
	_, _ = u.breaker.Execute(func() (struct{}, error) { // an open breaker refuses: nothing to record
		if ok {
			return struct{}{}, nil
		}
		return struct{}{}, errConnectionFailed
	})
}

// isUpstreamAnswer reports whether err is a JSON-RPC error the upstream sent.
func isUpstreamAnswer(err error) bool {
	var rpcErr *jsonrpc.Error
	return errors.As(err, &rpcErr)
}

// retryable reports whether a failed attempt may be repeated: only when the
// request never got an answer because the connection failed or was down —
// not a timeout (the upstream may still be working on it), not the upstream's
// answer, not the caller's cancellation.
func retryable(err error) bool {
	var timeout *TimeoutError
	var open *BreakerOpenError
	var busy *ConcurrencyError
	switch {
	case err == nil, isUpstreamAnswer(err), errors.Is(err, errCallerGone), errors.Is(err, context.Canceled),
		errors.As(err, &timeout), errors.As(err, &open), errors.As(err, &busy):
		return false
	}
	return true
}

// retryDelays are the waits before the second and third attempt of a safe
// request; a retry is made only if the call's deadline leaves room for it.
var retryDelays = []time.Duration{100 * time.Millisecond, 400 * time.Millisecond}

// acquire takes a slot under the upstream's concurrency cap, waiting until
// ctx ends. The returned func frees it.
func (u *upstream) acquire(ctx context.Context) (func(), error) {
	if u.slots == nil {
		return func() {}, nil
	}
	select {
	case u.slots <- struct{}{}:
		return func() { <-u.slots }, nil
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return nil, &ConcurrencyError{Upstream: u.spec.Name, Limit: cap(u.slots)}
		}
		return nil, errCallerGone
	}
}

// breakerState names the breaker's state for status output.
func (u *upstream) breakerState() string {
	if u.breaker == nil {
		return "disabled"
	}
	return u.breaker.State().String()
}
