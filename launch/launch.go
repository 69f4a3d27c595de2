// Package launch starts what reaches an upstream MCP server: a child process
// speaking MCP over its stdin and stdout, supervised together with everything
// it starts (a process group on Unix, a Job Object on Windows), or an HTTP
// client for a streamable-HTTP or legacy SSE server. Each is an
// [mcp.Transport]; whoever connects through one needs to know nothing of
// processes, platforms or HTTP.
package launch

import (
	"context"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultMaxMessageBytes caps one JSON-RPC message read from an upstream.
const DefaultMaxMessageBytes = 16 << 20

// ErrMessageTooLarge ends a connection whose upstream sent a message over the cap.
var ErrMessageTooLarge = errors.New("upstream message exceeds the size cap")

// StaticTransport returns a function that always returns t, the shape of a
// function that makes an upstream's transport for each connection attempt.
// Every transport of this package may be reused: each Connect makes a new
// connection (a new process, or a new HTTP session).
func StaticTransport(t mcp.Transport) func(context.Context) (mcp.Transport, error) {
	return func(context.Context) (mcp.Transport, error) { return t, nil }
}
