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
	switch {
	case errors.As(err, &unavail):
		return &jsonrpc.Error{Code: CodeUpstreamUnavailable, Message: unavail.Error()}
	case errors.As(err, &timeout):
		return &jsonrpc.Error{Code: CodeUpstreamTimeout, Message: timeout.Error()}
	case errors.Is(err, ErrUnknownTool):
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "request cancelled"}
	}
	return &jsonrpc.Error{Code: CodeUpstreamUnavailable, Message: fmt.Sprintf("upstream %q: connection error", upstreamName)}
}
