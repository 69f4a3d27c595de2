package deploy

// The metrics the dashboard and Prometheus config may use: the gateway's, as
// a real gateway exposes them, and the standard ones.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deployMetric describes one metric family: its labels and, for histograms,
// that it has _bucket, _sum and _count series.
type deployMetric struct {
	name      string
	histogram bool
	labels    []string
}

// deployDocumentedMetrics are the metrics the gateway exposes at GET
// /metrics, as documentation: the checks use a scrape of the real /metrics
// (deployExposedMetrics), and TestDeployMetricsDocumented keeps this list
// equal to it.
var deployDocumentedMetrics = []deployMetric{
	{name: "mcp_gateway_requests_total", labels: []string{"method", "upstream", "outcome"}},
	{name: "mcp_gateway_request_duration_seconds", histogram: true, labels: []string{"method", "upstream"}},
	{name: "mcp_gateway_tool_call_duration_seconds", histogram: true, labels: []string{"upstream", "tool"}},
	{name: "mcp_gateway_upstream_up", labels: []string{"upstream"}},
	{name: "mcp_gateway_upstream_restarts_total", labels: []string{"upstream"}},
	{name: "mcp_gateway_breaker_state", labels: []string{"upstream"}},
	{name: "mcp_gateway_rate_limited_total", labels: []string{"identity"}},
	{name: "mcp_gateway_sessions_active", labels: []string{"endpoint"}},
	{name: "mcp_gateway_catalog_items", labels: []string{"kind"}},
	{name: "mcp_gateway_audit_write_errors_total"},
}

// deployStandardMetrics are those of client_golang's Go and process collectors that
// the dashboard may use, and Prometheus' own per-target `up`.
var deployStandardMetrics = []deployMetric{
	{name: "go_goroutines"},
	{name: "go_threads"},
	{name: "go_info", labels: []string{"version"}},
	{name: "go_gc_duration_seconds", labels: []string{"quantile"}},
	{name: "go_memstats_alloc_bytes"},
	{name: "go_memstats_heap_alloc_bytes"},
	{name: "go_memstats_heap_inuse_bytes"},
	{name: "go_memstats_sys_bytes"},
	{name: "process_resident_memory_bytes"},
	{name: "process_virtual_memory_bytes"},
	{name: "process_cpu_seconds_total"},
	{name: "process_open_fds"},
	{name: "process_max_fds"},
	{name: "process_start_time_seconds"},
	{name: "up"},
}

// deployLabelValues are the values some labels take; a query matching other values
// would never match anything.
var deployLabelValues = map[string][]string{
	"outcome": {"ok", "error", "denied", "rate_limited", "unavailable", "timeout"},
	"kind":    {"tools", "prompts", "resources", "resource_templates"},
}

// deployTargetLabels are added by Prometheus to every scraped series.
var deployTargetLabels = []string{"job", "instance"}

// Keys of the scraped gateway's config: "ops" has no limit, "limited" 60
// requests a minute with a burst of 1.
const (
	metricsOpsKey     = "mcpgw_deploy-ops-key-0123456789abcdef"
	metricsLimitedKey = "mcpgw_deploy-limited-key-0123456789abcdef"
)

func keyDigest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return config.KeyDigestPrefix + hex.EncodeToString(sum[:])
}

// deployExposedMetrics scrapes the metrics a real gateway exposes at GET
// /metrics after traffic that gives every family a series (calls that
// succeed and fail, a rate-limited identity): each mcp_gateway_ family with
// its type and the label names of its series.
func deployExposedMetrics(t *testing.T) []deployMetric {
	t.Helper()
	if testing.Short() {
		t.Log("NOTE: -short: checking against the documented metrics, not a scrape")
		return deployDocumentedMetrics
	}
	keys := []map[string]any{
		{"key": keyDigest(metricsOpsKey), "owner": "ops", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "rate_limit_rpm": -1, "admin": true},
		{"key": keyDigest(metricsLimitedKey), "owner": "limited", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "rate_limit_rpm": 60, "burst": 1},
	}
	cfgPath := writeEchoConfig(t, map[string]any{
		"auth":  map[string]any{"api_keys": keys},
		"audit": map[string]any{"file": filepath.Join(t.TempDir(), "audit.jsonl")},
	})
	g := startGateway(t, []string{"serve", "--http", "127.0.0.1:0", "--config", cfgPath, "--log-format", "json"}, nil, true)
	metricsTraffic(t, g.url)

	var out []deployMetric
	for name, f := range scrapeMetrics(t, g.url) {
		if !strings.HasPrefix(name, "mcp_gateway_") {
			continue
		}
		m := deployMetric{name: name, histogram: f.GetType() == dto.MetricType_HISTOGRAM}
		for _, series := range f.GetMetric() {
			for _, l := range series.GetLabel() {
				if !slices.Contains(m.labels, l.GetName()) {
					m.labels = append(m.labels, l.GetName())
				}
			}
		}
		slices.Sort(m.labels)
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b deployMetric) int { return strings.Compare(a.name, b.name) })
	return out
}

// writeEchoConfig writes a config with one upstream, "a", the echo test
// server, and the gateway section given; it returns the config's path.
func writeEchoConfig(t *testing.T, gateway map[string]any) string {
	t.Helper()
	cfg := map[string]any{
		"mcpServers": map[string]any{"a": map[string]any{"command": echoBin(t), "args": []string{"--name", "a"}}},
	}
	if gateway != nil {
		cfg["gateway"] = gateway
	}
	data, err := json.Marshal(cfg)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "config.json")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// metricsTraffic gives every metric family a series: two calls that succeed,
// a tool error, a call of an unknown tool, and requests of the limited
// identity until one is refused.
func metricsTraffic(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := &mcp.StreamableClientTransport{Endpoint: base + "/mcp", MaxRetries: -1,
		HTTPClient: &http.Client{Transport: headerTransport{apiKeyHeader: metricsOpsKey}}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "deploy-test", Version: "test"}, nil).Connect(ctx, tr, nil)
	require.NoError(t, err)
	defer cs.Close()
	for range 2 {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__echo", Arguments: map[string]any{"text": "deploy"}})
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
	require.Equal(t, http.StatusOK, postInitialize(t, base, map[string]string{apiKeyHeader: metricsLimitedKey}).StatusCode)
	limited := false
	for range 5 {
		if postInitialize(t, base, map[string]string{apiKeyHeader: metricsLimitedKey}).StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	require.True(t, limited, "the limited identity was never refused")
}

// headerTransport sets fixed headers on every request.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// initializeResponse is the answer to a raw initialize POST.
type initializeResponse struct {
	*http.Response
	Body string
}

// postInitialize POSTs an initialize request to /mcp with headers, as the
// HTTP client configs do.
func postInitialize(t *testing.T, base string, headers map[string]string) initializeResponse {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"deploy-test","version":"0"}}}`
	req, err := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return initializeResponse{resp, string(got)}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// httpGet does a GET and returns the status and body.
func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

// scrapeMetrics gets /metrics and parses the exposition.
func scrapeMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
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

// TestDeployMetricsDocumented keeps the documented list equal to what the
// gateway really exposes.
func TestDeployMetricsDocumented(t *testing.T) {
	needBinaries(t)
	var documented []deployMetric
	for _, m := range deployDocumentedMetrics {
		m.labels = slices.Sorted(slices.Values(m.labels))
		documented = append(documented, m)
	}
	slices.SortFunc(documented, func(a, b deployMetric) int { return strings.Compare(a.name, b.name) })
	assert.Equal(t, documented, deployExposedMetrics(t))
}

func TestMetricValue(t *testing.T) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(`# TYPE c counter
c{a="1"} 3
c{a="1",b="2"} 4
# TYPE g gauge
g 5
# TYPE h histogram
h_bucket{le="+Inf"} 2
h_sum 1
h_count 2
`))
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
		ok     bool
	}{
		{"c", map[string]string{"a": "1"}, 3, true},
		{"c", map[string]string{"a": "1", "b": "2"}, 4, true},
		{"c", map[string]string{"a": "2"}, 0, false},
		{"c", nil, 0, false},
		{"g", nil, 5, true},
		{"h", nil, 2, true},
		{"nope", nil, 0, false},
	} {
		got, ok := metricValue(fams, tc.name, tc.labels)
		assert.Equal(t, tc.ok, ok, "%s %v", tc.name, tc.labels)
		assert.Equal(t, tc.want, got, "%s %v", tc.name, tc.labels)
	}
}
