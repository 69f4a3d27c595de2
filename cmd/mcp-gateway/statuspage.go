package main

import (
	"net/http"
	"sort"
	"time"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/govern"
	"github.com/mcp-gateway/mcp-gateway/sessions"
	"github.com/mcp-gateway/mcp-gateway/transport"
	"github.com/mcp-gateway/mcp-gateway/ui"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// statusPage feeds the status page from the aggregator, the governance gate
// (quarantined definitions), the record of HTTP sessions and the SDK's
// server sessions (for client names and versions).
type statusPage struct {
	agg   *aggregator.Aggregator
	gate  *govern.Gate
	book  *sessions.Book
	names []string // the enabled upstreams, each with a /mcp/{name} server
	local string   // the identity of the stdio client
	feed  *ui.Feed
}

var _ ui.Source = (*statusPage)(nil)

func newStatusPage(agg *aggregator.Aggregator, gate *govern.Gate, book *sessions.Book, names []string, local string, feed *ui.Feed) *statusPage {
	return &statusPage{agg: agg, gate: gate, book: book, names: names, local: local, feed: feed}
}

func (s *statusPage) Upstreams() []ui.Upstream {
	st := s.agg.Status()
	out := make([]ui.Upstream, 0, len(st))
	for _, u := range st {
		out = append(out, ui.Upstream{
			Name: u.Name, Transport: u.Transport, Required: u.Required, State: string(u.State), Since: u.Since,
			Tools: u.Tools, Prompts: u.Prompts, Resources: u.Resources, Templates: u.Templates,
			Restarts: u.Restarts, Breaker: u.Breaker, LastError: u.LastError, Server: u.Server, Protocol: u.Protocol,
			Quarantined: s.quarantined(u.Name),
		})
	}
	return out
}

// quarantined lists what the gate withheld from the upstream's last listing.
func (s *statusPage) quarantined(upstream string) []ui.Quarantined {
	if s.gate == nil {
		return nil
	}
	var out []ui.Quarantined
	for _, q := range s.gate.Quarantined(upstream) {
		out = append(out, ui.Quarantined{Kind: string(q.Kind), Name: q.Name, Reason: q.Reason})
	}
	return out
}

func (s *statusPage) Tools() []ui.Tool {
	tools := s.agg.Tools()
	out := make([]ui.Tool, 0, len(tools))
	for _, t := range tools {
		out = append(out, ui.Tool{Name: t.Name, Upstream: t.Upstream, Description: t.Description})
	}
	return out
}

// Sessions lists the HTTP sessions the transport knows (who, where, when),
// with the client each named in its initialize, and the stdio client.
func (s *statusPage) Sessions() []ui.Session {
	clients := map[string]*mcp.InitializeParams{}
	var stdio []*mcp.InitializeParams
	collect := func(srv *mcp.Server) {
		for ss := range srv.Sessions() {
			p := ss.InitializeParams()
			if p == nil {
				continue // not initialized yet
			}
			if ss.ID() == "" {
				stdio = append(stdio, p)
				continue
			}
			clients[ss.ID()] = p
		}
	}
	collect(s.agg.Server())
	for _, name := range s.names {
		if srv, ok := s.agg.UpstreamServer(name); ok {
			collect(srv)
		}
	}
	var out []ui.Session
	for _, p := range stdio {
		out = append(out, withClient(ui.Session{Endpoint: "stdio", Identity: s.local, Protocol: p.ProtocolVersion}, p))
	}
	for _, h := range s.book.List() {
		out = append(out, withClient(ui.Session{
			ID: h.ID, Endpoint: transport.Endpoint(h.View), Identity: h.Identity, Agent: h.Agent, Protocol: h.Protocol,
			Created: h.Created, LastSeen: h.LastSeen,
		}, clients[h.ID]))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

func withClient(s ui.Session, p *mcp.InitializeParams) ui.Session {
	if p != nil && p.ClientInfo != nil {
		s.Client, s.ClientVersion = p.ClientInfo.Name, p.ClientInfo.Version
	}
	return s
}

// routes are the status page's endpoints: the page and its event stream for
// admin identities (a browser signs in with an API key kept in a cookie),
// its script and style sheet and the sign-in form for anyone.
func (s *statusPage) routes(u *ui.UI) []transport.Route {
	admin := func(pattern string, h http.Handler) transport.Route {
		return transport.Route{Pattern: pattern, Access: transport.AccessAdmin, Handler: h,
			CredentialCookie: ui.CookieName, Unauthenticated: u.SignIn()}
	}
	return []transport.Route{
		admin("GET /ui", u.Page()),
		admin("GET /ui/events", u.Events()),
		{Pattern: "GET /ui/assets/{file}", Handler: u.Assets()},
		{Pattern: "POST /ui/login", Handler: u.Login()},
		{Pattern: "POST /ui/logout", Handler: u.Logout()},
	}
}

// feedObserver passes everything to the metrics and audit observer and tells
// the status page's feed of calls, refusals and upstream changes.
type feedObserver struct {
	aggregator.Observer
	feed *ui.Feed
	// lastError returns an upstream's last error; it is called only from
	// UpstreamState, which the aggregator calls holding no lock.
	lastError func(upstream string) string
	now       func() time.Time
}

func (o *feedObserver) ToolCall(c aggregator.ToolCall) {
	o.Observer.ToolCall(c)
	o.feed.ToolCall(ui.Call{Time: c.Time, Tool: c.Tool, Upstream: c.Upstream, Identity: c.Identity,
		Outcome: c.Outcome, DurationMS: float64(c.Duration.Microseconds()) / 1000})
}

func (o *feedObserver) RateLimited(identity string) {
	o.Observer.RateLimited(identity)
	o.feed.RateLimited(identity, o.now())
}

func (o *feedObserver) UpstreamState(upstream string, up bool) {
	o.Observer.UpstreamState(upstream, up)
	tr := ui.Transition{Time: o.now(), Upstream: upstream, State: string(aggregator.StateUp)}
	if !up {
		tr.State, tr.Error = string(aggregator.StateDown), o.lastError(upstream)
	}
	o.feed.UpstreamTransition(tr)
}

func (o *feedObserver) UpstreamRestart(upstream string) {
	o.Observer.UpstreamRestart(upstream)
	o.feed.Changed()
}

func (o *feedObserver) BreakerState(upstream, state string) {
	o.Observer.BreakerState(upstream, state)
	o.feed.Changed()
}

func (o *feedObserver) CatalogSize(kind string, n int) {
	o.Observer.CatalogSize(kind, n)
	o.feed.Changed()
}
