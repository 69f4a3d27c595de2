package auth

import (
	"context"
	"net/http"
	"path"
	"slices"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
)

// Kinds of [Identity], by the credential that established it.
const (
	KindAPIKey = "api_key"
	KindAgent  = "agent"
	KindOAuth  = "oauth"
	KindLocal  = "local"
)

// Scopes an identity may hold. ScopeRead allows listing, reading, prompts and tools annotated
// readOnlyHint; ScopeWrite allows every tool call. Neither implies the other.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// AllUpstreams in [Identity.Upstreams] allows every upstream.
const AllUpstreams = "*"

// Identity is who made a request and what they may do. The authenticator returns a fresh Identity
// for each call; callers may keep it, and must not modify one they share between goroutines.
type Identity struct {
	// Name is the API key's owner, the agent token's subject (the owner of the key that issued it),
	// the OAuth token's sub, or the local identity's owner.
	Name string
	// Kind is KindAPIKey, KindAgent, KindOAuth or KindLocal.
	Kind string
	// Upstreams are the upstream names this identity may use; "*" allows all, empty allows none.
	Upstreams []string
	// Tools are path.Match globs on exposed tool names; empty allows all.
	Tools []string
	// Scopes are ScopeRead and/or ScopeWrite.
	Scopes []string
	// RPM is the rate limit in requests per minute: 0 means the gateway default, -1 unlimited.
	RPM int
	// Burst is the rate limiter's burst: 0 means the gateway default.
	Burst int
	// Admin may see every identity's sessions and the effective config.
	Admin bool
	// Agent is the agent's name, for KindAgent.
	Agent string
	// AgentVersion is the agent's version, for KindAgent.
	AgentVersion string
	// Expiry is when the credential expires; zero for API keys and the local identity.
	Expiry time.Time
}

// Principal returns a stable key for the identity, unique across kinds: "api_key:alice",
// "agent:alice/claude-code", "oauth:<sub>", "local:local". Use it to bind sessions and to key
// per-identity rate limiters. Two agent tokens for the same agent name of the same owner share it.
func (id *Identity) Principal() string {
	if id == nil {
		return ""
	}
	if id.Kind == KindAgent {
		return id.Kind + ":" + id.Name + "/" + id.Agent
	}
	return id.Kind + ":" + id.Name
}

// AllowsUpstream reports whether id may use the upstream called name. A nil id allows nothing.
func (id *Identity) AllowsUpstream(name string) bool {
	if id == nil {
		return false
	}
	return slices.Contains(id.Upstreams, AllUpstreams) || slices.Contains(id.Upstreams, name)
}

// AllowsTool reports whether id's tool globs match the exposed tool name. It does not check the
// upstream or the scopes. A nil id allows nothing.
func (id *Identity) AllowsTool(exposed string) bool {
	if id == nil {
		return false
	}
	if len(id.Tools) == 0 {
		return true
	}
	for _, pat := range id.Tools {
		if ok, _ := path.Match(pat, exposed); ok {
			return true
		}
	}
	return false
}

// HasScope reports whether id holds scope s. A nil id holds none.
func (id *Identity) HasScope(s string) bool {
	return id != nil && slices.Contains(id.Scopes, s)
}

// Clone returns a deep copy of id.
func (id *Identity) Clone() *Identity {
	if id == nil {
		return nil
	}
	c := *id
	c.Upstreams = slices.Clone(id.Upstreams)
	c.Tools = slices.Clone(id.Tools)
	c.Scopes = slices.Clone(id.Scopes)
	return &c
}

// tokenInfoKey is the key of the Identity in sdkauth.TokenInfo.Extra.
const tokenInfoKey = "mcp-gateway/identity"

// TokenInfo returns id as the SDK's token info: UserID is id.Principal() (the SDK binds HTTP
// sessions to it), Scopes and Expiration are id's, and Extra holds a copy of id, which
// [FromTokenInfo] returns. API keys and the local identity have no expiration: do not pass their
// TokenInfo through sdkauth.RequireBearerToken, which rejects a zero Expiration.
func (id *Identity) TokenInfo() *sdkauth.TokenInfo {
	if id == nil {
		return nil
	}
	return &sdkauth.TokenInfo{
		Scopes:     slices.Clone(id.Scopes),
		Expiration: id.Expiry,
		UserID:     id.Principal(),
		Extra:      map[string]any{tokenInfoKey: id.Clone()},
	}
}

// FromTokenInfo returns the Identity stored by [Identity.TokenInfo], or nil.
func FromTokenInfo(ti *sdkauth.TokenInfo) *Identity {
	if ti == nil {
		return nil
	}
	id, _ := ti.Extra[tokenInfoKey].(*Identity)
	return id
}

// Verifier returns a verifier for sdkauth.RequireBearerToken, which puts the TokenInfo where the
// SDK's streamable handler finds it (and binds sessions to its UserID). The verifier ignores the
// token it is given and authenticates all of the request's headers with [Authenticator.Authenticate],
// so its precedence applies. RequireBearerToken answers 401 by itself, before calling the
// verifier, when the request has no "Authorization: Bearer <token>" header: a caller that accepts
// X-Api-Key or X-Agent-Token alone must add a placeholder bearer header to such requests. Set
// RequireBearerTokenOptions.AllowMissingExpiration, since API keys do not expire.
func (a *Authenticator) Verifier() sdkauth.TokenVerifier {
	return func(ctx context.Context, _ string, req *http.Request) (*sdkauth.TokenInfo, error) {
		var h http.Header
		if req != nil {
			h = req.Header
		}
		id, err := a.Authenticate(ctx, h)
		if err != nil {
			return nil, err
		}
		return id.TokenInfo(), nil
	}
}
