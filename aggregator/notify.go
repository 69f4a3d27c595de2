package aggregator

import (
	"context"
	"sync"

	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A view's catalog changes for everyone at once, but each session sees its
// own part of it (its identity's policy, its tool budget). The SDK sends
// list_changed to every session of a server; the view's sending middleware
// drops it for a session whose list is the same as when it was last told
// (or first listed), and for one that has not listed.

// listKind is one of the lists a list_changed notification is about.
type listKind int

const (
	listTools listKind = iota
	listPrompts
	listResources // resources and resource templates: one notification covers both
)

var listChangedKinds = map[string]listKind{
	"notifications/tools/list_changed":     listTools,
	"notifications/prompts/list_changed":   listPrompts,
	"notifications/resources/list_changed": listResources,
}

// seenList is what a session's list was last made from: the catalog when it
// first listed or was last told of a change, and who it last listed as;
// local if as the local identity, which a reload may replace.
type seenList struct {
	cat   *catalog
	id    *policy.Identity
	local bool
}

type seenKey struct {
	ss   *mcp.ServerSession
	kind listKind
}

// lastListed remembers, per session and list, what its list was made from.
type lastListed struct {
	mu sync.Mutex
	m  map[seenKey]seenList
}

func (l *lastListed) note(ss *mcp.ServerSession, kind listKind, cat *catalog, id *policy.Identity, local bool) {
	if ss == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[seenKey]seenList{}
	}
	k := seenKey{ss, kind}
	if was, ok := l.m[k]; ok {
		cat = was.cat
	}
	l.m[k] = seenList{cat, id, local}
}

// told records that the session was told its list changed: from now on it
// is compared with cat, as id.
func (l *lastListed) told(ss *mcp.ServerSession, kind listKind, cat *catalog, id *policy.Identity) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := seenKey{ss, kind}
	if was, ok := l.m[k]; ok {
		l.m[k] = seenList{cat, id, was.local}
	}
}

func (l *lastListed) get(ss *mcp.ServerSession, kind listKind) (seenList, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.m[seenKey{ss, kind}]
	return s, ok
}

// prune forgets sessions that are gone.
func (l *lastListed) prune(live map[*mcp.ServerSession]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.m {
		if !live[k.ss] {
			delete(l.m, k)
		}
	}
}

// visibleTools is the tools of cat that p is listed in ss.
func (v *view) visibleTools(cat *catalog, p *policy.Identity, ss *mcp.ServerSession) []*mcp.Tool {
	items := cat.tools
	if !p.Unrestricted() {
		items = filter(items, func(t *mcp.Tool) bool { return mayCall(p, cat.toolRoutes[t.Name]) })
	}
	if limit, pinned := v.budgetOf(ss, p); limit > 0 {
		items = v.withinBudget(items, limit, pinned)
	}
	return items
}

func visiblePrompts(cat *catalog, p *policy.Identity) []*mcp.Prompt {
	if p.Unrestricted() {
		return cat.prompts
	}
	return filter(cat.prompts, func(x *mcp.Prompt) bool { return p.MayRead(cat.promptRoutes[x.Name].up.spec.Name) })
}

func visibleResources(cat *catalog, p *policy.Identity) []*mcp.Resource {
	if p.Unrestricted() {
		return cat.resources
	}
	return filter(cat.resources, func(x *mcp.Resource) bool { return p.MayRead(cat.resourceUps[x.URI].spec.Name) })
}

func visibleTemplates(cat *catalog, p *policy.Identity) []*mcp.ResourceTemplate {
	if p.Unrestricted() {
		return cat.templates
	}
	return filter(cat.templates, func(x *mcp.ResourceTemplate) bool { return p.MayRead(cat.templateByID[x.URITemplate].spec.Name) })
}

// visibleSum fingerprints the list of kind that p sees in cat.
func (v *view) visibleSum(kind listKind, cat *catalog, p *policy.Identity, ss *mcp.ServerSession) [32]byte {
	switch kind {
	case listTools:
		return fingerprint(v.visibleTools(cat, p, ss))
	case listPrompts:
		return fingerprint(visiblePrompts(cat, p))
	default:
		return fingerprint([]any{visibleResources(cat, p), visibleTemplates(cat, p)})
	}
}

// onlyChanged is the view's sending middleware: it drops a list_changed
// notification for a session whose list, as it would be listed now, is the
// same as when it was last told (or first listed), or that has not listed:
// it has nothing to refresh.
func (v *view) onlyChanged(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		kind, ok := listChangedKinds[method]
		if !ok {
			return next(ctx, method, req)
		}
		ss, _ := req.GetSession().(*mcp.ServerSession)
		seen, ok := v.seen.get(ss, kind)
		now := seen.id
		if f := v.reidentify.Load(); f != nil && now != nil {
			now = (*f)(now)
		}
		if seen.local {
			now = v.identity(&mcp.ListToolsRequest{}) // a request without token info runs as the local identity
		}
		cur := v.cat.Load()
		switch {
		case !ok:
			v.log.Debug("list_changed not sent: the session has not listed", "session", ss.ID(), "method", method)
			return nil, nil
		case now == nil:
			v.log.Debug("list_changed not sent: the session's identity is no longer accepted", "session", ss.ID(), "method", method)
			return nil, nil
		case v.visibleSum(kind, seen.cat, seen.id, ss) == v.visibleSum(kind, cur, now, ss):
			v.log.Debug("list_changed not sent: the session's list is unchanged", "session", ss.ID(), "method", method)
			return nil, nil
		}
		v.seen.told(ss, kind, cur, now)
		return next(ctx, method, req)
	}
}

// isLocal reports whether req runs as the local identity (it carries no
// identity of its own).
func isLocal(req mcp.Request) bool {
	extra := req.GetExtra()
	return extra == nil || policy.FromTokenInfo(extra.TokenInfo) == nil
}

// recheck has the SDK send list_changed to every session; onlyChanged lets
// it through to those whose list is not what they last listed. It is for
// what changes lists without changing the catalog: identities.
func (v *view) recheck() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.server.AddTool(&mcp.Tool{Name: sentinelName, InputSchema: map[string]any{"type": "object"}}, nil)
	v.server.AddPrompt(&mcp.Prompt{Name: sentinelName}, nil)
	v.server.AddResource(&mcp.Resource{Name: sentinelName, URI: sentinelURI}, nil)
}
