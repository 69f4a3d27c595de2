// Package aggregator puts many upstream MCP servers behind one: it connects
// to each upstream as an MCP client, merges their tools, prompts, resources
// and resource templates into catalogs with routing tables, and serves those
// catalogs as mcp.Servers that forward every call to the right upstream.
//
// It knows nothing of HTTP serving or of the config file: cmd maps the config
// into UpstreamSpecs and Options, and transport serves the mcp.Servers.
package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/mcp-gateway/mcp-gateway/sessions"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/trace"
)

// DefaultVersion is the version reported when Options.Version is empty: an
// unstamped build.
const DefaultVersion = "dev"

// Options configures an Aggregator. The zero value is usable.
type Options struct {
	// Logger receives the aggregator's logs; nil discards them.
	Logger *slog.Logger
	// Version is the gateway's version: downstream clients see it in
	// serverInfo, upstreams in clientInfo. Empty means [DefaultVersion].
	Version string
	// Implementation is what downstream clients see in serverInfo. Nil means
	// {Name: "mcp-gateway", Version: Version}.
	Implementation *mcp.Implementation
	// Instructions are sent to downstream clients at initialization.
	Instructions string
	// PageSize is the size of one page of a downstream list. Zero means
	// [DefaultPageSize].
	PageSize int
	// Local is the identity of requests that carry none (the stdio
	// downstream, the CLI). Nil means [policy.Local].
	Local *policy.Identity
	// Sessions, if set, records the downstream sessions of every view's
	// server, where they begin and end.
	Sessions *sessions.Book
	// Observer receives metrics and audit events; nil means [NopObserver].
	Observer Observer
	// TracerProvider traces downstream requests, policy decisions and
	// upstream calls (trace.go); nil means no tracing, at no cost.
	TracerProvider trace.TracerProvider
	// ClientCapabilities are what the gateway's shared upstream sessions
	// declare. Nil means every capability the gateway can bridge (sampling,
	// elicitation, roots), each request then delivered to the client that
	// caused it if that client declared it. Set it to an empty value when no
	// downstream client can answer such requests (the CLI commands), so that
	// upstreams do not ask.
	ClientCapabilities *mcp.ClientCapabilities
	// StartupWait bounds how long the first list requests wait for upstreams
	// that are still making their first connection attempt, so that a client
	// that lists right after start-up sees a complete catalog. Zero means 10s.
	StartupWait time.Duration
	// Governor reviews every upstream listing before it is served; nil
	// serves listings as they are.
	Governor Governor
	// Budgets limits the tools each client is listed; nil means no limit.
	Budgets Budgets
	// NoRelay turns the relay lane off: every tools/call goes through
	// go-sdk (Relay declines them all).
	NoRelay bool
}

// Aggregator is the gateway's core. Its methods are safe for concurrent use.
type Aggregator struct {
	opts      Options
	merged    *view
	started   chan struct{} // closed when every upstream made its first attempt
	startOnce sync.Once

	applying sync.Mutex // one Add, Replace or Remove at a time
	local    atomic.Pointer[policy.Identity]

	mu        sync.RWMutex
	upstreams []*upstream // sorted by name
	byName    map[string]*upstream
	single    map[string]*view
	runCtx    context.Context // set while Run runs: upstreams added then start at once
	running   sync.WaitGroup  // every upstream's run, started and added
	relayed   *relaySessions  // what the relay lane knows of HTTP sessions; nil when it is off
}

// New returns an Aggregator for the upstreams. It checks the specs (unique
// names and prefixes, a transport for each) but connects nothing: Run does.
func New(specs []UpstreamSpec, opts *Options) (*Aggregator, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.Implementation == nil {
		o.Implementation = &mcp.Implementation{Name: "mcp-gateway", Title: "MCP Gateway", Version: o.Version}
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.StartupWait <= 0 {
		o.StartupWait = 10 * time.Second
	}
	if o.Local == nil {
		o.Local = policy.Local()
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	a := &Aggregator{opts: o, byName: map[string]*upstream{}, single: map[string]*view{}, started: make(chan struct{})}
	a.local.Store(o.Local)
	if !o.NoRelay {
		a.relayed = &relaySessions{}
	}
	var errs []error
	for _, s := range specs {
		if err := a.checkSpec(s, ""); err != nil {
			errs = append(errs, err)
			continue
		}
		u := a.newUpstream(s)
		a.byName[s.Name] = u
		a.upstreams = append(a.upstreams, u)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sortUpstreams(a.upstreams)
	a.merged = newView("", a.upstreams, true, &a.opts, a.waitStarted, a.identity, a.relayed)
	for _, u := range a.upstreams {
		a.single[u.spec.Name] = newView(u.spec.Name, []*upstream{u}, false, &a.opts, a.waitStarted, a.identity, a.relayed)
	}
	return a, nil
}

// checkSpec checks a spec against the upstreams there are, leaving out
// replacing (the one it replaces, if any): a name, a transport, a prefix
// without the separator and not another upstream's.
func (a *Aggregator) checkSpec(s UpstreamSpec, replacing string) error {
	switch {
	case s.Name == "":
		return errors.New("upstream with an empty name")
	case s.Name != replacing && a.byName[s.Name] != nil:
		return fmt.Errorf("upstream %q: duplicate name", s.Name)
	case s.NewTransport == nil:
		return fmt.Errorf("upstream %q: no transport", s.Name)
	case strings.Contains(s.Prefix, Separator):
		return fmt.Errorf("upstream %q: prefix %q contains %q", s.Name, s.Prefix, Separator)
	}
	for _, u := range a.upstreams {
		if u.spec.Name != replacing && u.spec.Prefix == s.Prefix {
			return fmt.Errorf("upstreams %q and %q have the same prefix %q", u.spec.Name, s.Name, s.Prefix)
		}
	}
	return nil
}

func (a *Aggregator) newUpstream(s UpstreamSpec) *upstream {
	o := &a.opts
	return newUpstream(s, upstreamEnv{log: o.Logger, obs: o.Observer, down: a, changed: a.changed,
		impl: &mcp.Implementation{Name: "mcp-gateway", Version: o.Version}, caps: o.ClientCapabilities, governor: o.Governor,
		noRelay: o.NoRelay})
}

func sortUpstreams(us []*upstream) {
	slices.SortFunc(us, func(x, y *upstream) int { return strings.Compare(x.spec.Name, y.spec.Name) })
}

// snapshot returns the upstreams there are now, sorted by name.
func (a *Aggregator) snapshot() []*upstream {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.upstreams
}

// Server is the merged catalog: every upstream, names prefixed.
func (a *Aggregator) Server() *mcp.Server { return a.merged.server }

// UpstreamServer is one upstream's catalog with its own names, or false if
// there is no such upstream.
func (a *Aggregator) UpstreamServer(name string) (*mcp.Server, bool) {
	a.mu.RLock()
	v, ok := a.single[name]
	a.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return v.server, true
}

// Run connects every upstream concurrently and keeps them connected until ctx
// is done, then closes them (ending stdio children) before it returns. It
// returns an error at once if a required upstream fails its first attempt;
// other upstreams are retried in the background.
func (a *Aggregator) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer a.running.Wait()
	defer cancel()
	a.mu.Lock()
	a.runCtx = ctx
	initial := a.upstreams
	for _, u := range initial {
		a.start(u)
	}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.runCtx = nil // what is added from now on is not started
		a.mu.Unlock()
	}()
	for _, u := range initial {
		select {
		case <-u.firstDone:
		case <-ctx.Done():
			return nil
		}
		if u.spec.Required && u.firstErr != nil {
			return fmt.Errorf("required upstream %q failed to start: %w", u.spec.Name, u.firstErr)
		}
	}
	a.startOnce.Do(func() { close(a.started) })
	<-ctx.Done()
	return nil
}

// Started is closed once every upstream has made its first connection
// attempt (successful or not).
func (a *Aggregator) Started() <-chan struct{} { return a.started }

// waitStarted blocks until start-up is done, StartupWait passed or ctx ended.
func (a *Aggregator) waitStarted(ctx context.Context) {
	select {
	case <-a.started:
		return
	default:
	}
	t := time.NewTimer(a.opts.StartupWait)
	defer t.Stop()
	select {
	case <-a.started:
	case <-t.C:
	case <-ctx.Done():
	}
}

// viewsOf returns the views that include the named upstream: the merged one
// and its own.
func (a *Aggregator) viewsOf(upstream string) []*view {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if v, ok := a.single[upstream]; ok {
		return []*view{a.merged, v}
	}
	return []*view{a.merged}
}

// changed rebuilds the views that include the upstream, after its lists or
// state changed; the other upstreams' views are untouched.
func (a *Aggregator) changed(upstream string) {
	for _, v := range a.viewsOf(upstream) {
		v.rebuild()
	}
}

// clients implements downstream: the sessions of the views that include the
// upstream.
func (a *Aggregator) clients(upstream string) (*mcp.ServerSession, int) {
	var only *mcp.ServerSession
	n := 0
	for _, v := range a.viewsOf(upstream) {
		for ss := range v.server.Sessions() {
			only = ss
			n++
		}
	}
	if n != 1 {
		only = nil
	}
	return only, n
}

// broadcastLog implements downstream: to every session that can see the
// upstream.
func (a *Aggregator) broadcastLog(upstream string, p *mcp.LoggingMessageParams) {
	for _, v := range a.viewsOf(upstream) {
		for ss := range v.server.Sessions() {
			if err := ss.Log(context.Background(), p); err != nil {
				a.opts.Logger.Debug("relaying log message failed", "upstream", upstream, "session", ss.ID(), "err", err)
			}
		}
	}
}

// resourceUpdated implements downstream: the SDK delivers it to the
// sessions subscribed to the URI.
func (a *Aggregator) resourceUpdated(upstream string, p *mcp.ResourceUpdatedNotificationParams) {
	for _, v := range a.viewsOf(upstream) {
		if err := v.server.ResourceUpdated(context.Background(), p); err != nil {
			a.opts.Logger.Debug("relaying resource update failed", "upstream", upstream, "err", err)
		}
	}
}

// Status reports every upstream, sorted by name.
func (a *Aggregator) Status() []UpstreamStatus {
	ups := a.snapshot()
	out := make([]UpstreamStatus, 0, len(ups))
	for _, u := range ups {
		out = append(out, u.status())
	}
	return out
}

// Ready reports whether every required upstream is connected.
func (a *Aggregator) Ready() bool {
	for _, u := range a.snapshot() {
		if u.spec.Required && u.connState() != StateUp {
			return false
		}
	}
	return true
}

// ToolInfo describes one tool of the merged catalog.
type ToolInfo struct {
	Name        string `json:"name"`
	Upstream    string `json:"upstream"`
	Original    string `json:"original_name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// Tools lists the merged catalog's tools, sorted by exposed name.
func (a *Aggregator) Tools() []ToolInfo {
	cat := a.merged.cat.Load()
	out := make([]ToolInfo, 0, len(cat.tools))
	for _, t := range cat.tools {
		r := cat.toolRoutes[t.Name]
		title := t.Title
		if title == "" && t.Annotations != nil {
			title = t.Annotations.Title
		}
		out = append(out, ToolInfo{Name: t.Name, Upstream: r.up.spec.Name, Original: r.original, Title: title, Description: t.Description})
	}
	return out
}
