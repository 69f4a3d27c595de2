package aggregator

import (
	"encoding/json"
	"time"
)

// ToolCall is the audit record of one tools/call.
type ToolCall struct {
	Time         time.Time
	Identity     string
	Session      string
	Tool         string // as exposed
	Upstream     string
	UpstreamTool string // the upstream's own name
	Duration     time.Duration
	Outcome      string // one of fault's Outcome constants
	// Arguments are the raw arguments. An audit log records their size and
	// digest, and the values only when configured to.
	Arguments json.RawMessage
}

// Observer receives what metrics and audit logs need. Implementations must be
// safe for concurrent use and must not block.
type Observer interface {
	// Request is called once per forwarded or refused catalog request.
	Request(method, upstream, outcome string, d time.Duration)
	// ToolCall is called once per tools/call, after it finished.
	ToolCall(ToolCall)
	// RateLimited is called when an identity's request is refused by its rate limit.
	RateLimited(identity string)
	// UpstreamState is called when an upstream connects or goes down.
	UpstreamState(upstream string, up bool)
	// UpstreamRestart is called when an upstream is reconnected (a stdio one restarted).
	UpstreamRestart(upstream string)
	// BreakerState is called when an upstream's circuit breaker changes state.
	BreakerState(upstream, state string)
	// CatalogSize is called with the size of each kind of the merged catalog after it changed.
	CatalogSize(kind string, n int)
}

// NopObserver observes nothing.
type NopObserver struct{}

func (NopObserver) Request(string, string, string, time.Duration) {}
func (NopObserver) ToolCall(ToolCall)                             {}
func (NopObserver) RateLimited(string)                            {}
func (NopObserver) UpstreamState(string, bool)                    {}
func (NopObserver) UpstreamRestart(string)                        {}
func (NopObserver) BreakerState(string, string)                   {}
func (NopObserver) CatalogSize(string, int)                       {}
