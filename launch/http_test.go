package launch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
)

// httpUpstream serves an MCP server over streamable HTTP with the tools
// "big" (a 64 KiB answer) and "echo" (which records the request headers it
// arrived with).
type httpUpstream struct {
	url string

	mu      sync.Mutex
	headers []http.Header
}

func newHTTPUpstream(t *testing.T, opts *mcp.StreamableHTTPOptions) *httpUpstream {
	u := &httpUpstream{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "web", Version: "test"}, nil)
	srv.AddTool(&mcp.Tool{Name: "big", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", 64<<10)}}}, nil
	})
	srv.AddTool(&mcp.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		u.mu.Lock()
		u.headers = append(u.headers, req.Extra.Header.Clone())
		u.mu.Unlock()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echoed"}}}, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, opts))
	t.Cleanup(func() {
		ts.Close()
		for ss := range srv.Sessions() { // a failed connection's session is never deleted
			ss.Close()
		}
	})
	u.url = ts.URL
	return u
}

func (u *httpUpstream) lastHeader() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.headers) == 0 {
		return nil
	}
	return u.headers[len(u.headers)-1]
}

// connectClient connects an MCP client through tr and closes it when the
// test ends.
func connectClient(t *testing.T, ctx context.Context, tr mcp.Transport) *mcp.ClientSession {
	t.Helper()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "test"}, nil).Connect(ctx, tr, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	return cs
}

func call(ctx context.Context, cs *mcp.ClientSession, tool string) (*mcp.CallToolResult, error) {
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}})
}

// TestHTTPResponseCap: an answer over the message cap fails the call and the
// connection, whether it comes as plain JSON (cappedBody) or as an event
// stream (the SDK's MaxEventSize); a new connection through the same
// transport works. Under the cap, calls are answered.
func TestHTTPResponseCap(t *testing.T) {
	for _, tc := range []struct {
		name string
		json bool
	}{{"json", true}, {"event stream", false}} {
		t.Run(tc.name, func(t *testing.T) {
			up := newHTTPUpstream(t, &mcp.StreamableHTTPOptions{JSONResponse: tc.json})
			ctx := context.Background()

			tr := NewHTTPTransport(up.url, HTTPTransportOptions{MaxMessageBytes: 16 << 10})
			cs := connectClient(t, ctx, tr)
			_, err := call(ctx, cs, "big")
			require.Error(t, err, "a 64 KiB answer over a 16 KiB cap")
			if tc.json {
				assert.ErrorContains(t, err, ErrMessageTooLarge.Error())
			}
			res, err := call(ctx, connectClient(t, ctx, tr), "echo")
			require.NoError(t, err, "a new connection")
			assert.Equal(t, "echoed", res.Content[0].(*mcp.TextContent).Text)

			roomy := connectClient(t, ctx, NewHTTPTransport(up.url, HTTPTransportOptions{MaxMessageBytes: 128 << 10}))
			res, err = call(ctx, roomy, "big")
			require.NoError(t, err, "under the cap")
			assert.Len(t, res.Content[0].(*mcp.TextContent).Text, 64<<10)
		})
	}
}

// TestHTTPHeaders: the configured headers go with every request, and the
// span in the call's context becomes the traceparent header, over a
// configured header of that name.
func TestHTTPHeaders(t *testing.T) {
	up := newHTTPUpstream(t, nil)
	tr := NewHTTPTransport(up.url, HTTPTransportOptions{Headers: map[string]string{
		"X-Upstream-Key": "k",
		"Traceparent":    "00-11111111111111111111111111111111-2222222222222222-01",
	}})
	cs := connectClient(t, context.Background(), tr)

	_, err := call(context.Background(), cs, "echo")
	require.NoError(t, err)
	h := up.lastHeader()
	assert.Equal(t, "k", h.Get("X-Upstream-Key"))
	assert.Equal(t, "00-11111111111111111111111111111111-2222222222222222-01", h.Get("Traceparent"), "untraced: the configured value")

	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	_, err = call(trace.ContextWithSpanContext(context.Background(), sc), cs, "echo")
	require.NoError(t, err)
	h = up.lastHeader()
	assert.Equal(t, "k", h.Get("X-Upstream-Key"))
	assert.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", h.Get("Traceparent"), "traced: the call's span")
}

// TestHTTPNoRedirects: a redirect from the upstream's address is an error,
// never a request to the address it names.
func TestHTTPNoRedirects(t *testing.T) {
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "not here", http.StatusTeapot)
	}))
	defer elsewhere.Close()
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()

	_, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "test"}, nil).
		Connect(context.Background(), NewHTTPTransport(redirect.URL, HTTPTransportOptions{}), nil)
	require.Error(t, err)
	assert.Zero(t, hits.Load(), "the redirect was followed")
}

// TestCappedBody: a body of exactly the cap is read whole; one byte more is
// ErrMessageTooLarge.
func TestCappedBody(t *testing.T) {
	for _, tc := range []struct {
		size, limit int
		wantErr     error
	}{
		{0, 10, nil},
		{9, 10, nil},
		{10, 10, nil},
		{11, 10, ErrMessageTooLarge},
		{1 << 20, 10, ErrMessageTooLarge},
	} {
		body := &cappedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("a", tc.size))), left: int64(tc.limit)}
		got, err := io.ReadAll(body)
		if tc.wantErr != nil {
			assert.True(t, errors.Is(err, tc.wantErr), "%d bytes, cap %d: %v", tc.size, tc.limit, err)
			assert.LessOrEqual(t, len(got), tc.limit+1, "read on past the cap")
			continue
		}
		assert.NoError(t, err, "%d bytes, cap %d", tc.size, tc.limit)
		assert.Len(t, got, tc.size)
	}
}
