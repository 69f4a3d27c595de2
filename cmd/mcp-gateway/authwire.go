package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/mcp-gateway/mcp-gateway/transport"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
)

// newAuthenticator maps gateway.auth to the authenticator and logs its
// warnings (plaintext keys, a missing agent secret). The gateway's default
// rate limit (gateway.limits) goes with it: the authenticator applies it to
// each identity once, when it builds the identity's record.
func newAuthenticator(cfg *config.Config, logger *slog.Logger) (*auth.Authenticator, error) {
	c := cfg.Gateway.Auth
	o := auth.Options{
		AgentTokens:  auth.AgentTokenOptions{Secret: c.AgentTokens.Secret, TTL: c.AgentTokens.TTL.D(), MaxTTL: c.AgentTokens.MaxTTL.D()},
		Logger:       logger,
		DefaultLimit: defaultLimit(cfg.Gateway.Limits),
	}
	for _, k := range c.APIKeys {
		o.APIKeys = append(o.APIKeys, auth.APIKey{
			Key: k.Key, Owner: k.Owner, AllowedUpstreams: k.AllowedUpstreams, AllowedTools: k.AllowedTools,
			Scopes: k.Scopes, RateLimitRPM: k.RateLimitRPM, Burst: k.Burst, Admin: k.Admin,
		})
	}
	if oa := c.OAuth; oa != nil {
		o.OAuth = &auth.OAuthOptions{
			Issuer: oa.Issuer, Audience: oa.Audience, JWKSURL: oa.JWKSURL, PublicKey: oa.PublicKey,
			Algorithms: oa.Algorithms, Leeway: oa.Leeway.D(), JWKSRefreshMinInterval: oa.JWKSRefreshMinInterval.D(),
			AuthorizationServers: oa.AuthorizationServers, ScopesSupported: oa.ScopesSupported,
			AllowedUpstreams: oa.AllowedUpstreams, AllowedTools: oa.AllowedTools, RateLimitRPM: oa.RateLimitRPM, Burst: oa.Burst,
		}
	}
	if l := c.Local; l != nil {
		o.Local = &auth.LocalOptions{Owner: l.Owner, AllowedUpstreams: l.AllowedUpstreams, AllowedTools: l.AllowedTools, Scopes: l.Scopes, Admin: l.Admin}
	}
	return auth.New(o)
}

// defaultLimit is gateway.limits as the authenticator's default: -1 (no
// limit) becomes 0, which it reads as unlimited.
func defaultLimit(l config.Limits) policy.Limit {
	if l.RateLimitRPM < 0 {
		return policy.Limit{}
	}
	return policy.Limit{RPM: l.RateLimitRPM, Burst: l.Burst}
}

// liveAuth is the authenticator in effect. A reload swaps in a new one,
// which the next request uses: keys, policies and rate limits take effect
// at once. Whether authentication is on is fixed at start.
type liveAuth struct {
	cur atomic.Pointer[auth.Authenticator]
}

func newLiveAuth(a *auth.Authenticator) *liveAuth {
	l := &liveAuth{}
	l.cur.Store(a)
	return l
}

func (l *liveAuth) load() *auth.Authenticator { return l.cur.Load() }

// authOptions wires the authenticator in effect into the HTTP front door;
// cfg returns the config in effect, for GET /config.
func authOptions(la *liveAuth, cfg func() *config.Config, allow func(key string, rpm, burst int) (bool, time.Duration), obs aggregator.Observer) transport.AuthOptions {
	a := la.load()
	o := transport.AuthOptions{
		Anonymous:     a.Anonymous(),
		Challenge:     func(scope string) string { return la.load().Challenge(scope) },
		Allow:         allow,
		OnRateLimited: obs.RateLimited,
		Config:        func() any { return redactedConfig(cfg()) },
	}
	if a.Enabled() {
		o.Authenticate = func(ctx context.Context, h http.Header) (*policy.Identity, error) {
			id, err := la.load().Authenticate(ctx, h)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", transport.ErrUnauthenticated, err)
			}
			return id, nil
		}
		o.RegisterAgent = func(w http.ResponseWriter, r *http.Request, id *policy.Identity) {
			registerAgent(w, r, la.load(), id)
		}
	} else {
		// Without authentication every request runs as the anonymous
		// identity, whose rate limit is the reloadable default.
		o.Authenticate = func(context.Context, http.Header) (*policy.Identity, error) {
			return la.load().Anonymous(), nil
		}
	}
	if a.ResourceMetadata() != nil {
		o.ResourceMetadata = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			md := la.load().ResourceMetadata()
			if md == nil {
				http.NotFound(w, r)
				return
			}
			sdkauth.ProtectedResourceMetadataHandler(md).ServeHTTP(w, r)
		})
	}
	return o
}

// registerAgent serves POST /agents/register: an agent token for the API
// key that asks, never granting more than the key has.
func registerAgent(w http.ResponseWriter, r *http.Request, a *auth.Authenticator, id *policy.Identity) {
	var body struct {
		auth.AgentRequest
		TTL string `json:"ttl,omitempty"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid request body: "+err.Error())
		return
	}
	req := body.AgentRequest
	if body.TTL != "" {
		d, err := time.ParseDuration(body.TTL)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, `ttl: want a positive duration like "1h"`)
			return
		}
		req.TTL = d
	}
	token, exp, granted, err := a.IssueAgentToken(id, req)
	switch {
	case errors.Is(err, auth.ErrForbidden):
		writeError(w, http.StatusForbidden, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{
		"token": token, "token_type": "agent", "header": auth.HeaderAgentToken, "expires_at": exp.UTC(),
		"agent_name": granted.Agent, "upstreams": granted.Upstreams, "scopes": granted.Scopes, "tools": granted.Tools,
	})
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// redacted replaces a secret value in /config output.
const redacted = "[redacted]"

// redactedConfig is the effective config with every secret replaced: API
// keys by their digests, the agent secret, every upstream env value and
// header value (they carry tokens), and OAuth client secrets.
func redactedConfig(cfg *config.Config) *config.Config {
	out := *cfg
	out.MCPServers = make(map[string]*config.Upstream, len(cfg.MCPServers))
	for name, u := range cfg.MCPServers {
		cu := *u
		cu.Env = redactValues(u.Env)
		cu.Headers = redactValues(u.Headers)
		if u.OAuth != nil && u.OAuth.ClientSecret != "" {
			o := *u.OAuth
			o.ClientSecret = redacted
			cu.OAuth = &o
		}
		out.MCPServers[name] = &cu
	}
	out.Gateway.Auth = cfg.Gateway.Auth.Redacted()
	out.Gateway.Redis = cfg.Gateway.Redis.Redacted()
	return &out
}

func redactValues(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = redacted
	}
	return out
}
