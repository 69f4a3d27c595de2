package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/sessions"
	"github.com/mcp-gateway/mcp-gateway/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// observer turns the aggregator's events into Prometheus metrics and the
// audit log. Labels are bounded: methods and kinds are fixed sets, upstreams
// and tools come from the config and the catalog, identities from the
// configured credentials; no session ids or arguments.
type observer struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	requestTime   *prometheus.HistogramVec
	toolTime      *prometheus.HistogramVec
	upstreamUp    *prometheus.GaugeVec
	restarts      *prometheus.CounterVec
	breaker       *prometheus.GaugeVec
	rateLimited   *prometheus.CounterVec
	sessions      *sessionGauge
	catalog       *prometheus.GaugeVec
	audit         *slog.Logger // nil when the audit log is off
	auditArgs     bool
	auditErrors   prometheus.Counter
	auditCloser   io.Closer
	breakerValues map[string]float64
}

// newObserver registers the gateway's metrics and opens the audit log.
// sessions, if not nil, is the record mcp_gateway_sessions_active is read
// from.
func newObserver(cfg *config.Config, logger *slog.Logger, upstreams []string, sessions *sessions.Book) (*observer, error) {
	o := &observer{reg: prometheus.NewRegistry(), breakerValues: map[string]float64{"closed": 0, "half-open": 1, "open": 2, "disabled": 0}}
	o.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	o.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_gateway_requests_total",
		Help: "Catalog requests (tools/call, prompts/get, resources/read) by method, upstream and outcome."}, []string{"method", "upstream", "outcome"})
	o.requestTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mcp_gateway_request_duration_seconds",
		Help: "Duration of catalog requests by method and upstream.", Buckets: buckets}, []string{"method", "upstream"})
	o.toolTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mcp_gateway_tool_call_duration_seconds",
		Help: "Duration of tool calls by upstream and tool (the upstream's own name).", Buckets: buckets}, []string{"upstream", "tool"})
	o.upstreamUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mcp_gateway_upstream_up",
		Help: "1 if the upstream is connected, else 0."}, []string{"upstream"})
	o.restarts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_gateway_upstream_restarts_total",
		Help: "Reconnections of an upstream (restarts of a stdio upstream)."}, []string{"upstream"})
	o.breaker = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mcp_gateway_breaker_state",
		Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open."}, []string{"upstream"})
	o.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_gateway_rate_limited_total",
		Help: "Requests refused by the per-identity rate limit."}, []string{"identity"})
	o.sessions = &sessionGauge{book: sessions, views: append([]string{""}, upstreams...),
		desc: prometheus.NewDesc("mcp_gateway_sessions_active", "Open downstream sessions by endpoint.", []string{"endpoint"}, nil)}
	o.catalog = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mcp_gateway_catalog_items",
		Help: "Items in the merged catalog by kind."}, []string{"kind"})
	o.auditErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "mcp_gateway_audit_write_errors_total",
		Help: "Audit log lines that could not be written."})
	o.reg.MustRegister(o.auditErrors, o.requests, o.requestTime, o.toolTime, o.upstreamUp, o.restarts, o.breaker, o.rateLimited, o.sessions, o.catalog)
	for _, u := range upstreams {
		o.upstreamUp.WithLabelValues(u)
		o.restarts.WithLabelValues(u)
		o.breaker.WithLabelValues(u)
	}
	for _, k := range []string{"tools", "prompts", "resources", "resource_templates"} {
		o.catalog.WithLabelValues(k)
	}
	a := cfg.Gateway.Audit
	switch {
	case a.Disabled:
	case a.File != "":
		f, err := os.OpenFile(a.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		o.audit, o.auditCloser = slog.New(slog.NewJSONHandler(f, nil)), f
	default:
		o.audit = logger.With("log", "audit")
	}
	o.auditArgs = a.IncludeArguments
	return o, nil
}

// Handler serves the metrics in the Prometheus text format.
func (o *observer) Handler() http.Handler {
	return promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{Registry: o.reg})
}

// Close closes the audit file, if any.
func (o *observer) Close() error {
	if o.auditCloser != nil {
		return o.auditCloser.Close()
	}
	return nil
}

func (o *observer) Request(method, upstream, outcome string, d time.Duration) {
	o.requests.WithLabelValues(method, upstream, outcome).Inc()
	o.requestTime.WithLabelValues(method, upstream).Observe(d.Seconds())
}

func (o *observer) ToolCall(c aggregator.ToolCall) {
	if c.Upstream != "" { // a call to an unknown tool has no bounded label
		o.toolTime.WithLabelValues(c.Upstream, c.UpstreamTool).Observe(c.Duration.Seconds())
	}
	if o.audit == nil {
		return
	}
	// The digest is computed here, only when a line is written: with the
	// audit log off, a call pays nothing for it.
	digest := sha256.Sum256(c.Arguments)
	attrs := []any{
		"identity", c.Identity, "session", c.Session, "tool", c.Tool,
		"upstream", c.Upstream, "upstream_tool", c.UpstreamTool, "duration_ms", float64(c.Duration.Microseconds()) / 1000,
		"outcome", c.Outcome, "args_bytes", len(c.Arguments), "args_sha256", hex.EncodeToString(digest[:]),
	}
	if o.auditArgs && json.Valid(c.Arguments) {
		attrs = append(attrs, "arguments", json.RawMessage(c.Arguments))
	}
	// The record is dated when the call started; an attribute "time" would
	// give JSON lines two time keys.
	r := slog.NewRecord(c.Time, slog.LevelInfo, "tool call", 0)
	r.Add(attrs...)
	if err := o.audit.Handler().Handle(context.Background(), r); err != nil {
		o.auditErrors.Add(1) // a full disk must not fail the call; the count is exported
	}
}

func (o *observer) RateLimited(identity string) { o.rateLimited.WithLabelValues(identity).Inc() }

func (o *observer) UpstreamState(upstream string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	o.upstreamUp.WithLabelValues(upstream).Set(v)
}

func (o *observer) UpstreamRestart(upstream string) { o.restarts.WithLabelValues(upstream).Inc() }

func (o *observer) BreakerState(upstream, state string) {
	o.breaker.WithLabelValues(upstream).Set(o.breakerValues[state])
}

func (o *observer) CatalogSize(kind string, n int) { o.catalog.WithLabelValues(kind).Set(float64(n)) }

// sessionGauge is mcp_gateway_sessions_active, read from the session record
// at each scrape, so that it is right at every moment: after a DELETE, an
// idle expiry, a failed initialize.
type sessionGauge struct {
	book  *sessions.Book
	views []string // "" (the merged catalog) and every upstream: a bounded label set
	desc  *prometheus.Desc
}

func (g *sessionGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *sessionGauge) Collect(ch chan<- prometheus.Metric) {
	var counts map[string]int
	if g.book != nil {
		counts = g.book.Counts()
	}
	for _, v := range g.views {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(counts[v]), transport.Endpoint(v))
	}
}
