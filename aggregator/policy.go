package aggregator

import (
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// PrincipalKey is the key in sdkauth.TokenInfo.Extra under which the HTTP
// front door puts the *Principal a request runs as.
const PrincipalKey = "mcp-gateway/principal"

// Scopes a Principal can hold (SPEC §7).
const (
	// ScopeRead allows listing, reading resources, getting prompts and
	// calling tools annotated readOnlyHint.
	ScopeRead = "read"
	// ScopeWrite allows every tool call.
	ScopeWrite = "write"
)

// Principal is who a downstream request runs as and what it may do.
type Principal struct {
	// Name identifies the principal in logs, limits and audit records.
	Name string
	// Kind says how it authenticated ("api_key", "agent", "oauth", "local", "anonymous").
	Kind string
	// Upstreams it may use; "*" means all.
	Upstreams []string
	// Tools it may call, as globs on exposed names; empty means all.
	Tools []string
	// Scopes it holds: ScopeRead, ScopeWrite.
	Scopes []string
	// RPM and Burst are its rate limit; RPM < 0 means unlimited.
	RPM, Burst int
	// Admin principals see every session in /agents/sessions.
	Admin bool
	// Agent is the agent name of an agent token.
	Agent string
}

// LocalPrincipal is the default identity of the stdio downstream: the local
// user, with full access and no rate limit.
func LocalPrincipal() *Principal {
	return &Principal{Name: "local", Kind: "local", Upstreams: []string{"*"}, Scopes: []string{ScopeRead, ScopeWrite}, RPM: -1, Admin: true}
}

// AllowsUpstream reports whether p may use the upstream.
func (p *Principal) AllowsUpstream(name string) bool {
	return slices.Contains(p.Upstreams, "*") || slices.Contains(p.Upstreams, name)
}

// AllowsTool reports whether p may see and call the exposed tool name.
func (p *Principal) AllowsTool(exposed string) bool {
	return len(p.Tools) == 0 || globMatch(p.Tools, exposed)
}

// HasScope reports whether p holds the scope.
func (p *Principal) HasScope(s string) bool { return slices.Contains(p.Scopes, s) }

// mayCall reports whether p may call the routed tool: it must see it, and
// hold write, or read for a tool annotated readOnlyHint.
func (p *Principal) mayCall(r toolRoute) bool {
	if !p.AllowsUpstream(r.up.spec.Name) || !p.AllowsTool(r.policyName) {
		return false
	}
	t := r.tool
	if p.HasScope(ScopeWrite) {
		return true
	}
	return p.HasScope(ScopeRead) && t.Annotations != nil && t.Annotations.ReadOnlyHint
}

// principal is who req runs as: the Principal the HTTP front door attached,
// else the local (stdio) one.
func (a *Aggregator) principal(req mcp.Request) *Principal {
	if extra := req.GetExtra(); extra != nil && extra.TokenInfo != nil {
		if p, ok := extra.TokenInfo.Extra[PrincipalKey].(*Principal); ok && p != nil {
			return p
		}
	}
	return a.opts.Local
}

// unrestricted reports whether p sees the whole catalog, so lists need no
// filtering.
func (p *Principal) unrestricted() bool {
	return slices.Contains(p.Upstreams, "*") && len(p.Tools) == 0 && p.HasScope(ScopeWrite)
}

// mayRead reports whether p may list and read the upstream's prompts and
// resources.
func (p *Principal) mayRead(upstream string) bool {
	return p.AllowsUpstream(upstream) && (p.HasScope(ScopeRead) || p.HasScope(ScopeWrite))
}

// cache is the cache scope of a list result for p: lists of a restricted
// principal are its own.
func (p *Principal) cache() mcp.Cacheable {
	if p.unrestricted() {
		return mcp.Cacheable{CacheScope: "public"}
	}
	return mcp.Cacheable{CacheScope: "private"}
}
