package config

import (
	"encoding/json"
	"reflect"
	"slices"
)

// What a reload changes is decided here, from the two configs alone: which
// upstreams to start, stop or restart, and which settings take effect only
// at a restart.

// UpstreamChanges names the enabled upstreams that differ between the
// running config and a loaded one, each list sorted.
type UpstreamChanges struct {
	Added, Removed, Changed []string
}

// Empty reports whether no upstream changed.
func (c UpstreamChanges) Empty() bool {
	return len(c.Added)+len(c.Removed)+len(c.Changed) == 0
}

// DiffUpstreams compares the enabled upstreams of two configs. An upstream
// changed if anything its connection is made from differs: its entry
// (overrides aside: they apply to its listing without a reconnect) and the
// gateway limits every connection uses (max_message_bytes, breaker).
func DiffUpstreams(running, loaded *Config) UpstreamChanges {
	was, now := connectionKeys(running), connectionKeys(loaded)
	var c UpstreamChanges
	for name, k := range now {
		switch old, ok := was[name]; {
		case !ok:
			c.Added = append(c.Added, name)
		case old != k:
			c.Changed = append(c.Changed, name)
		}
	}
	for name := range was {
		if _, ok := now[name]; !ok {
			c.Removed = append(c.Removed, name)
		}
	}
	slices.Sort(c.Added)
	slices.Sort(c.Removed)
	slices.Sort(c.Changed)
	return c
}

// connectionKeys returns, for each enabled upstream, what its connection is
// made from, as JSON.
func connectionKeys(c *Config) map[string]string {
	out := map[string]string{}
	for _, u := range c.Enabled() {
		e := *u
		e.Overrides = Overrides{}
		b, _ := json.Marshal(struct {
			Upstream        Upstream `json:"upstream"`
			Name            string   `json:"name"`
			MaxMessageBytes int      `json:"max_message_bytes"`
			Breaker         Breaker  `json:"breaker"`
		}{e, u.Name, c.Gateway.Limits.MaxMessageBytes, c.Gateway.Limits.Breaker})
		out[u.Name] = string(b)
	}
	return out
}

// restartOnly are the gateway settings a running gateway cannot change:
// the HTTP server's (listen address, origins, session timeout, body cap,
// shutdown grace) and the log, metrics and audit outputs.
var restartOnly = []struct {
	name string
	of   func(*Gateway) any // a pointer to the setting
}{
	{"gateway.listen", func(g *Gateway) any { return &g.Listen }},
	{"gateway.allowed_origins", func(g *Gateway) any { return &g.AllowedOrigins }},
	{"gateway.session_idle_timeout", func(g *Gateway) any { return &g.SessionIdleTimeout }},
	{"gateway.shutdown_grace", func(g *Gateway) any { return &g.ShutdownGrace }},
	{"gateway.max_body_bytes", func(g *Gateway) any { return &g.MaxBodyBytes }},
	{"gateway.log", func(g *Gateway) any { return &g.Log }},
	{"gateway.metrics", func(g *Gateway) any { return &g.Metrics }},
	{"gateway.audit", func(g *Gateway) any { return &g.Audit }},
}

// KeepRestartOnly puts the running config's restart-only settings into the
// loaded one, so that it describes what is in effect, and names those that
// differed: they take effect at the next restart.
func KeepRestartOnly(running, loaded *Config) []string {
	var changed []string
	for _, s := range restartOnly {
		was, now := reflect.ValueOf(s.of(&running.Gateway)).Elem(), reflect.ValueOf(s.of(&loaded.Gateway)).Elem()
		if !reflect.DeepEqual(was.Interface(), now.Interface()) {
			changed = append(changed, s.name)
			now.Set(was)
		}
	}
	return changed
}
