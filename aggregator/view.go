package aggregator

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DownstreamProtocolVersions are the protocol versions the gateway speaks to
// its clients. 2026-07-28 is left out until its multi-round-trip requests can
// be bridged to upstreams (NOTES-go-sdk.md).
var DownstreamProtocolVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// DefaultPageSize is the number of items in one page of a downstream list.
const DefaultPageSize = 1000

// sentinel names: one registration per kind in each view's mcp.Server. The
// view answers every list, call, get and read itself from its catalog, so
// clients never see these; re-adding one is how the gateway makes the SDK
// send list_changed to every session (debounced by the SDK) after the
// catalog's diff says something changed.
const (
	sentinelName = "mcp-gateway-list-changed"
	sentinelURI  = "mcp-gateway:list-changed"
)

// view is one downstream face of the gateway: the merged catalog (every
// upstream, prefixed names) or one upstream's catalog with its own names. Each
// view has its own mcp.Server.
type view struct {
	name      string // "" for the merged view
	server    *mcp.Server
	sources   []*upstream // sorted by name; under mu (setSources replaces it)
	prefixed  bool
	pageSize  int
	log       *slog.Logger
	waitStart func(context.Context)              // blocks until start-up listing is done
	identity  func(mcp.Request) *policy.Identity // who a request runs as
	obs       Observer

	cat atomic.Pointer[catalog]

	budgets Budgets // nil: no tool budgets
	uses    uses    // calls per tool, to rank within a budget
	seen    lastListed
	// reidentify maps the identity a session last listed as to what it
	// runs as now (set by Reidentify); nil: the same.
	reidentify atomic.Pointer[func(*policy.Identity) *policy.Identity]

	// relayHandler is the server's receiving chain as the relay lane runs
	// it: the same middlewares in the same order, ending in dispatch.
	relayHandler mcp.MethodHandler

	mu       sync.Mutex // serialises rebuilds
	problems string     // last logged problems, to log only changes
}

func newView(name string, sources []*upstream, prefixed bool, opts *Options, waitStart func(context.Context), identity func(mcp.Request) *policy.Identity, relayed *relaySessions) *view {
	v := &view{
		name: name, sources: sources, prefixed: prefixed, pageSize: opts.PageSize,
		log: opts.Logger, waitStart: waitStart, identity: identity, obs: opts.Observer, budgets: opts.Budgets,
	}
	if name != "" {
		v.log = v.log.With("view", name)
	}
	v.cat.Store(buildCatalog(nil))
	v.server = mcp.NewServer(opts.Implementation, &mcp.ServerOptions{
		Instructions:              opts.Instructions,
		Logger:                    opts.Logger,
		SupportedProtocolVersions: DownstreamProtocolVersions,
		PageSize:                  opts.PageSize,
		Capabilities: &mcp.ServerCapabilities{
			Tools:       &mcp.ToolCapabilities{ListChanged: true},
			Prompts:     &mcp.PromptCapabilities{ListChanged: true},
			Resources:   &mcp.ResourceCapabilities{ListChanged: true, Subscribe: true},
			Logging:     &mcp.LoggingCapabilities{},
			Completions: &mcp.CompletionCapabilities{},
		},
		CompletionHandler: v.complete,
		// A client's roots changed: tell the upstreams it uses, which then
		// ask roots/list again (answered by the client that owns them).
		RootsListChangedHandler: func(_ context.Context, req *mcp.RootsListChangedRequest) {
			for _, u := range v.upstreams() {
				u.rootsChanged(req.Session)
			}
		},
		SubscribeHandler:   v.subscribe,
		UnsubscribeHandler: v.unsubscribe,
	})
	v.server.AddReceivingMiddleware(v.dispatch)
	v.server.AddSendingMiddleware(v.onlyChanged)
	v.relayHandler = v.dispatch(relayUnreachable)
	if opts.Sessions != nil {
		opts.Sessions.Track(name, v.server)
		v.relayHandler = opts.Sessions.Middleware(name)(v.relayHandler)
	}
	if relayed != nil {
		v.server.AddReceivingMiddleware(relayed.middleware(name)) // the SDK lane's only
	}
	if opts.TracerProvider != nil { // Tracing (issue 7): added last, so outermost
		tracing := requestTracing(opts.TracerProvider)
		v.server.AddReceivingMiddleware(tracing)
		v.relayHandler = tracing(v.relayHandler)
	}
	return v
}

// upstreams returns the view's sources now.
func (v *view) upstreams() []*upstream {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.sources
}

// setSources makes srcs the view's upstreams (an upstream was added,
// replaced or removed) and rebuilds its catalog.
func (v *view) setSources(srcs []*upstream) {
	v.mu.Lock()
	v.sources = srcs
	v.mu.Unlock()
	v.rebuild()
}

// rebuild makes a new catalog from the sources' current lists, swaps it in,
// and notifies sessions of each list that changed.
func (v *view) rebuild() {
	v.mu.Lock()
	defer v.mu.Unlock()
	var srcs []source
	for _, u := range v.sources {
		l := u.lists.Load()
		prefix := ""
		if v.prefixed {
			prefix = u.spec.Prefix
		}
		srcs = append(srcs, source{up: u, prefix: prefix, lists: l})
	}
	next := buildCatalog(srcs)
	prev := v.cat.Swap(next)
	if v.name == "" {
		v.obs.CatalogSize("tools", len(next.tools))
		v.obs.CatalogSize("prompts", len(next.prompts))
		v.obs.CatalogSize("resources", len(next.resources))
		v.obs.CatalogSize("resource_templates", len(next.templates))
	}
	if p := strings.Join(next.problems, "\n"); p != v.problems {
		for _, msg := range next.problems {
			v.log.Warn(msg)
		}
		v.problems = p
	}
	live := map[*mcp.ServerSession]bool{}
	for ss := range v.server.Sessions() {
		live[ss] = true
	}
	v.seen.prune(live)
	if next.toolsSum != prev.toolsSum {
		v.server.AddTool(&mcp.Tool{Name: sentinelName, InputSchema: map[string]any{"type": "object"}}, nil)
	}
	if next.promptsSum != prev.promptsSum {
		v.server.AddPrompt(&mcp.Prompt{Name: sentinelName}, nil)
	}
	if next.resourcesSum != prev.resourcesSum {
		v.server.AddResource(&mcp.Resource{Name: sentinelName, URI: sentinelURI}, nil)
	}
}

// dispatch is the view's receiving middleware: it serves the catalog methods
// from the catalog, under the caller's policy, and leaves the rest
// (initialize, ping, completion, …) to the SDK.
func (v *view) dispatch(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		// Who the request runs as travels with it to the upstream: an
		// isolated connection is made with that identity's credentials.
		ctx = policy.NewContext(ctx, v.identity(req))
		switch r := req.(type) {
		case *mcp.ListToolsRequest:
			v.waitStart(ctx)
			cat, p := v.cat.Load(), v.identity(req)
			v.seen.note(r.Session, listTools, cat, p, isLocal(req))
			return listPage(v, v.visibleTools(cat, p, r.Session), cursorOf(r.Params), func(t *mcp.Tool) string { return t.Name },
				func(items []*mcp.Tool, next string) mcp.Result {
					return &mcp.ListToolsResult{Tools: items, NextCursor: next, Cacheable: cacheFor(p)}
				})
		case *mcp.ListPromptsRequest:
			v.waitStart(ctx)
			cat, p := v.cat.Load(), v.identity(req)
			v.seen.note(r.Session, listPrompts, cat, p, isLocal(req))
			return listPage(v, visiblePrompts(cat, p), cursorOf(r.Params), func(x *mcp.Prompt) string { return x.Name },
				func(items []*mcp.Prompt, next string) mcp.Result {
					return &mcp.ListPromptsResult{Prompts: items, NextCursor: next, Cacheable: cacheFor(p)}
				})
		case *mcp.ListResourcesRequest:
			v.waitStart(ctx)
			cat, p := v.cat.Load(), v.identity(req)
			v.seen.note(r.Session, listResources, cat, p, isLocal(req))
			return listPage(v, visibleResources(cat, p), cursorOf(r.Params), func(x *mcp.Resource) string { return x.URI },
				func(items []*mcp.Resource, next string) mcp.Result {
					return &mcp.ListResourcesResult{Resources: items, NextCursor: next, Cacheable: cacheFor(p)}
				})
		case *mcp.ListResourceTemplatesRequest:
			v.waitStart(ctx)
			cat, p := v.cat.Load(), v.identity(req)
			v.seen.note(r.Session, listResources, cat, p, isLocal(req))
			return listPage(v, visibleTemplates(cat, p), cursorOf(r.Params), func(x *mcp.ResourceTemplate) string { return x.URITemplate },
				func(items []*mcp.ResourceTemplate, next string) mcp.Result {
					return &mcp.ListResourceTemplatesResult{ResourceTemplates: items, NextCursor: next, Cacheable: cacheFor(p)}
				})
		case *mcp.CallToolRequest:
			if res, ok, err := v.callMeta(ctx, r); ok {
				return res, err
			}
			v.uses.add(r.Params.Name)
			return v.callTool(ctx, r)
		case *mcp.GetPromptRequest:
			return v.getPrompt(ctx, r)
		case *mcp.ReadResourceRequest:
			return v.readResource(ctx, r)
		case *mcp.ServerRequest[*mcp.SetLoggingLevelParams]:
			res, err := next(ctx, method, req) // the SDK keeps the session's level
			if err == nil && r.Params != nil {
				for _, u := range v.upstreams() {
					u.setLogLevel(ctx, r.Session, r.Params.Level)
				}
			}
			return res, err
		}
		return next(ctx, method, req)
	}
}

// cursorOf returns a list request's cursor; params may be nil.
func cursorOf(p interface{ GetProgressToken() any }) string {
	switch p := p.(type) {
	case *mcp.ListToolsParams:
		if p != nil {
			return p.Cursor
		}
	case *mcp.ListPromptsParams:
		if p != nil {
			return p.Cursor
		}
	case *mcp.ListResourcesParams:
		if p != nil {
			return p.Cursor
		}
	case *mcp.ListResourceTemplatesParams:
		if p != nil {
			return p.Cursor
		}
	}
	return ""
}

func filter[T any](items []T, keep func(T) bool) []T {
	out := make([]T, 0, len(items))
	for _, it := range items {
		if keep(it) {
			out = append(out, it)
		}
	}
	return out
}

// listPage returns the page of items after the cursor; items are sorted by key
// and the cursor is the key of the last item of the previous page.
func listPage[T any](v *view, items []T, cursor string, key func(T) string, result func([]T, string) mcp.Result) (mcp.Result, error) {
	start := 0
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			return nil, fault.Wire(fault.InvalidParams("invalid cursor"))
		}
		last := string(b)
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > last })
	}
	end := min(start+v.pageSize, len(items))
	page := items[start:end]
	if page == nil {
		page = []T{}
	}
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
	}
	return result(page, next), nil
}

// catalogFor returns the catalog to route a request by. A name that is not
// there yet may belong to an upstream still making its first connection: a
// client that calls a tool it knows right after start-up waits for it, as a
// list request would.
func (v *view) catalogFor(ctx context.Context, found func(*catalog) bool) *catalog {
	cat := v.cat.Load()
	if found(cat) {
		return cat
	}
	v.waitStart(ctx)
	return v.cat.Load()
}

func (v *view) callTool(ctx context.Context, req *mcp.CallToolRequest) (mcp.Result, error) {
	start := time.Now()
	p := v.identity(req)
	name := req.Params.Name
	cat := v.catalogFor(ctx, func(c *catalog) bool { _, ok := c.toolRoutes[name]; return ok })
	route, ok := cat.toolRoutes[name]
	rec := ToolCall{Time: start, Identity: p.Name, Session: req.Session.ID(), Tool: name, Arguments: req.Params.Arguments}
	var res *mcp.CallToolResult
	var err error
	allowed := ok && mayCall(p, route)
	tracePolicy(ctx, start, p, name, route, ok, allowed) // Tracing (issue 7): the decision as a child span
	switch {
	case !ok && cat.withheldTools[name] != "":
		err = fault.InvalidParams(cat.withheldTools[name])
	case !ok:
		err = fault.UnknownTool(name)
	case !allowed:
		rec.Upstream, rec.UpstreamTool = route.up.spec.Name, route.original
		err = fault.Denied(p.Name, fmt.Sprintf("tool %q", name))
	default:
		rec.Upstream, rec.UpstreamTool = route.up.spec.Name, route.original
		idempotent := route.tool.Annotations != nil && route.tool.Annotations.IdempotentHint
		res, err = route.up.callTool(ctx, req, route.original, idempotent)
	}
	rec.Duration = time.Since(start)
	cls := fault.Classify(err)
	rec.Outcome = cls.Outcome
	if err == nil && res.IsError {
		rec.Outcome = fault.OutcomeError
	}
	noteOutcome(ctx, rec.Outcome)
	v.obs.Request("tools/call", rec.Upstream, rec.Outcome, rec.Duration)
	v.obs.ToolCall(rec)
	if err != nil {
		v.log.Debug("tools/call failed", "upstream", rec.Upstream, "tool", rec.UpstreamTool, "err", err)
		return nil, fault.WireFor(rec.Upstream, err)
	}
	return res, nil
}

func (v *view) getPrompt(ctx context.Context, req *mcp.GetPromptRequest) (mcp.Result, error) {
	cat := v.catalogFor(ctx, func(c *catalog) bool { _, ok := c.promptRoutes[req.Params.Name]; return ok })
	route, ok := cat.promptRoutes[req.Params.Name]
	if !ok && cat.withheldPrompts[req.Params.Name] != "" {
		return nil, fault.Wire(fault.InvalidParams(cat.withheldPrompts[req.Params.Name]))
	}
	if !ok {
		return nil, fault.Wire(fault.InvalidParams(fmt.Sprintf("unknown prompt %q", req.Params.Name)))
	}
	return observe(v, ctx, "prompts/get", route.up, req, func() (*mcp.GetPromptResult, error) {
		return route.up.getPrompt(ctx, req, route.original)
	})
}

// observe checks that the caller may read from the upstream, runs f, and
// reports the request to the observer.
func observe[R mcp.Result](v *view, ctx context.Context, method string, up *upstream, req mcp.Request, f func() (R, error)) (mcp.Result, error) {
	start := time.Now()
	p := v.identity(req)
	var res R
	var err error
	if p.MayRead(up.spec.Name) {
		res, err = f()
	} else {
		err = fault.Denied(p.Name, method+" on upstream "+strconv.Quote(up.spec.Name))
	}
	outcome := fault.Classify(err).Outcome
	noteOutcome(ctx, outcome)
	v.obs.Request(method, up.spec.Name, outcome, time.Since(start))
	if err != nil {
		return nil, fault.WireFor(up.spec.Name, err)
	}
	return res, nil
}

func (v *view) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (mcp.Result, error) {
	cat := v.catalogFor(ctx, func(c *catalog) bool { _, ok := c.resourceUpstream(req.Params.URI); return ok })
	up, ok := cat.resourceUpstream(req.Params.URI)
	if !ok {
		return nil, fault.Wire(fault.ResourceNotFound(req.Params.URI))
	}
	return observe(v, ctx, "resources/read", up, req, func() (*mcp.ReadResourceResult, error) {
		return up.readResource(ctx, req)
	})
}

// subscribe routes resources/subscribe to the upstream serving the URI, if
// the caller may read from it.
func (v *view) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	up, err := v.resourceFor(ctx, req, req.Params.URI, "resources/subscribe")
	if err != nil {
		return err
	}
	if err := up.subscribe(ctx, req.Session, req.Params.URI); err != nil {
		return fault.WireFor(up.spec.Name, err)
	}
	return nil
}

func (v *view) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	up, err := v.resourceFor(ctx, req, req.Params.URI, "resources/unsubscribe")
	if err != nil {
		return err
	}
	if err := up.unsubscribe(ctx, req.Session, req.Params.URI); err != nil {
		return fault.WireFor(up.spec.Name, err)
	}
	return nil
}

// resourceFor routes a resource URI for a request that acts on it: the
// upstream serving it, once start-up listing is done, if the caller may read
// from that upstream.
func (v *view) resourceFor(ctx context.Context, req mcp.Request, uri, method string) (*upstream, error) {
	cat := v.catalogFor(ctx, func(c *catalog) bool { _, ok := c.resourceUpstream(uri); return ok })
	up, ok := cat.resourceUpstream(uri)
	if !ok {
		return nil, fault.Wire(fault.ResourceNotFound(uri))
	}
	if p := v.identity(req); !p.MayRead(up.spec.Name) {
		return nil, fault.Wire(fault.Denied(p.Name, method+" on upstream "+strconv.Quote(up.spec.Name)))
	}
	return up, nil
}

// complete routes completion/complete by its reference: a prompt by its
// exposed name (mapped back), a resource template by URI.
func (v *view) complete(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	ref := req.Params.Ref
	if ref == nil {
		return nil, fault.Wire(fault.InvalidParams("missing ref"))
	}
	cat := v.cat.Load()
	var up *upstream
	params := *req.Params
	switch ref.Type {
	case "ref/prompt":
		route, ok := cat.promptRoutes[ref.Name]
		if !ok {
			return nil, fault.Wire(fault.InvalidParams(fmt.Sprintf("unknown prompt %q", ref.Name)))
		}
		up = route.up
		params.Ref = &mcp.CompleteReference{Type: ref.Type, Name: route.original}
	case "ref/resource":
		u, ok := cat.templateByID[ref.URI] // a template is referenced by its URI template
		if !ok {
			u, ok = cat.resourceUpstream(ref.URI)
		}
		if !ok {
			return nil, fault.Wire(fault.ResourceNotFound(ref.URI))
		}
		up = u
	default:
		return nil, fault.Wire(fault.InvalidParams(fmt.Sprintf("unknown ref type %q", ref.Type)))
	}
	if p := v.identity(req); !p.MayRead(up.spec.Name) {
		return nil, fault.Wire(fault.Denied(p.Name, "completion/complete on upstream "+strconv.Quote(up.spec.Name)))
	}
	res, err := up.complete(ctx, req.Session, &params)
	if err != nil {
		return nil, fault.WireFor(up.spec.Name, err)
	}
	return res, nil
}
