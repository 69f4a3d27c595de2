package aggregator

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/mcp-gateway/mcp-gateway/launch"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// seen records the trace context an upstream tool handler received.
type seen struct {
	mu     sync.Mutex
	meta   []string // _meta.traceparent of each call
	header []string // the traceparent header of each call (HTTP upstreams)
	state  []string // _meta.tracestate of each call
}

func (s *seen) record(req *mcp.CallToolRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp, _ := req.Params.Meta["traceparent"].(string)
	ts, _ := req.Params.Meta["tracestate"].(string)
	s.meta = append(s.meta, tp)
	s.state = append(s.state, ts)
	h := ""
	if req.Extra != nil && req.Extra.Header != nil {
		h = req.Extra.Header.Get("traceparent")
	}
	s.header = append(s.header, h)
}

func (s *seen) last() (meta, header, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.meta) == 0 {
		return "", "", ""
	}
	n := len(s.meta) - 1
	return s.meta[n], s.header[n], s.state[n]
}

// tracedServer is an upstream with "echo" (records the trace context it got)
// and "fail" (an isError result).
func tracedServer(name string, s *seen) *mcp.Server {
	srv := newServer(name)
	srv.AddTool(&mcp.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			s.record(req)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
		})
	srv.AddTool(&mcp.Tool{Name: "fail", InputSchema: map[string]any{"type": "object"}},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no"}}}, nil
		})
	return srv
}

// newTestTracing returns a tracer provider exporting synchronously to an
// in-memory exporter.
func newTestTracing(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	return tp, exp
}

// spanNamed returns the one span with the name.
func spanNamed(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	require.Len(t, found, 1, "spans named %q among %q", name, names)
	return found[0]
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// traceparent formats a span context as a W3C traceparent value.
func traceparent(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

func TestTraceToolCallSpanTree(t *testing.T) {
	tp, exp := newTestTracing(t)
	var got seen
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", tracedServer("up", &got))}, &Options{TracerProvider: tp})
	cs := connect(t, agg.Server(), nil)
	ctx := context.Background()

	t.Run("root", func(t *testing.T) {
		exp.Reset()
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__echo", Arguments: map[string]any{"x": 1}})
		require.NoError(t, err)
		spans := exp.GetSpans()
		down := spanNamed(t, spans, "mcp tools/call up__echo")
		policy := spanNamed(t, spans, "policy")
		up := spanNamed(t, spans, "mcp tools/call up")

		// downstream → policy, downstream → upstream call, one trace.
		assert.Equal(t, trace.SpanKindServer, down.SpanKind)
		assert.False(t, down.Parent.IsValid(), "no client context: the downstream span is a root")
		assert.Equal(t, down.SpanContext.SpanID(), policy.Parent.SpanID())
		assert.Equal(t, down.SpanContext.SpanID(), up.Parent.SpanID())
		for _, s := range []tracetest.SpanStub{policy, up} {
			assert.Equal(t, down.SpanContext.TraceID(), s.SpanContext.TraceID(), s.Name)
		}
		assert.False(t, policy.StartTime.Before(down.StartTime))
		assert.False(t, policy.EndTime.After(up.StartTime), "the decision is made before the call")
		assert.False(t, up.EndTime.After(down.EndTime))

		a := attrs(down)
		assert.Equal(t, "tools/call", a[AttrMethod].AsString())
		assert.Equal(t, "up__echo", a[AttrTool].AsString())
		assert.Equal(t, "up", a[AttrUpstream].AsString())
		a = attrs(policy)
		assert.Equal(t, "allow", a[AttrDecision].AsString())
		assert.Equal(t, "local:local", a[AttrIdentity].AsString(), "the default local identity")
		assert.Equal(t, trace.SpanKindClient, up.SpanKind)
		a = attrs(up)
		assert.Equal(t, "tools/call", a[AttrMethod].AsString())
		assert.Equal(t, "up", a[AttrUpstream].AsString())
		assert.Equal(t, "echo", a[AttrTool].AsString(), "the upstream's own name")
		assert.NotContains(t, a, AttrJSONRPCError)
		assert.Equal(t, codes.Unset, up.Status.Code)

		// The upstream got the upstream call's span as its parent.
		meta, _, _ := got.last()
		assert.Equal(t, traceparent(up.SpanContext), meta)
	})

	t.Run("client context in _meta", func(t *testing.T) {
		exp.Reset()
		client := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__echo", Meta: mcp.Meta{"traceparent": client, "tracestate": "rojo=00f067aa0ba902b7"}})
		require.NoError(t, err)
		spans := exp.GetSpans()
		down := spanNamed(t, spans, "mcp tools/call up__echo")
		up := spanNamed(t, spans, "mcp tools/call up")
		assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", down.SpanContext.TraceID().String())
		assert.Equal(t, "00f067aa0ba902b7", down.Parent.SpanID().String(), "the client's span is the parent")
		assert.True(t, down.Parent.IsRemote())
		meta, _, state := got.last()
		assert.Equal(t, traceparent(up.SpanContext), meta, "the gateway's span replaces the client's in what the upstream sees")
		assert.Equal(t, "rojo=00f067aa0ba902b7", state, "tracestate travels on")
	})

	t.Run("isError result", func(t *testing.T) {
		exp.Reset()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__fail"})
		require.NoError(t, err)
		require.True(t, res.IsError)
		spans := exp.GetSpans()
		assert.Equal(t, "tool_error", attrs(spanNamed(t, spans, "mcp tools/call up"))[AttrErrorType].AsString())
		assert.Equal(t, "tool_error", attrs(spanNamed(t, spans, "mcp tools/call up__fail"))[AttrErrorType].AsString())
	})

	t.Run("unknown tool", func(t *testing.T) {
		exp.Reset()
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__nope"})
		require.Error(t, err)
		spans := exp.GetSpans()
		down := spanNamed(t, spans, "mcp tools/call")
		assert.Equal(t, codes.Error, down.Status.Code)
		assert.Equal(t, int64(jsonrpc.CodeInvalidParams), attrs(down)[AttrJSONRPCError].AsInt64())
		policy := spanNamed(t, spans, "policy")
		assert.Equal(t, "unknown_tool", attrs(policy)[AttrDecision].AsString())
		for _, s := range spans {
			assert.NotEqual(t, trace.SpanKindClient, s.SpanKind, "no upstream call: %s", s.Name)
		}
	})

	t.Run("other requests", func(t *testing.T) {
		exp.Reset()
		_, err := cs.ListTools(ctx, nil)
		require.NoError(t, err)
		s := spanNamed(t, exp.GetSpans(), "mcp tools/list")
		assert.Equal(t, "tools/list", attrs(s)[AttrMethod].AsString())
	})
}

func TestTraceDenied(t *testing.T) {
	tp, exp := newTestTracing(t)
	var got seen
	reader := &policy.Identity{Name: "reader", Kind: policy.KindAPIKey, Upstreams: []string{"*"}, Scopes: []string{policy.ScopeRead}, Limit: policy.Limit{RPM: policy.Unlimited}}
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", tracedServer("up", &got))}, &Options{TracerProvider: tp, Local: reader})
	cs := connect(t, agg.Server(), nil)
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "up__echo"})
	require.Error(t, err)
	spans := exp.GetSpans()
	policy := spanNamed(t, spans, "policy")
	assert.Equal(t, "deny", attrs(policy)[AttrDecision].AsString())
	assert.Equal(t, "reader", attrs(policy)[AttrIdentity].AsString())
	assert.Equal(t, codes.Error, policy.Status.Code)
	down := spanNamed(t, spans, "mcp tools/call up__echo")
	assert.Equal(t, fault.OutcomeDenied, attrs(down)[AttrOutcome].AsString())
	assert.Equal(t, int64(fault.CodeForbidden), attrs(down)[AttrJSONRPCError].AsInt64())
	meta, _, _ := got.last()
	assert.Empty(t, meta, "the upstream was not called")
}

// TestTraceOff: without a TracerProvider nothing is traced and nothing is
// added to what the upstream receives; a client's own trace context passes
// through untouched, as any other _meta.
func TestTraceOff(t *testing.T) {
	var got seen
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", tracedServer("up", &got))}, nil)
	cs := connect(t, agg.Server(), nil)
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "up__echo"})
	require.NoError(t, err)
	meta, _, _ := got.last()
	assert.Empty(t, meta)
	client := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "up__echo", Meta: mcp.Meta{"traceparent": client}})
	require.NoError(t, err)
	meta, _, _ = got.last()
	assert.Equal(t, client, meta)
}

// TestTraceHTTPUpstream: the traceparent header (and _meta) reach a
// streamable-HTTP upstream with the upstream call's span.
func TestTraceHTTPUpstream(t *testing.T) {
	tp, exp := newTestTracing(t)
	var got seen
	srv := tracedServer("web", &got)
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(ts.Close)
	spec := UpstreamSpec{Name: "web", Prefix: "web", Kind: "http",
		NewTransport: launch.StaticTransport(launch.NewHTTPTransport(ts.URL, launch.HTTPTransportOptions{Headers: map[string]string{"X-Upstream-Key": "k"}}))}
	agg := startAggregator(t, []UpstreamSpec{spec}, &Options{TracerProvider: tp})
	cs := connect(t, agg.Server(), nil)
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "web__echo"})
	require.NoError(t, err)
	up := spanNamed(t, exp.GetSpans(), "mcp tools/call web")
	down := spanNamed(t, exp.GetSpans(), "mcp tools/call web__echo")
	meta, header, _ := got.last()
	assert.Equal(t, traceparent(up.SpanContext), header, "W3C traceparent header")
	assert.Equal(t, traceparent(up.SpanContext), meta, "_meta.traceparent")
	assert.Equal(t, down.SpanContext.TraceID(), up.SpanContext.TraceID())
}

func TestTraceMeta(t *testing.T) {
	tp, _ := newTestTracing(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "call")
	defer span.End()
	want := traceparent(span.SpanContext())
	for _, tc := range []struct {
		name string
		meta mcp.Meta
		want mcp.Meta
	}{
		{"no meta", nil, mcp.Meta{"traceparent": want}},
		{"keeps other keys", mcp.Meta{"progressToken": "gw-1", "x/y": 2}, mcp.Meta{"progressToken": "gw-1", "x/y": 2, "traceparent": want}},
		{"replaces the client's", mcp.Meta{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "a=b"}, mcp.Meta{"traceparent": want}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := maps.Clone(tc.meta)
			assert.Equal(t, tc.want, traceMeta(ctx, tc.meta))
			assert.Equal(t, orig, tc.meta, "the original is not modified")
		})
	}
	t.Run("untraced", func(t *testing.T) {
		meta := mcp.Meta{"k": "v"}
		assert.Equal(t, meta, traceMeta(context.Background(), meta))
	})
}

// headerTransport sets fixed headers on a downstream client's requests.
type headerTransport struct{ h map[string]string }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestTraceHTTPDownstream: over streamable HTTP the request's traceparent
// header (which transport sets to its HTTP span) is the parent, unless the
// client put one in _meta: then that is the parent and the header's a link.
func TestTraceHTTPDownstream(t *testing.T) {
	tp, exp := newTestTracing(t)
	var got seen
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", tracedServer("up", &got))}, &Options{TracerProvider: tp})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return agg.Server() }, nil))
	t.Cleanup(ts.Close)
	httpSpan := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	client := &http.Client{Transport: headerTransport{map[string]string{"traceparent": httpSpan}}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "test"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: ts.URL, HTTPClient: client}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })

	exp.Reset()
	_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "up__echo"})
	require.NoError(t, err)
	down := spanNamed(t, exp.GetSpans(), "mcp tools/call up__echo")
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", down.SpanContext.TraceID().String())
	assert.Equal(t, "b7ad6b7169203331", down.Parent.SpanID().String())
	assert.Empty(t, down.Links)
	sess := attrs(down)[AttrSession].AsString()
	assert.Equal(t, cs.ID(), sess)

	exp.Reset()
	inMeta := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "up__echo", Meta: mcp.Meta{"traceparent": inMeta}})
	require.NoError(t, err)
	down = spanNamed(t, exp.GetSpans(), "mcp tools/call up__echo")
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", down.SpanContext.TraceID().String())
	assert.Equal(t, "00f067aa0ba902b7", down.Parent.SpanID().String())
	if assert.Len(t, down.Links, 1) {
		assert.Equal(t, "b7ad6b7169203331", down.Links[0].SpanContext.SpanID().String(), "the transport's context is linked")
	}
}
