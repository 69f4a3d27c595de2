package aggregator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/mcp-gateway/mcp-gateway/launch"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHTTPUpstreamResponseCap: an HTTP upstream answering with plain JSON
// (not an event stream) cannot make the gateway read more than the message
// cap: the call fails and the connection is re-made (as a stdio child over
// the cap is restarted); the upstream's other calls work again after that.
func TestHTTPUpstreamResponseCap(t *testing.T) {
	srv := newServer("big")
	srv.AddTool(&mcp.Tool{Name: "big", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", 64<<10)}}}, nil
	})
	srv.AddTool(echoTool("small"))
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{JSONResponse: true}))
	t.Cleanup(func() { // after the aggregator's cleanup: it runs later-registered first
		ts.Close()
		for ss := range srv.Sessions() { // the abandoned connection's session was never deleted
			ss.Close()
		}
	})
	spec := UpstreamSpec{Name: "big", Prefix: "big", Kind: "http",
		NewTransport: launch.StaticTransport(launch.NewHTTPTransport(ts.URL, launch.HTTPTransportOptions{MaxMessageBytes: 16 << 10}))}
	// The upstream is behind a real socket, so no synctest bubble: the
	// test waits on the aggregator's own up/down events instead.
	states := upstreamStates{NopObserver{}, make(chan bool, 16)}
	agg := startAggregator(t, []UpstreamSpec{spec}, &Options{Observer: states})
	states.expect(t, true, "the first connection")
	cs := connect(t, agg.Server(), nil)
	_, e := callErr(cs, "big__big")
	require.NotNil(t, e, "a 64 KiB answer over a 16 KiB cap")
	assert.Equal(t, int64(fault.CodeUpstreamUnavailable), e.Code)
	states.expect(t, false, "the connection ended")
	states.expect(t, true, "the connection made again")
	res, e := callErr(cs, "big__small")
	require.Nil(t, e)
	assert.Equal(t, "small:{}", textOf(t, res))
}

// upstreamStates is an Observer that passes on upstreams' up/down events.
type upstreamStates struct {
	NopObserver
	up chan bool
}

func (o upstreamStates) UpstreamState(_ string, up bool) { o.up <- up }

// expect waits for the next up/down event and checks that it is the one expected.
func (o upstreamStates) expect(t *testing.T, up bool, what string) {
	t.Helper()
	select {
	case got := <-o.up:
		require.Equal(t, up, got, what)
	case <-time.After(10 * time.Second):
		t.Fatalf("no event within 10s: %s", what)
	}
}
