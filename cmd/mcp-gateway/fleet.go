package main

import (
	"log/slog"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/fleet"
	"github.com/prometheus/client_golang/prometheus"
)

// newFleet builds the state replicas share from gateway.redis: in Redis
// when it is set, else in this process (the limits' token buckets; sessions
// are then this replica's own). Its metrics go to obs's registry.
func newFleet(cfg *config.Config, logger *slog.Logger, obs *observer) (*fleet.State, error) {
	o := &fleet.Options{
		Logger:      logger.With("component", "fleet"),
		SessionIdle: cfg.Gateway.SessionIdleTimeout.D(),
	}
	if r := cfg.Gateway.Redis; r != nil {
		o.URL, o.Prefix, o.Timeout = r.URL, r.Prefix, r.Timeout.D()
		o.Observer = newFleetMetrics(obs.reg)
	}
	return fleet.New(o)
}

// trackFleet records the sessions of every server the aggregator serves, so
// that other replicas can restore them.
func trackFleet(st *fleet.State, agg *aggregator.Aggregator, names []string) {
	st.Track("", agg.Server())
	for _, n := range names {
		if srv, ok := agg.UpstreamServer(n); ok {
			st.Track(n, srv)
		}
	}
}

// fleetMetrics is the fleet's Observer: mcp_gateway_redis_up,
// mcp_gateway_redis_degraded_total{kind} and
// mcp_gateway_sessions_restored_total.
type fleetMetrics struct {
	up       prometheus.Gauge
	degraded *prometheus.CounterVec
	restored prometheus.Counter
}

func newFleetMetrics(reg *prometheus.Registry) *fleetMetrics {
	m := &fleetMetrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mcp_gateway_redis_up",
			Help: "1 if the Redis of gateway.redis is reachable, else 0 (limits per replica, sessions not shared)."}),
		degraded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_gateway_redis_degraded_total",
			Help: "Decisions taken without Redis: rate_limit (this replica's buckets), session_save (a session not recorded), session_lookup (a session of another replica not found)."},
			[]string{"kind"}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{Name: "mcp_gateway_sessions_restored_total",
			Help: "Sessions made by another replica and rebuilt on this one from their record in Redis."}),
	}
	for _, k := range []string{fleet.KindRateLimit, fleet.KindSessionSave, fleet.KindSessionLookup} {
		m.degraded.WithLabelValues(k)
	}
	reg.MustRegister(m.up, m.degraded, m.restored)
	return m
}

func (m *fleetMetrics) RedisUp(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.up.Set(v)
}

func (m *fleetMetrics) Degraded(kind string) { m.degraded.WithLabelValues(kind).Inc() }

func (m *fleetMetrics) Restored() { m.restored.Inc() }
