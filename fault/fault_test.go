package fault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
)

// TestClassify lists every kind of error with its answers: outcome,
// JSON-RPC code, retry, breaker (and HTTP status where the front door
// answers at the HTTP level).
func TestClassify(t *testing.T) {
	upstreamErr := &jsonrpc.Error{Code: -32602, Message: "bad arguments", Data: []byte(`{"field":"x"}`)}
	tests := []struct {
		name    string
		err     error
		kind    Kind
		outcome string
		code    int64
		retry   bool
		breaker BreakerEffect
		status  int
	}{
		{"nil", nil, KindOK, OutcomeOK, 0, false, BreakerSuccess, 0},
		{"upstream answer", upstreamErr, KindUpstreamAnswer, OutcomeError, -32602, false, BreakerSuccess, 0},
		{"upstream answer, wrapped", fmt.Errorf("calling: %w", upstreamErr), KindUpstreamAnswer, OutcomeError, -32602, false, BreakerSuccess, 0},
		{"denied", Denied("api_key:bob", `tool "a__x"`), KindDenied, OutcomeDenied, CodeForbidden, false, BreakerIgnore, 0},
		{"rate limited", RateLimited("api_key:bob", time.Second), KindRateLimited, OutcomeRateLimited, CodeRateLimited, false, BreakerIgnore, http.StatusTooManyRequests},
		{"unknown tool", UnknownTool("nope"), KindInvalidParams, OutcomeError, jsonrpc.CodeInvalidParams, false, BreakerIgnore, 0},
		{"invalid params", InvalidParams("invalid cursor"), KindInvalidParams, OutcomeError, jsonrpc.CodeInvalidParams, false, BreakerIgnore, 0},
		{"resource not found", ResourceNotFound("file:///x"), KindNotFound, OutcomeError, mcp.CodeResourceNotFound, false, BreakerIgnore, 0},
		{"timeout", Timeout("a", "tools/call", time.Second), KindTimeout, OutcomeTimeout, CodeUpstreamTimeout, false, BreakerFailure, 0},
		{"bare deadline", context.DeadlineExceeded, KindTimeout, OutcomeTimeout, CodeUpstreamTimeout, false, BreakerFailure, 0},
		{"unavailable", Unavailable("a", "down", errors.New("exit 1")), KindUnavailable, OutcomeUnavailable, CodeUpstreamUnavailable, true, BreakerIgnore, 0},
		{"breaker open", BreakerOpen("a"), KindBreakerOpen, OutcomeUnavailable, CodeUpstreamUnavailable, false, BreakerIgnore, 0},
		{"busy", Busy("a", 4), KindBusy, OutcomeUnavailable, CodeUpstreamUnavailable, false, BreakerIgnore, 0},
		{"connection failed", Connection("a", "tools/call", errors.New("EOF"), false), KindConnection, OutcomeUnavailable, CodeUpstreamUnavailable, true, BreakerFailure, 0},
		{"connection failed, counted", Connection("a", "tools/call", errors.New("EOF"), true), KindConnection, OutcomeUnavailable, CodeUpstreamUnavailable, true, BreakerIgnore, 0},
		{"connection closed", fmt.Errorf("calling: %w", mcp.ErrConnectionClosed), KindConnection, OutcomeUnavailable, CodeUpstreamUnavailable, true, BreakerIgnore, 0},
		{"sdk client closing", &jsonrpc.Error{Code: codeSDKClientClosing, Message: "client is closing"}, KindConnection, OutcomeUnavailable, CodeUpstreamUnavailable, true, BreakerIgnore, 0},
		{"unknown error", errors.New("broken pipe"), KindConnection, OutcomeUnavailable, CodeUpstreamUnavailable, true, BreakerFailure, 0},
		{"cancelled", Cancelled(context.Canceled), KindCancelled, OutcomeCancelled, jsonrpc.CodeInternalError, false, BreakerIgnore, 0},
		{"bare cancel", fmt.Errorf("x: %w", context.Canceled), KindCancelled, OutcomeCancelled, jsonrpc.CodeInternalError, false, BreakerIgnore, 0},
		{"no client", NoClient("roots/list", "fs"), KindUndeliverable, OutcomeUndeliverable, jsonrpc.CodeInternalError, false, BreakerIgnore, 0},
		{"no call in flight", NoCallInFlight("roots/list", "fs", 2), KindUndeliverable, OutcomeUndeliverable, jsonrpc.CodeInternalError, false, BreakerIgnore, 0},
		{"ambiguous", Ambiguous("sampling/createMessage", "fs", 3), KindUndeliverable, OutcomeUndeliverable, jsonrpc.CodeInternalError, false, BreakerIgnore, 0},
		{"missing capability", MissingCapability("elicitation/create", "fs"), KindMissingCapability, OutcomeUndeliverable, jsonrpc.CodeInvalidRequest, false, BreakerIgnore, 0},
		{"needs login", NeedsLogin("notion", "mcp-gateway login notion", nil), KindNeedsLogin, OutcomeUnavailable, CodeUpstreamUnavailable, false, BreakerIgnore, 0},
		{"login error refused by the SDK's transport", fmt.Errorf("calling: %w: %w", &jsonrpc.Error{Code: -32005, Message: "rejected by transport"}, loginErr{}), KindNeedsLogin, OutcomeUnavailable, CodeUpstreamUnavailable, false, BreakerIgnore, 0},
		{"connection failed for want of a login", Connection("notion", "tools/call", fmt.Errorf("post: %w", loginErr{}), false), KindNeedsLogin, OutcomeUnavailable, CodeUpstreamUnavailable, false, BreakerIgnore, 0},
	}
	seen := map[Kind]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Classify(tc.err)
			assert.Equal(t, tc.kind, c.Kind, "kind")
			assert.Equal(t, tc.outcome, c.Outcome, "outcome")
			assert.Equal(t, tc.code, c.Code, "code")
			assert.Equal(t, tc.retry, c.Retry, "retry")
			assert.Equal(t, tc.breaker, c.Breaker, "breaker")
			assert.Equal(t, tc.status, c.HTTPStatus, "HTTP status")
			if tc.err != nil {
				assert.Equal(t, tc.code, Wire(tc.err).Code, "the code on the wire is the class's")
			}
		})
		seen[tc.kind] = true
	}
	for k := range classes {
		assert.True(t, seen[Kind(k)], "kind %d has no row in the table", k)
	}
}

// loginErr is an error of a package that knows only the method LoginCommand.
type loginErr struct{}

func (loginErr) Error() string        { return "needs a login (token-free text)" }
func (loginErr) LoginCommand() string { return "mcp-gateway login notion" }

func TestWireNeedsLogin(t *testing.T) {
	rejected := fmt.Errorf("calling: %w: %w", &jsonrpc.Error{Code: -32005, Message: "rejected by transport"}, loginErr{})
	assert.Equal(t, "upstream \"notion\" needs a login: run `mcp-gateway login notion`", WireFor("notion", rejected).Message)
	assert.Equal(t, "upstream \"notion\" needs a login: run `mcp-gateway login notion`", Wire(Connection("notion", "tools/call", rejected, false)).Message)
	assert.Equal(t, "the upstream needs a login: run `mcp-gateway login notion`", Wire(rejected).Message)
}

func TestWire(t *testing.T) {
	upstreamErr := &jsonrpc.Error{Code: -32099, Message: "custom", Data: []byte(`{"a":1}`)}
	tests := []struct {
		name string
		err  error
		want *jsonrpc.Error
	}{
		{"nil", nil, nil},
		{"upstream error passes through unchanged", fmt.Errorf("upstream: %w", upstreamErr), upstreamErr},
		{"rate limit carries the delay", RateLimited("local:local", 1500*time.Millisecond),
			&jsonrpc.Error{Code: CodeRateLimited, Message: `rate limit exceeded for "local:local": retry after 1.5s`, Data: []byte(`{"retry_after_ms":1500}`)}},
		{"resource not found as go-sdk answers it", ResourceNotFound("x://y"),
			&jsonrpc.Error{Code: mcp.CodeResourceNotFound, Message: "Resource not found", Data: []byte(`{"uri":"x://y"}`)}},
		{"connection error hides the cause", Connection("a", "tools/call", errors.New("exec /secret/path: no such file"), false),
			&jsonrpc.Error{Code: CodeUpstreamUnavailable, Message: `upstream "a": connection error`}},
		{"a bare error says nothing of its text", errors.New("dial tcp 10.0.0.1:443: token=abc"),
			&jsonrpc.Error{Code: CodeUpstreamUnavailable, Message: "upstream connection error"}},
		{"bare cancel", context.Canceled, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "request cancelled"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Wire(tc.err))
		})
	}
	assert.Equal(t, &jsonrpc.Error{Code: CodeUpstreamUnavailable, Message: `upstream "u": connection error`},
		WireFor("u", errors.New("EOF")), "WireFor names the upstream of a bare error")
}
