package transport

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/mcp-gateway/mcp-gateway/ratelimit"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveStdio runs ServeStdio on pipes and connects a client to it; the
// server stops when the test ends.
func serveStdio(t *testing.T, srv *mcp.Server, o *StdioOptions) *mcp.ClientSession {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- ServeStdio(context.Background(), srv, inR, outW, o); outW.Close() }()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "stdio-test", Version: "test"}, nil).
		Connect(context.Background(), &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		cs.Close()
		inW.Close()
		assert.NoError(t, <-done)
	})
	return cs
}

func stdioCall(cs *mcp.ClientSession) *jsonrpc.Error {
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}})
	var e *jsonrpc.Error
	if errors.As(err, &e) {
		return e
	}
	if err != nil {
		return &jsonrpc.Error{Message: err.Error()}
	}
	return nil
}

// TestRateLimitOverStdio: the stdio front door applies the identity's rate
// limit with the same gate as HTTP, answering with fault's JSON-RPC error;
// the refused request never reaches the server.
func TestRateLimitOverStdio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		local := policy.New(policy.Identity{Kind: policy.KindLocal, Owner: "local", Upstreams: []string{policy.AllUpstreams},
			Scopes: []string{policy.ScopeRead, policy.ScopeWrite}, Limit: policy.Limit{RPM: 60, Burst: 1}})
		var refused []string
		lim := ratelimit.New(0)
		cs := serveStdio(t, newToolServer(&calls), &StdioOptions{Identity: local, Allow: lim.Allow,
			OnRateLimited: func(name string) { refused = append(refused, name) }})
		require.Nil(t, stdioCall(cs))
		e := stdioCall(cs)
		require.NotNil(t, e)
		assert.Equal(t, int64(fault.CodeRateLimited), e.Code)
		assert.Contains(t, e.Message, `rate limit exceeded for "local:local": retry after 1s`)
		assert.JSONEq(t, `{"retry_after_ms":1000}`, string(e.Data))
		assert.Equal(t, int64(1), calls.Load(), "the refused call never reached the server")
		assert.Equal(t, []string{"local:local"}, refused)
		require.NoError(t, cs.Ping(context.Background(), nil), "ping is not limited")
		time.Sleep(time.Second)
		assert.Nil(t, stdioCall(cs))
		assert.Equal(t, int64(2), calls.Load())
	})
}

// TestStdioUnlimited: an unlimited identity (the default local one) passes
// every request.
func TestStdioUnlimited(t *testing.T) {
	var calls atomic.Int64
	lim := ratelimit.New(0)
	cs := serveStdio(t, newToolServer(&calls), &StdioOptions{Identity: policy.Local(), Allow: lim.Allow})
	for range 50 {
		require.Nil(t, stdioCall(cs))
	}
	assert.Equal(t, 0, lim.Len(), "an unlimited identity takes no bucket")
}
