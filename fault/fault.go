// Package fault is the gateway's one classification of errors.
//
// Every error the gateway produces or meets while serving a request is
// classified once by [Classify]. The [Class] decides everything that depends
// on what went wrong: the outcome label in metrics, audit lines and spans;
// the JSON-RPC code a client (or, for a refused server-to-client request, an
// upstream) receives; the HTTP status where the front door answers at the
// HTTP level; whether a safe request may be retried; and what the upstream's
// circuit breaker makes of it. [Wire] is the only place the gateway's own
// errors become JSON-RPC errors.
//
// Messages of the errors built here are what clients see: they may name an
// upstream, a tool or an identity, never a command line, a path or a secret.
package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// JSON-RPC error codes the gateway itself produces, in the range JSON-RPC
// reserves for implementation-defined server errors. -32000 and -32001 match
// the TypeScript SDK's ConnectionClosed and RequestTimeout, so clients that
// understand those read ours the same way. -32010 avoids -32003..-32005,
// which go-sdk's jsonrpc2 uses (a client reads -32003 as "client is closing").
const (
	CodeUpstreamUnavailable = -32000
	CodeUpstreamTimeout     = -32001
	CodeForbidden           = -32010
	CodeRateLimited         = -32029
)

// Codes go-sdk's jsonrpc2 uses for its own connection state ("client is
// closing", "server is closing"): when a call gets one of them, the upstream
// did not answer; the connection went away under it.
const (
	codeSDKClientClosing = -32003
	codeSDKServerClosing = -32004
)

// Outcomes of a request, for metrics, audit lines and spans.
const (
	OutcomeOK            = "ok"
	OutcomeError         = "error" // the upstream answered with an error or an isError result; or the request was invalid
	OutcomeDenied        = "denied"
	OutcomeRateLimited   = "rate_limited"
	OutcomeUnavailable   = "unavailable"
	OutcomeTimeout       = "timeout"
	OutcomeCancelled     = "cancelled"     // the caller cancelled or went away
	OutcomeUndeliverable = "undeliverable" // a server-to-client request no client could take
)

// Kind is what went wrong.
type Kind uint8

// Kinds of error.
const (
	// KindOK is no error.
	KindOK Kind = iota
	// KindUpstreamAnswer is a JSON-RPC error the upstream chose to send. It
	// reaches the client with its code, message and data intact.
	KindUpstreamAnswer
	// KindDenied is a request the caller's identity may not make.
	KindDenied
	// KindRateLimited is a request refused by the caller's rate limit.
	KindRateLimited
	// KindInvalidParams is a request the gateway cannot route: an unknown
	// tool or prompt, a bad cursor, a missing reference.
	KindInvalidParams
	// KindNotFound is a resource no upstream serves.
	KindNotFound
	// KindTimeout is an upstream that did not answer within the call's
	// timeout.
	KindTimeout
	// KindUnavailable is an upstream that is not connected.
	KindUnavailable
	// KindBreakerOpen is an upstream whose circuit breaker is open.
	KindBreakerOpen
	// KindBusy is an upstream at its concurrency cap for the call's whole
	// timeout.
	KindBusy
	// KindConnection is a request that got no answer because the connection
	// to the upstream failed.
	KindConnection
	// KindCancelled is a request its caller cancelled or abandoned.
	KindCancelled
	// KindUndeliverable is a server-to-client request (sampling,
	// elicitation, roots) the gateway refused to deliver.
	KindUndeliverable
	// KindMissingCapability is a server-to-client request whose client did
	// not declare the capability.
	KindMissingCapability
	// KindNeedsLogin is an upstream that takes OAuth tokens and has none it
	// accepts: a user must run the login command first. Retrying does not
	// help, and it is not the upstream's failure.
	KindNeedsLogin
)

// BreakerEffect is what a circuit breaker makes of an attempt's error.
type BreakerEffect uint8

// Breaker effects.
const (
	// BreakerSuccess counts as a success: the upstream answered.
	BreakerSuccess BreakerEffect = iota
	// BreakerFailure counts as the upstream's failure.
	BreakerFailure
	// BreakerIgnore is not counted: not the upstream's doing (the caller's
	// cancellation, a policy refusal), or already counted (a connection
	// that failed once for every call it took with it).
	BreakerIgnore
)

// Class is everything that follows from an error's kind.
type Class struct {
	Kind    Kind
	Outcome string
	// Code is the JSON-RPC error code sent for it. For KindUpstreamAnswer it
	// is the upstream's own code.
	Code int64
	// HTTPStatus is the status the HTTP front door answers with when it
	// refuses a request itself, before any MCP message is served; zero where
	// the error travels as a JSON-RPC error instead.
	HTTPStatus int
	// Retry reports whether a safe (idempotent) request that failed this way
	// may be sent again: only when it never got an answer.
	Retry bool
	// Breaker is what the upstream's circuit breaker makes of it.
	Breaker BreakerEffect
}

// classes are the answers for each kind; Code is filled per error for
// KindUpstreamAnswer.
var classes = [...]Class{
	KindOK:                {Outcome: OutcomeOK, Breaker: BreakerSuccess},
	KindUpstreamAnswer:    {Outcome: OutcomeError, Breaker: BreakerSuccess},
	KindDenied:            {Outcome: OutcomeDenied, Code: CodeForbidden, Breaker: BreakerIgnore},
	KindRateLimited:       {Outcome: OutcomeRateLimited, Code: CodeRateLimited, HTTPStatus: http.StatusTooManyRequests, Breaker: BreakerIgnore},
	KindInvalidParams:     {Outcome: OutcomeError, Code: jsonrpc.CodeInvalidParams, Breaker: BreakerIgnore},
	KindNotFound:          {Outcome: OutcomeError, Code: jsonrpc.CodeInvalidParams, Breaker: BreakerIgnore}, // mcp.CodeResourceNotFound, read when classified
	KindTimeout:           {Outcome: OutcomeTimeout, Code: CodeUpstreamTimeout, Breaker: BreakerFailure},
	KindUnavailable:       {Outcome: OutcomeUnavailable, Code: CodeUpstreamUnavailable, Retry: true, Breaker: BreakerIgnore},
	KindBreakerOpen:       {Outcome: OutcomeUnavailable, Code: CodeUpstreamUnavailable, Breaker: BreakerIgnore},
	KindBusy:              {Outcome: OutcomeUnavailable, Code: CodeUpstreamUnavailable, Breaker: BreakerIgnore},
	KindConnection:        {Outcome: OutcomeUnavailable, Code: CodeUpstreamUnavailable, Retry: true, Breaker: BreakerFailure},
	KindCancelled:         {Outcome: OutcomeCancelled, Code: jsonrpc.CodeInternalError, Breaker: BreakerIgnore},
	KindUndeliverable:     {Outcome: OutcomeUndeliverable, Code: jsonrpc.CodeInternalError, Breaker: BreakerIgnore},
	KindMissingCapability: {Outcome: OutcomeUndeliverable, Code: jsonrpc.CodeInvalidRequest, Breaker: BreakerIgnore},
	KindNeedsLogin:        {Outcome: OutcomeUnavailable, Code: CodeUpstreamUnavailable, Breaker: BreakerIgnore},
}

// Error is an error the gateway produces. Its message is what a client sees.
type Error struct {
	Kind Kind
	// Upstream is the upstream the error concerns, if any.
	Upstream string
	// Msg is the message sent to the client.
	Msg string
	// RetryAfter is how long a rate-limited caller should wait.
	RetryAfter time.Duration
	// Data is sent as the JSON-RPC error's data.
	Data json.RawMessage
	// Counted marks a connection failure the breaker already counted for
	// another call on the same connection.
	Counted bool
	// Cause is the underlying error, for logs and errors.Is; never sent.
	Cause error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Cause }

// Constructors for each kind the gateway produces.

// Denied is a request the identity may not make; what names it ("tool
// \"x\"", "prompts/get on upstream \"y\"").
func Denied(identity, what string) *Error {
	return &Error{Kind: KindDenied, Msg: fmt.Sprintf("%s is not allowed for identity %q", what, identity)}
}

// RateLimited is a request over the identity's rate limit.
func RateLimited(identity string, retryAfter time.Duration) *Error {
	return &Error{Kind: KindRateLimited, RetryAfter: retryAfter,
		Msg: fmt.Sprintf("rate limit exceeded for %q: retry after %s", identity, retryAfter.Round(time.Millisecond))}
}

// ErrUnknownTool is the cause of a call to a tool not in the caller's
// catalog; test with errors.Is.
var ErrUnknownTool = errors.New("unknown tool")

// UnknownTool is a call to a tool the caller's catalog does not have.
func UnknownTool(name string) *Error {
	return &Error{Kind: KindInvalidParams, Msg: fmt.Sprintf("unknown tool %q", name), Cause: ErrUnknownTool}
}

// InvalidParams is a request the gateway cannot route for the reason given.
func InvalidParams(msg string) *Error { return &Error{Kind: KindInvalidParams, Msg: msg} }

// ResourceNotFound is a resource URI no upstream serves, answered as go-sdk
// answers it: "Resource not found" with the URI as data.
func ResourceNotFound(uri string) *Error {
	data, _ := json.Marshal(map[string]string{"uri": uri}) // a map of strings marshals
	return &Error{Kind: KindNotFound, Msg: "Resource not found", Data: data}
}

// Timeout is a request the upstream did not answer within after.
func Timeout(upstream, method string, after time.Duration) *Error {
	return &Error{Kind: KindTimeout, Upstream: upstream, Cause: context.DeadlineExceeded,
		Msg: fmt.Sprintf("upstream %q did not answer %s within %s", upstream, method, after)}
}

// Unavailable is a request to an upstream that is not connected; state is
// its state ("connecting", "down"), lastErr what last went wrong (kept as the
// cause, for logs and /upstreams only).
func Unavailable(upstream, state string, lastErr error) *Error {
	return &Error{Kind: KindUnavailable, Upstream: upstream, Cause: lastErr,
		Msg: fmt.Sprintf("upstream %q is unavailable (%s)", upstream, state)}
}

// BreakerOpen is a request refused while the upstream's breaker is open.
func BreakerOpen(upstream string) *Error {
	return &Error{Kind: KindBreakerOpen, Upstream: upstream,
		Msg: fmt.Sprintf("upstream %q is failing: circuit breaker open, calls fail fast until it recovers", upstream)}
}

// Busy is a request that waited its whole timeout for a slot under the
// upstream's concurrency cap.
func Busy(upstream string, limit int) *Error {
	return &Error{Kind: KindBusy, Upstream: upstream,
		Msg: fmt.Sprintf("upstream %q is at its limit of %d concurrent calls", upstream, limit)}
}

// Connection is a request that got no answer because the connection to the
// upstream failed; counted says the breaker already counted this connection's
// failure. The cause is kept for logs; the client sees only that the
// connection failed.
func Connection(upstream, method string, cause error, counted bool) *Error {
	if cmd, ok := LoginCommand(cause); ok {
		return NeedsLogin(upstream, cmd, cause)
	}
	return &Error{Kind: KindConnection, Upstream: upstream, Cause: cause, Counted: counted,
		Msg: fmt.Sprintf("upstream %q: connection error", upstream)}
}

// NeedsLogin is a request to an upstream that needs a user to log in to it;
// command is what to run, and the message names it.
func NeedsLogin(upstream, command string, cause error) *Error {
	msg := fmt.Sprintf("upstream %q needs a login: run `%s`", upstream, command)
	if upstream == "" {
		msg = fmt.Sprintf("the upstream needs a login: run `%s`", command)
	}
	return &Error{Kind: KindNeedsLogin, Upstream: upstream, Cause: cause, Msg: msg}
}

// LoginCommand reports whether err (or an error it wraps) says its upstream
// needs a login, and the command that does it. Such errors have a method
// LoginCommand() string; the package that makes them needs no import of this one.
func LoginCommand(err error) (string, bool) {
	var ln interface{ LoginCommand() string }
	if err == nil || !errors.As(err, &ln) {
		return "", false
	}
	return ln.LoginCommand(), true
}

// LoginBlocksUpstream reports whether err says its upstream needs a login
// before any request to it can succeed. A request refused only for want of
// more scope (a step-up, whose error has a method StepUp() bool returning
// true) does not block the others.
func LoginBlocksUpstream(err error) bool {
	if _, ok := LoginCommand(err); !ok {
		return false
	}
	var su interface{ StepUp() bool }
	return !errors.As(err, &su) || !su.StepUp()
}

// Cancelled is a request its caller cancelled or abandoned.
func Cancelled(cause error) *Error {
	return &Error{Kind: KindCancelled, Msg: "request cancelled", Cause: cause}
}

// NoClient refuses a server-to-client request when no client is connected
// that could answer it.
func NoClient(method, upstream string) *Error {
	return &Error{Kind: KindUndeliverable, Upstream: upstream, Msg: fmt.Sprintf(
		"mcp-gateway: cannot deliver %s from upstream %q: no client is connected", method, upstream)}
}

// NoCallInFlight refuses a server-to-client request on a shared connection
// when several clients are connected and none has a call in flight on it.
func NoCallInFlight(method, upstream string, clients int) *Error {
	return &Error{Kind: KindUndeliverable, Upstream: upstream, Msg: fmt.Sprintf(
		"mcp-gateway: cannot deliver %s from upstream %q: %d clients are connected and none has a request in flight on its shared connection; set \"isolation\": \"session\" for this upstream",
		method, upstream, clients)}
}

// Ambiguous refuses a server-to-client request on a shared connection when
// calls of several clients are in flight on it, so the one that caused it is
// unknown.
func Ambiguous(method, upstream string, clients int) *Error {
	return &Error{Kind: KindUndeliverable, Upstream: upstream, Msg: fmt.Sprintf(
		"mcp-gateway: cannot deliver %s from upstream %q: requests of %d clients are in flight on its shared connection, so the one that caused it is unknown; set \"isolation\": \"session\" for this upstream",
		method, upstream, clients)}
}

// MissingCapability refuses a server-to-client request whose client did not
// declare the capability for it. (Not -32601: the SDK replaces that code's
// message with its own, and this one says why.)
func MissingCapability(method, upstream string) *Error {
	return &Error{Kind: KindMissingCapability, Upstream: upstream,
		Msg: fmt.Sprintf("mcp-gateway: the client did not declare the capability for %s", method)}
}

// Classify returns the class of err.
func Classify(err error) Class {
	if err == nil {
		return classes[KindOK]
	}
	var fe *Error
	if errors.As(err, &fe) {
		c := classes[fe.Kind]
		c.Kind = fe.Kind
		switch {
		case fe.Kind == KindConnection && fe.Counted:
			c.Breaker = BreakerIgnore
		case fe.Kind == KindNotFound:
			c.Code = mcp.CodeResourceNotFound
		}
		return c
	}
	// Before the JSON-RPC check: the SDK wraps a request its transport
	// refused in a JSON-RPC error ("rejected by transport") along with the cause.
	if _, ok := LoginCommand(err); ok {
		c := classes[KindNeedsLogin]
		c.Kind = KindNeedsLogin
		return c
	}
	var rpc *jsonrpc.Error
	if errors.As(err, &rpc) {
		if rpc.Code == codeSDKClientClosing || rpc.Code == codeSDKServerClosing {
			return connectionClosed()
		}
		c := classes[KindUpstreamAnswer]
		c.Kind, c.Code = KindUpstreamAnswer, rpc.Code
		return c
	}
	switch {
	case errors.Is(err, context.Canceled):
		c := classes[KindCancelled]
		c.Kind = KindCancelled
		return c
	case errors.Is(err, context.DeadlineExceeded):
		c := classes[KindTimeout]
		c.Kind = KindTimeout
		return c
	case errors.Is(err, mcp.ErrConnectionClosed):
		return connectionClosed()
	}
	c := classes[KindConnection]
	c.Kind = KindConnection
	return c
}

// connectionClosed is the class of a call whose connection closed under it:
// the connection's end is counted once by whoever ran it, not per call.
func connectionClosed() Class {
	c := classes[KindConnection]
	c.Kind, c.Breaker = KindConnection, BreakerIgnore
	return c
}

// Wire returns the JSON-RPC error a peer receives for err, or nil for nil:
// an upstream's own JSON-RPC error unchanged (code, message and data), the
// gateway's errors with their class's code and their message (a rate limit
// with {"retry_after_ms": N} as data), and anything else as a connection
// error that names the upstream, if known, and nothing more.
func Wire(err error) *jsonrpc.Error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		we := &jsonrpc.Error{Code: Classify(fe).Code, Message: fe.Msg, Data: fe.Data}
		if fe.Kind == KindRateLimited {
			we.Data, _ = json.Marshal(map[string]int64{"retry_after_ms": fe.RetryAfter.Milliseconds()}) // a map of ints marshals
		}
		return we
	}
	if cmd, ok := LoginCommand(err); ok {
		return Wire(NeedsLogin("", cmd, err))
	}
	var rpc *jsonrpc.Error
	if errors.As(err, &rpc) && Classify(rpc).Kind == KindUpstreamAnswer {
		return rpc
	}
	c := Classify(err)
	switch c.Kind {
	case KindCancelled:
		return &jsonrpc.Error{Code: c.Code, Message: "request cancelled"}
	case KindTimeout:
		return &jsonrpc.Error{Code: c.Code, Message: "request timed out"}
	}
	return &jsonrpc.Error{Code: c.Code, Message: "upstream connection error"}
}

// WireFor is Wire for an error met while forwarding to upstream: a bare
// error that is not the gateway's or the upstream's names the upstream.
func WireFor(upstream string, err error) *jsonrpc.Error {
	var fe *Error
	var rpc *jsonrpc.Error
	if err == nil || errors.As(err, &fe) {
		return Wire(err)
	}
	if cmd, ok := LoginCommand(err); ok {
		return Wire(NeedsLogin(upstream, cmd, err))
	}
	if errors.As(err, &rpc) {
		return Wire(err)
	}
	return Wire(Connection(upstream, "", err, false))
}
