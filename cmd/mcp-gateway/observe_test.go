package main

// Observability through the real binary (issue 7, SPEC §9): the Prometheus
// metrics as scraped, the audit log, the access log, and traces exported
// over OTLP/HTTP to a collector the test runs.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Keys of the observability tests' config.
const (
	obOpsKey     = "mcpgw_observe-ops-key-0123456789abcdef"
	obLimitedKey = "mcpgw_observe-limited-key-0123456789abcdef"
)

// obOptions vary the gateway of an observability test.
type obOptions struct {
	requireAuth bool              // gateway.metrics.require_auth
	includeArgs bool              // gateway.audit.include_arguments
	servers     map[string]any    // more upstreams besides "a"
	env         map[string]string // the gateway's environment, on top of the test's
}

// obGateway is a gateway serving HTTP with two API keys — "ops" (no limit)
// and "limited" (60 rpm, burst 1) — an echo upstream "a" over stdio, and an
// audit log file.
type obGateway struct {
	*gatewayProcess
	audit string // the audit log file
}

func obConfig(t *testing.T, o obOptions) (map[string]any, string) {
	t.Helper()
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	servers := map[string]any{"a": echoUpstream("a")}
	for k, v := range o.servers {
		servers[k] = v
	}
	keys := []map[string]any{
		{"key": auth.HashKey(obOpsKey), "owner": "ops", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "rate_limit_rpm": -1, "admin": true},
		{"key": auth.HashKey(obLimitedKey), "owner": "limited", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "rate_limit_rpm": 60, "burst": 1},
	}
	gw := map[string]any{
		"auth":    map[string]any{"api_keys": keys},
		"metrics": map[string]any{"require_auth": o.requireAuth},
		"audit":   map[string]any{"file": audit, "include_arguments": o.includeArgs},
	}
	return map[string]any{"mcpServers": servers, "gateway": gw}, audit
}

func startObserveGateway(t *testing.T, o obOptions) *obGateway {
	t.Helper()
	needBins(t)
	for k, v := range o.env {
		t.Setenv(k, v) // the child inherits the test's environment
	}
	cfg, audit := obConfig(t, o)
	g := &obGateway{gatewayProcess: startHTTP(t, writeConfig(t, cfg)), audit: audit}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway stderr:\n%s", g.stderr)
		}
	})
	return g
}

// obHeaders sets fixed headers on every request of a client.
type obHeaders map[string]string

func (h obHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// obConnect connects an MCP client to the gateway's /mcp with an API key.
func obConnect(t *testing.T, base, key string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := &mcp.StreamableClientTransport{Endpoint: base + "/mcp", MaxRetries: -1,
		HTTPClient: &http.Client{Transport: obHeaders{"X-Api-Key": key}}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "observe-test", Version: "test"}, nil).Connect(ctx, tr, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	return cs
}

// obGet does a GET with optional headers and returns the status and body.
func obGet(t *testing.T, url string, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

// obPost sends one raw JSON-RPC POST to /mcp and returns the status.
func obPost(t *testing.T, base, key, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// scrapeMetrics gets /metrics and parses the exposition.
func scrapeMetrics(t *testing.T, base string, headers map[string]string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := obGet(t, base+"/metrics", headers)
	require.Equal(t, http.StatusOK, code, "GET /metrics: %s", body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, "the exposition parses")
	return fams
}

// metricValue returns the value of the series of the family with exactly
// these label values (a histogram's sample count), and whether it exists.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !sameLabels(m.GetLabel(), labels) {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		case dto.MetricType_UNTYPED:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func sameLabels(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}

// requireMetric asserts a series' value.
func requireMetric(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := metricValue(fams, name, labels)
	if assert.True(t, ok, "no series %s%v", name, labels) {
		assert.Equal(t, want, got, "%s%v", name, labels)
	}
}

// obTraffic drives the calls every metrics test expects through g: with the
// "ops" key, two echo calls (ok; arguments carry canary), one isError call,
// one unknown tool; with the "limited" key two POSTs in a row (the second
// is refused by its burst of 1). It returns the ops session, still open.
func obTraffic(t *testing.T, g *obGateway, canary string) *mcp.ClientSession {
	t.Helper()
	cs := obConnect(t, g.url, obOpsKey)
	ctx := context.Background()
	for range 2 {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__echo", Arguments: map[string]any{"text": canary}})
		require.NoError(t, err)
		require.False(t, res.IsError)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__fail", Arguments: map[string]any{"message": "no"}})
	require.NoError(t, err)
	require.True(t, res.IsError)
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__no_such_tool"})
	require.Error(t, err)

	// Back to back, so the second finds the bucket empty (a token comes back
	// each second: a few tries make a slow machine no matter).
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"limited","version":"0"}}}`
	require.Equal(t, http.StatusOK, obPost(t, g.url, obLimitedKey, initialize))
	limited := false
	for range 5 {
		if obPost(t, g.url, obLimitedKey, initialize) == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	require.True(t, limited, "the limited identity was never refused")
	return cs
}

func TestObserveMetrics(t *testing.T) {
	g := startObserveGateway(t, obOptions{})
	cs := obTraffic(t, g, "canary-args-"+t.Name())
	tools := listToolNames(t, cs)

	fams := scrapeMetrics(t, g.url, nil)
	const calls = "mcp_gateway_requests_total"
	requireMetric(t, fams, calls, map[string]string{"method": "tools/call", "upstream": "a", "outcome": "ok"}, 2)
	requireMetric(t, fams, calls, map[string]string{"method": "tools/call", "upstream": "a", "outcome": "error"}, 1)
	requireMetric(t, fams, calls, map[string]string{"method": "tools/call", "upstream": "", "outcome": "error"}, 1)
	requireMetric(t, fams, "mcp_gateway_request_duration_seconds", map[string]string{"method": "tools/call", "upstream": "a"}, 3)
	requireMetric(t, fams, "mcp_gateway_tool_call_duration_seconds", map[string]string{"upstream": "a", "tool": "echo"}, 2)
	requireMetric(t, fams, "mcp_gateway_tool_call_duration_seconds", map[string]string{"upstream": "a", "tool": "fail"}, 1)
	requireMetric(t, fams, "mcp_gateway_upstream_up", map[string]string{"upstream": "a"}, 1)
	requireMetric(t, fams, "mcp_gateway_breaker_state", map[string]string{"upstream": "a"}, 0)
	requireMetric(t, fams, "mcp_gateway_upstream_restarts_total", map[string]string{"upstream": "a"}, 0)
	requireMetric(t, fams, "mcp_gateway_catalog_items", map[string]string{"kind": "tools"}, float64(len(tools)))
	assert.NotEmpty(t, tools)

	sessions, ok := metricValue(fams, "mcp_gateway_sessions_active", map[string]string{"endpoint": "/mcp"})
	assert.True(t, ok, "no mcp_gateway_sessions_active{endpoint=/mcp}")
	assert.GreaterOrEqual(t, sessions, 1.0, "a session is open")

	var limited float64
	for _, m := range fams["mcp_gateway_rate_limited_total"].GetMetric() {
		require.Len(t, m.GetLabel(), 1)
		assert.Equal(t, "identity", m.GetLabel()[0].GetName())
		if strings.Contains(m.GetLabel()[0].GetValue(), "limited") {
			limited += m.GetCounter().GetValue()
		}
		assert.NotContains(t, m.GetLabel()[0].GetValue(), obLimitedKey)
	}
	assert.GreaterOrEqual(t, limited, 1.0, "mcp_gateway_rate_limited_total for the limited identity")

	// Bounded labels: no session ids or argument values anywhere.
	code, body := obGet(t, g.url+"/metrics", nil)
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, string(body), cs.ID(), "a session id is a label")
	assert.NotContains(t, string(body), "canary-args", "an argument is a label")

	// The access log: a line per HTTP request, and no credential in it.
	require.NoError(t, cs.Close())
	require.NoError(t, g.stop(t))
	log := g.stderr.String()
	assert.NotContains(t, log, obOpsKey)
	assert.NotContains(t, log, obLimitedKey)
	var posts, scrapes, limitedLines int
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec["msg"] != "http request" {
			continue
		}
		for _, k := range []string{"method", "path", "status", "duration"} {
			assert.Contains(t, rec, k, sc.Text())
		}
		switch {
		case rec["method"] == "POST" && rec["path"] == "/mcp":
			posts++
			assert.Equal(t, "INFO", rec["level"])
			if rec["status"] == float64(http.StatusTooManyRequests) {
				limitedLines++
			}
		case rec["path"] == "/metrics":
			scrapes++
			assert.Equal(t, "DEBUG", rec["level"])
		}
	}
	assert.GreaterOrEqual(t, posts, 7, "initialize, initialized, 4 calls, tools/list, 2 raw POSTs")
	assert.Equal(t, 2, scrapes)
	assert.Equal(t, 1, limitedLines, "the 429")
}

func TestObserveMetricsRequireAuth(t *testing.T) {
	g := startObserveGateway(t, obOptions{requireAuth: true})
	code, _ := obGet(t, g.url+"/metrics", nil)
	assert.Equal(t, http.StatusUnauthorized, code, "/metrics without a key")
	code, _ = obGet(t, g.url+"/metrics", map[string]string{"X-Api-Key": "wrong"})
	assert.Equal(t, http.StatusUnauthorized, code, "/metrics with a wrong key")
	fams := scrapeMetrics(t, g.url, map[string]string{"X-Api-Key": obOpsKey})
	assert.Contains(t, fams, "mcp_gateway_upstream_up")
	code, _ = obGet(t, g.url+"/health", nil)
	assert.Equal(t, http.StatusOK, code, "probes stay open")
}

// auditRecords reads the audit log's JSON lines.
func auditRecords(t *testing.T, path string) ([]map[string]any, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "audit line %q", line)
		recs = append(recs, rec)
	}
	return recs, string(data)
}

func TestObserveAudit(t *testing.T) {
	for _, tc := range []struct {
		name        string
		includeArgs bool
	}{{"digest only", false}, {"include_arguments", true}} {
		t.Run(tc.name, func(t *testing.T) {
			g := startObserveGateway(t, obOptions{includeArgs: tc.includeArgs})
			canary := "canary-audit-" + hex.EncodeToString([]byte(tc.name))
			cs := obTraffic(t, g, canary)
			recs, raw := auditRecords(t, g.audit)
			require.Len(t, recs, 4, "one line per tools/call:\n%s", raw)

			args, err := json.Marshal(map[string]any{"text": canary})
			require.NoError(t, err)
			sum := sha256.Sum256(args)
			wantOutcome := []string{"ok", "ok", "error", "error"}
			wantTool := []string{"a__echo", "a__echo", "a__fail", "a__no_such_tool"}
			for i, rec := range recs {
				for _, k := range []string{"time", "identity", "session", "tool", "upstream", "upstream_tool", "duration_ms", "outcome", "args_bytes", "args_sha256"} {
					assert.Contains(t, rec, k, "line %d", i)
				}
				assert.Equal(t, wantTool[i], rec["tool"], "line %d", i)
				assert.Equal(t, wantOutcome[i], rec["outcome"], "line %d", i)
				assert.Contains(t, rec["identity"], "ops", "line %d", i)
				assert.Equal(t, cs.ID(), rec["session"], "line %d", i)
				assert.IsType(t, float64(0), rec["duration_ms"], "line %d", i)
				ts, _ := rec["time"].(string)
				_, err := time.Parse(time.RFC3339Nano, ts)
				assert.NoError(t, err, "line %d: time %q", i, ts)
			}
			assert.Equal(t, "a", recs[0]["upstream"])
			assert.Equal(t, "echo", recs[0]["upstream_tool"])
			assert.Equal(t, "", recs[3]["upstream"], "an unknown tool has no upstream")
			assert.Equal(t, float64(len(args)), recs[0]["args_bytes"])
			assert.Equal(t, hex.EncodeToString(sum[:]), recs[0]["args_sha256"])
			assert.NotContains(t, raw, obOpsKey)
			if tc.includeArgs {
				assert.Contains(t, raw, canary, "include_arguments records the arguments")
				assert.Equal(t, map[string]any{"text": canary}, recs[0]["arguments"])
			} else {
				assert.NotContains(t, raw, canary, "an argument value reached the audit log")
				assert.NotContains(t, recs[0], "arguments")
			}
		})
	}
}

// otlpCollector is an OTLP/HTTP trace receiver: it accepts protobuf POSTs to
// /v1/traces and keeps the spans.
type otlpCollector struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	spans    []*tracepb.Span
}

func startCollector(t *testing.T) *otlpCollector {
	t.Helper()
	c := &otlpCollector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		data, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(data, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.requests++
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				c.spans = append(c.spans, ss.GetSpans()...)
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(c.Close)
	return c
}

// spansNamed returns the received spans with the name.
func (c *otlpCollector) spansNamed(name string) []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range c.spans {
		if s.GetName() == name {
			out = append(out, s)
		}
	}
	return out
}

func (c *otlpCollector) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.spans {
		out = append(out, s.GetName())
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// traceparentOf formats an exported span as a W3C traceparent (sampled).
func traceparentOf(s *tracepb.Span) string {
	return "00-" + hex.EncodeToString(s.GetTraceId()) + "-" + hex.EncodeToString(s.GetSpanId()) + "-01"
}

// TestTraceThroughBinary: with OTEL_TRACES_EXPORTER=otlp and an endpoint,
// the gateway exports the span tree of a call over OTLP/HTTP, flushing it
// at shutdown, and the upstreams get the upstream call's trace context: in
// the traceparent header (HTTP) and in _meta (both).
func TestTraceThroughBinary(t *testing.T) {
	needBins(t)
	col := startCollector(t)
	env := map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_SERVICE_NAME":           "mcp-gateway-test",
		"OTEL_SDK_DISABLED":           "",
		"OTEL_BSP_SCHEDULE_DELAY":     "60000", // nothing before shutdown: the flush at exit must send it all
	}
	remote := startEchoHTTP(t, "http", "r")
	g := startObserveGateway(t, obOptions{env: env, servers: map[string]any{"r": map[string]any{"url": remote + "/mcp"}}})
	cs := obConnect(t, g.url, obOpsKey)
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "a__echo", Arguments: map[string]any{"text": "hi"}})
	require.NoError(t, err)
	echoed, _ := res.Meta["echoed_meta"].(map[string]any)
	stdioParent, _ := echoed["traceparent"].(string)
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "r__headers"})
	require.NoError(t, err)
	var headers map[string][]string
	require.NoError(t, json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &headers))
	require.NoError(t, cs.Close())
	require.NoError(t, g.stop(t))

	t.Logf("exported span names: %q", col.names())
	for _, name := range []string{"POST /mcp", "mcp tools/call a__echo", "policy", "mcp tools/call a", "mcp tools/call r__headers", "mcp tools/call r"} {
		assert.NotEmpty(t, col.spansNamed(name), "no span %q among %q", name, col.names())
	}
	down := col.spansNamed("mcp tools/call a__echo")
	up := col.spansNamed("mcp tools/call a")
	if len(down) == 1 && len(up) == 1 {
		assert.Equal(t, down[0].GetSpanId(), up[0].GetParentSpanId(), "the upstream call is the downstream request's child")
		assert.Equal(t, down[0].GetTraceId(), up[0].GetTraceId())
		assert.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, up[0].GetKind())
		assert.Equal(t, traceparentOf(up[0]), stdioParent, "a stdio upstream gets _meta.traceparent")
		var posts []*tracepb.Span
		for _, s := range col.spansNamed("POST /mcp") {
			if slices.Equal(s.GetSpanId(), down[0].GetParentSpanId()) {
				posts = append(posts, s)
			}
		}
		assert.Len(t, posts, 1, "the HTTP request's span is the MCP request's parent")
	}
	remoteUp := col.spansNamed("mcp tools/call r")
	if assert.Len(t, remoteUp, 1) {
		got := headers["Traceparent"]
		if assert.Len(t, got, 1, "headers the HTTP upstream saw: %v", headers) {
			assert.Equal(t, traceparentOf(remoteUp[0]), got[0], "an HTTP upstream gets the traceparent header")
		}
	}
}

// TestTraceStdioMode: stdio mode traces each request (no HTTP span) and
// flushes when the client hangs up.
func TestTraceStdioMode(t *testing.T) {
	needBins(t)
	col := startCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", col.URL+"/v1/traces")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{"a": echoUpstream("a")}})
	cs, stderr := connectStdio(t, cfg, nil)
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "a__echo", Arguments: map[string]any{"text": "hi"}})
	require.NoError(t, err)
	require.NoError(t, cs.Close()) // closes stdin; the gateway exits and flushes
	assert.NotEmpty(t, col.spansNamed("mcp tools/call a__echo"), "spans: %q\nstderr:\n%s", col.names(), stderr)
	assert.NotEmpty(t, col.spansNamed("mcp tools/call a"))
	assert.Empty(t, col.spansNamed("POST /mcp"))
}

// TestTraceOffByDefault: without OTEL_* nothing is set up and the upstream
// sees no trace context the gateway made.
func TestTraceOffByDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", map[string]string{}, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{"exporter", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"console", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{"none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, false},
		{"sdk disabled wins", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false},
		{"sdk disabled, any case", map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, false},
		{"sdk not disabled", map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tracingEnabled(func(k string) string { return tc.env[k] }))
		})
	}
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Setenv(k, "")
	}
	logger := slog.New(slog.DiscardHandler)
	tr, err := newTracing(context.Background(), io.Discard, logger)
	require.NoError(t, err)
	assert.Nil(t, tr)
	assert.Nil(t, tr.provider(), "a nil interface, not a typed nil")
	tr.shutdown(context.Background(), time.Second) // no-op on nil

	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin-typo")
	_, err = newTracing(context.Background(), io.Discard, logger)
	assert.ErrorContains(t, err, "OTEL_TRACES_EXPORTER")

	// console writes to the stderr given, never to stdout.
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	var out bytes.Buffer
	tr, err = newTracing(context.Background(), &out, logger)
	require.NoError(t, err)
	_, span := tr.provider().Tracer("test").Start(context.Background(), "console-span")
	span.End()
	tr.shutdown(context.Background(), 5*time.Second)
	assert.Contains(t, out.String(), "console-span")
}
