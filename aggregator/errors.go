package aggregator

import (
	"context"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// JSON-RPC error codes the gateway itself produces, in the range the JSON-RPC
// spec reserves for implementation-defined server errors. They match the
// TypeScript SDK's ConnectionClosed and RequestTimeout codes, so clients that
// already understand those read ours the same way.
const (
	CodeUpstreamUnavailable = -32000
	CodeUpstreamTimeout     = -32001
)

// ErrUnknownTool is returned for a tools/call whose name is not in the
// caller's catalog.
var ErrUnknownTool = errors.New("unknown tool")

// CodeForbidden is the JSON-RPC error code of a request the caller's
// identity may not make. (Not -32003..-32005: the SDK's jsonrpc2 reserves
// those, and a client reads -32003 as "client is closing".)
const CodeForbidden = -32010

// DeniedError reports a request the caller's policy does not allow.
type DeniedError struct {
	Identity string
	What     string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%s is not allowed for identity %q", e.What, e.Identity)
}

// outcomeOf classifies an error for metrics and audit.
func outcomeOf(err error) string {
	var denied *DeniedError
	var unavail *UnavailableError
	var open *BreakerOpenError
	var busy *ConcurrencyError
	var timeout *TimeoutError
	var limited *RateLimitedError
	switch {
	case err == nil:
		return OutcomeOK
	case errors.As(err, &denied):
		return OutcomeDenied
	case errors.As(err, &limited):
		return OutcomeRateLimited
	case errors.As(err, &timeout):
		return OutcomeTimeout
	case errors.As(err, &unavail), errors.As(err, &open), errors.As(err, &busy):
		return OutcomeUnavailable
	case isUpstreamAnswer(err), errors.Is(err, ErrUnknownTool):
		return OutcomeError
	}
	return OutcomeUnavailable
}

// UnavailableError reports a call to an upstream that is not connected.
type UnavailableError struct {
	Upstream  string
	State     State
	LastError string // for logs and /upstreams only; never sent to clients
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("upstream %q is unavailable (%s)", e.Upstream, e.State)
}

// TimeoutError reports a forwarded request that got no answer in time.
type TimeoutError struct {
	Upstream string
	Method   string
	After    string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("upstream %q did not answer %s within %s", e.Upstream, e.Method, e.After)
}

// toWireError maps an error from forwarding a request to what the downstream
// client receives. It is the only place that decides error codes:
//   - an upstream's own JSON-RPC error passes through with its code, message
//     and data intact (no wrapping);
//   - the gateway's errors get the codes above with a message that names the
//     upstream but carries no command lines, paths or secrets.
func toWireError(upstreamName string, err error) error {
	if err == nil {
		return nil
	}
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) {
		return rpcErr
	}
	var unavail *UnavailableError
	var timeout *TimeoutError
	var open *BreakerOpenError
	var busy *ConcurrencyError
	var denied *DeniedError
	switch {
	case errors.As(err, &denied):
		return &jsonrpc.Error{Code: CodeForbidden, Message: denied.Error()}
	case errors.As(err, &unavail):
		return &jsonrpc.Error{Code: CodeUpstreamUnavailable, Message: unavail.Error()}
	case errors.As(err, &open):
		return &jsonrpc.Error{Code: CodeUpstreamUnavailable, Message: open.Error()}
	case errors.As(err, &busy):
		return &jsonrpc.Error{Code: CodeUpstreamUnavailable, Message: busy.Error()}
	case errors.As(err, &timeout):
		return &jsonrpc.Error{Code: CodeUpstreamTimeout, Message: timeout.Error()}
	case errors.Is(err, ErrUnknownTool):
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, errCallerGone):
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "request cancelled"}
	}
	return &jsonrpc.Error{Code: CodeUpstreamUnavailable, Message: fmt.Sprintf("upstream %q: connection error", upstreamName)}
}
