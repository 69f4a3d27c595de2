package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// headerServer is an MCP server whose "see" tool records the traceparent
// header its request arrived with (RequestExtra.Header).
func headerServer(seen *[]string, mu *sync.Mutex) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "test"}, nil)
	s.AddTool(&mcp.Tool{Name: "see", InputSchema: map[string]any{"type": "object"}},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			mu.Lock()
			*seen = append(*seen, req.Extra.Header.Get("traceparent"))
			mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
		})
	return s
}

// setHeaders sets fixed headers on a client's requests.
type setHeaders map[string]string

func (h setHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// logLines is a JSON log sink.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns the log records with the message, decoded.
func (l *logLines) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTraceHandler(t *testing.T, tp trace.TracerProvider, logs *logLines, seen *[]string, mu *sync.Mutex) *httptest.Server {
	t.Helper()
	o := HTTPOptions{
		Logger:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Merged:         headerServer(seen, mu),
		Upstream:       func(string) (*mcp.Server, bool) { return nil, false },
		Status:         func() any { return []string{} },
		Ready:          func() bool { return true },
		Metrics:        http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("# metrics\n")) }),
		TracerProvider: tp,
	}
	ts := httptest.NewServer(NewHandler(o, true))
	t.Cleanup(ts.Close)
	return ts
}

func TestTraceHTTPServerSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	// A server span ends when its handler returns, which can be after the
	// client has read the response: wait for the span, not for the client.
	ended := make(chan string, 16)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSpanProcessor(endedSpans(ended)))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	var mu sync.Mutex
	var seen []string
	logs := &logLines{}
	ts := newTraceHandler(t, tp, logs, &seen, &mu)

	incoming := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	client := &http.Client{Transport: setHeaders{"traceparent": incoming}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "test"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp", HTTPClient: client}, nil)
	require.NoError(t, err)
	exp.Reset()
	_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "see"})
	require.NoError(t, err)
	require.NoError(t, cs.Close())
	// The call's POST is the one answered 200 (notifications/initialized,
	// whose span may also end late, is answered 202).
	isCall := func(sp tracetest.SpanStub) bool {
		for _, kv := range sp.Attributes {
			if kv.Key == "http.response.status_code" && kv.Value.AsInt64() == 200 {
				return sp.Name == "POST /mcp"
			}
		}
		return false
	}
	has := func(match func(tracetest.SpanStub) bool) bool {
		for _, sp := range exp.GetSpans() {
			if match(sp) {
				return true
			}
		}
		return false
	}
	isDelete := func(sp tracetest.SpanStub) bool { return sp.Name == "DELETE /mcp" }
	for !has(isCall) || !has(isDelete) {
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("the call's and the DELETE's spans never ended; spans: %v", exp.GetSpans())
		}
	}

	var post tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		assert.Equal(t, trace.SpanKindServer, s.SpanKind)
		assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", s.SpanContext.TraceID().String(), "%s continues the client's trace", s.Name)
		assert.Equal(t, "b7ad6b7169203331", s.Parent.SpanID().String())
		if isCall(s) && post.Name == "" {
			post = s
		}
	}
	require.Equal(t, "POST /mcp", post.Name, "spans: %v", exp.GetSpans())
	a := map[attribute.Key]attribute.Value{}
	for _, kv := range post.Attributes {
		a[kv.Key] = kv.Value
	}
	assert.Equal(t, "POST", a["http.request.method"].AsString())
	assert.Equal(t, "/mcp", a["http.route"].AsString())
	assert.Equal(t, int64(200), a["http.response.status_code"].AsInt64())

	// The MCP handler saw the HTTP span, not the client's, as the request's
	// trace context: that is what the aggregator parents its spans on.
	mu.Lock()
	require.Len(t, seen, 1)
	got := seen[0]
	mu.Unlock()
	var ids []string
	for _, s := range exp.GetSpans() {
		ids = append(ids, s.SpanContext.SpanID().String())
	}
	parts := strings.Split(got, "-")
	require.Len(t, parts, 4, got)
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", parts[1])
	assert.Contains(t, ids, parts[2])

	// The access log names the trace.
	var traced int
	for _, rec := range logs.records(t, "http request") {
		if rec["trace_id"] == "0af7651916cd43dd8448eb211c80319c" {
			traced++
		}
	}
	assert.Positive(t, traced, logs.String())

	// Probes are not traced.
	exp.Reset()
	resp, err := http.Get(ts.URL + "/health")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Empty(t, exp.GetSpans())
}

// TestAccessLog: one line per HTTP request with method, path, status and
// duration; info for the MCP endpoint and the API, debug for probes and
// scrapes; never a header value, so never a credential.
func TestAccessLog(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	logs := &logLines{}
	ts := newTraceHandler(t, nil, logs, &seen, &mu)
	const secret = "sk-canary-4cc355-l0g"
	var session string
	do := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Api-Key", secret)
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Mcp-Session-Id")
	}
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`
	type want struct {
		method, path string
		status       int
		level        string
	}
	code, id := do("POST", "/mcp", initialize)
	require.Equal(t, http.StatusOK, code)
	require.NotEmpty(t, id)
	wants := []want{{"POST", "/mcp", code, "INFO"}}
	for _, w := range []want{
		{"GET", "/health", 200, "DEBUG"},
		{"GET", "/readyz", 200, "DEBUG"},
		{"GET", "/metrics", 200, "DEBUG"},
		{"GET", "/upstreams", 200, "INFO"},
		{"GET", "/nowhere", 404, "INFO"},
	} {
		code, _ := do(w.method, w.path, "")
		assert.Equal(t, w.status, code, w.path)
		wants = append(wants, w)
	}
	session = id
	code, _ = do("DELETE", "/mcp", "") // ends the session (no leaked goroutines)
	wants = append(wants, want{"DELETE", "/mcp", code, "INFO"})

	recs := logs.records(t, "http request")
	require.Len(t, recs, len(wants), "one line per request:\n%s", logs)
	byRequest := map[string]map[string]any{}
	for _, rec := range recs {
		byRequest[rec["method"].(string)+" "+rec["path"].(string)] = rec
	}
	for _, w := range wants {
		rec := byRequest[w.method+" "+w.path]
		require.NotNil(t, rec, "no line for %s %s", w.method, w.path)
		assert.Equal(t, float64(w.status), rec["status"], w.path)
		assert.Equal(t, w.level, rec["level"], w.path)
		d, ok := rec["duration"].(float64)
		assert.True(t, ok && d > 0, "%s: duration %v", w.path, rec["duration"])
	}
	assert.Equal(t, id, byRequest["DELETE /mcp"]["session"])
	assert.NotContains(t, logs.String(), secret, "a credential reached the log")
	assert.NotContains(t, logs.String(), "canary")
}

// TestTraceOffNoSpans: without a TracerProvider the handler is not wrapped:
// no span, and the request's own traceparent reaches the MCP layer as sent.
func TestTraceOffNoSpans(t *testing.T) {
	const incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	var sawSpan bool
	var sawHeader string
	h := traceMCP(nil, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		sawSpan = trace.SpanContextFromContext(r.Context()).IsValid()
		sawHeader = r.Header.Get("traceparent")
	}))
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	req.Header.Set("traceparent", incoming)
	h.ServeHTTP(httptest.NewRecorder(), req)
	assert.False(t, sawSpan)
	assert.Equal(t, incoming, sawHeader)
}

// endedSpans is a span processor that sends each ended span's name,
// dropping it when nobody is waiting and the buffer is full.
type endedSpans chan string

func (e endedSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (e endedSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	select {
	case e <- s.Name():
	default:
	}
}
func (e endedSpans) Shutdown(context.Context) error   { return nil }
func (e endedSpans) ForceFlush(context.Context) error { return nil }
