// Package policy is the gateway's one record of who a request runs as and
// what it may do.
//
// A credential becomes an [Identity] once — when the authenticator verifies
// it, with the gateway's defaults already applied — and every layer reads the
// same record: the front door (session binding, the rate limit, the scope
// needed for /mcp, admin routes), the aggregator (what it may list, read and
// call), audit and metrics. Adding a policy field touches this type and the
// code that uses it.
//
// The package is a leaf: it imports only the standard library and go-sdk's
// auth package, so auth, transport and aggregator may all import it.
package policy

import (
	"context"
	"path"
	"slices"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
)

// Kinds of identity, by the credential that established it.
const (
	KindAPIKey    = "api_key"
	KindAgent     = "agent"
	KindOAuth     = "oauth"
	KindLocal     = "local"
	KindAnonymous = "anonymous"
)

// Scopes an identity may hold. ScopeRead allows listing, reading resources,
// getting prompts and calling tools annotated readOnlyHint; ScopeWrite allows
// every tool call. Neither implies the other.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// AllUpstreams in [Identity.Upstreams] allows every upstream.
const AllUpstreams = "*"

// Unlimited is the [Limit.RPM] of an identity that is not rate limited.
const Unlimited = -1

// Limit is an identity's rate limit, already resolved against the gateway's
// defaults: RPM < 0 means unlimited; Burst is at least 1 otherwise.
type Limit struct {
	RPM   int
	Burst int
}

// Identity is who a request runs as and what it may do. Records are built
// once per credential and shared: they are immutable after construction, so
// safe for concurrent use without copying.
type Identity struct {
	// Name identifies the identity uniquely across kinds — "api_key:alice",
	// "agent:alice/release-bot", "oauth:<sub>", "local:local". Sessions are
	// bound to it, rate limits keyed by it, audit lines and metrics name it.
	// [New] sets it from Kind, Owner and Agent.
	Name string
	// Kind is one of the Kind constants.
	Kind string
	// Owner is the API key's owner, the agent token's issuing key owner, the
	// OAuth token's subject, or the local identity's owner.
	Owner string
	// Agent and AgentVersion name the agent of an agent token.
	Agent, AgentVersion string
	// Upstreams it may use; AllUpstreams allows all, empty allows none.
	Upstreams []string
	// Tools are path.Match globs on the merged catalog's exposed tool names;
	// empty allows all.
	Tools []string
	// Scopes it holds: ScopeRead and/or ScopeWrite.
	Scopes []string
	// Limit is its rate limit.
	Limit Limit
	// Admin identities see every session, the effective config and the
	// status page.
	Admin bool
	// Expiry is when the credential expires; zero for API keys and the local
	// identity.
	Expiry time.Time

	// ti is the record as the SDK's token info, made once by New: the front
	// door hands it over with every request.
	ti *sdkauth.TokenInfo
}

// New returns id with its Name set from Kind, Owner and Agent. Build every
// record through it.
func New(id Identity) *Identity {
	id.Name = id.Kind + ":" + id.Owner
	if id.Kind == KindAgent {
		id.Name += "/" + id.Agent
	}
	p := &id
	p.ti = p.newTokenInfo()
	return p
}

// Local is the default identity of the stdio downstream and the CLI: the
// local user, with full access, admin, and no rate limit.
func Local() *Identity {
	return New(Identity{Kind: KindLocal, Owner: "local", Upstreams: []string{AllUpstreams},
		Scopes: []string{ScopeRead, ScopeWrite}, Limit: Limit{RPM: Unlimited}, Admin: true})
}

// AllowsUpstream reports whether id may use the upstream. A nil id allows
// nothing.
func (id *Identity) AllowsUpstream(name string) bool {
	return id != nil && (slices.Contains(id.Upstreams, AllUpstreams) || slices.Contains(id.Upstreams, name))
}

// AllowsTool reports whether id's tool globs match the exposed tool name. It
// checks neither the upstream nor the scopes. A nil id allows nothing.
func (id *Identity) AllowsTool(exposed string) bool {
	if id == nil {
		return false
	}
	if len(id.Tools) == 0 {
		return true
	}
	for _, p := range id.Tools {
		if ok, _ := path.Match(p, exposed); ok {
			return true
		}
	}
	return false
}

// HasScope reports whether id holds scope s. A nil id holds none.
func (id *Identity) HasScope(s string) bool {
	return id != nil && slices.Contains(id.Scopes, s)
}

// MayCall reports whether id may see and call a tool: the upstream and the
// tool's exposed name must be allowed, and id must hold write, or read for a
// tool annotated readOnlyHint.
func (id *Identity) MayCall(upstream, exposed string, readOnly bool) bool {
	if !id.AllowsUpstream(upstream) || !id.AllowsTool(exposed) {
		return false
	}
	return id.HasScope(ScopeWrite) || readOnly && id.HasScope(ScopeRead)
}

// MayRead reports whether id may list and read the upstream's prompts and
// resources.
func (id *Identity) MayRead(upstream string) bool {
	return id.AllowsUpstream(upstream) && (id.HasScope(ScopeRead) || id.HasScope(ScopeWrite))
}

// MayUseMCP reports whether id holds a scope that lets it use the MCP
// endpoints at all.
func (id *Identity) MayUseMCP() bool { return id.HasScope(ScopeRead) || id.HasScope(ScopeWrite) }

// Unrestricted reports whether id sees the whole catalog, so lists need no
// filtering and may be cached publicly.
func (id *Identity) Unrestricted() bool {
	return id != nil && slices.Contains(id.Upstreams, AllUpstreams) && len(id.Tools) == 0 && id.HasScope(ScopeWrite)
}

// tokenInfoKey is the key of the record in sdkauth.TokenInfo.Extra.
const tokenInfoKey = "mcp-gateway/identity"

// TokenInfo returns id as the SDK's token info, which the SDK hands to every
// MCP request of the HTTP request (RequestExtra.TokenInfo): UserID is
// id.Name (the SDK binds sessions to it), and Extra holds id itself, which
// [FromTokenInfo] returns.
//
// A record built by [New] returns the one token info New made; the caller
// must not modify it.
func (id *Identity) TokenInfo() *sdkauth.TokenInfo {
	if id.ti != nil && FromTokenInfo(id.ti) == id {
		return id.ti // not a copy of the record, whose token info names the original
	}
	return id.newTokenInfo()
}

func (id *Identity) newTokenInfo() *sdkauth.TokenInfo {
	return &sdkauth.TokenInfo{
		Scopes:     id.Scopes,
		Expiration: id.Expiry,
		UserID:     id.Name,
		Extra:      map[string]any{tokenInfoKey: id},
	}
}

// FromTokenInfo returns the record [Identity.TokenInfo] stored, or nil.
func FromTokenInfo(ti *sdkauth.TokenInfo) *Identity {
	if ti == nil {
		return nil
	}
	id, _ := ti.Extra[tokenInfoKey].(*Identity)
	return id
}

// contextKey carries an identity in a context.
type contextKey struct{}

// NewContext returns ctx carrying id: the identity an upstream connection
// is made for, so that what builds the connection can choose that
// identity's credentials.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the identity [NewContext] put in ctx, or nil.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(contextKey{}).(*Identity)
	return id
}
