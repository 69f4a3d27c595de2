package upauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Challenge is what an upstream's WWW-Authenticate Bearer challenge said.
type Challenge struct {
	// Status is the HTTP status it came with: 401 or 403.
	Status int `json:"status"`
	// ResourceMetadata is the URL of its protected-resource metadata (RFC 9728).
	ResourceMetadata string `json:"resource_metadata,omitempty"`
	// Scopes are the scopes it named.
	Scopes []string `json:"scopes,omitempty"`
	// Error is its error code, such as "invalid_token" or "insufficient_scope".
	Error string `json:"error,omitempty"`
}

// Limits on what a challenge may carry; the upstream is not trusted.
const (
	maxChallengeURL    = 2048
	maxChallengeScopes = 64
	maxScopeLen        = 256
)

// parseChallenge returns the Bearer challenge of a 401 or 403 response, or
// nil when it has none.
func parseChallenge(status int, h http.Header) *Challenge {
	cs, err := oauthex.ParseWWWAuthenticate(h.Values("WWW-Authenticate"))
	if err != nil {
		return nil
	}
	for _, c := range cs {
		if c.Scheme != "bearer" {
			continue
		}
		ch := &Challenge{Status: status, Error: c.Params["error"]}
		if len(ch.Error) > 64 {
			ch.Error = ""
		}
		if u := c.Params["resource_metadata"]; len(u) <= maxChallengeURL {
			ch.ResourceMetadata = u
		}
		for _, s := range strings.Fields(c.Params["scope"]) {
			if len(ch.Scopes) < maxChallengeScopes && len(s) <= maxScopeLen {
				ch.Scopes = append(ch.Scopes, s)
			}
		}
		return ch
	}
	return nil
}

// Probe is what an upstream answered a request without a token.
type Probe struct {
	// Status is the HTTP status of an initialize request sent without a token.
	Status int
	// Challenge is its Bearer challenge, if it sent one.
	Challenge *Challenge
}

// NeedsAuth reports whether the upstream asked for a token.
func (p *Probe) NeedsAuth() bool {
	return p.Status == http.StatusUnauthorized || p.Status == http.StatusForbidden && p.Challenge != nil
}

// probeBody is an initialize request: what the first request of a session is,
// so a server that authorizes per method answers as it would answer the gateway.
const probeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcp-gateway","version":"login-probe"}}}`

// Probe sends up an initialize request without a token (with its configured
// headers) and reports whether it asks for one. A session the upstream opens
// for it is closed again.
func (m *Manager) Probe(ctx context.Context, up Upstream) (*Probe, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, up.URL, strings.NewReader(probeBody))
	if err != nil {
		return nil, err
	}
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	client := m.httpClient(ctx, up)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("probing %s: %w", up.Name, errors.Unwrap(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	p := &Probe{Status: resp.StatusCode}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		p.Challenge = parseChallenge(resp.StatusCode, resp.Header)
	}
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" && resp.StatusCode/100 == 2 {
		if del, err := http.NewRequestWithContext(ctx, http.MethodDelete, up.URL, nil); err == nil {
			for k, v := range up.Headers {
				del.Header.Set(k, v)
			}
			del.Header.Set("Mcp-Session-Id", sid)
			if r, err := client.Do(del); err == nil {
				r.Body.Close()
			}
		}
	}
	return p, nil
}

// discovery is what the metadata says about where and how to log in.
type discovery struct {
	// Resource is the resource indicator (RFC 8707) to ask tokens for.
	Resource string
	// Issuer is the authorization server's issuer identifier.
	Issuer string
	// ASM is the authorization server's metadata; on a server without
	// metadata it holds the 2025-03-26 default endpoints.
	ASM *oauthex.AuthServerMeta
	// NoMetadata is set when the server had none (the defaults are used).
	NoMetadata bool
	// PRMScopes are the protected resource's scopes_supported.
	PRMScopes []string
}

// canonicalResource is the canonical URI of an MCP server: lower-case
// scheme and host, no fragment.
func canonicalResource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// prmCandidates lists where protected-resource metadata may be, in the order
// the MCP specification gives: the challenge's URL, then the well-known URI
// with the endpoint's path, then at the root (whose resource is the origin).
func prmCandidates(fromChallenge, resource string) [][2]string {
	var out [][2]string
	if fromChallenge != "" {
		out = append(out, [2]string{fromChallenge, resource})
	}
	u, err := url.Parse(resource)
	if err != nil {
		return out
	}
	mu := *u
	mu.RawQuery, mu.Fragment = "", ""
	if p := strings.Trim(u.Path, "/"); p != "" {
		mu.Path = "/.well-known/oauth-protected-resource/" + p
		out = append(out, [2]string{mu.String(), resource})
	}
	mu.Path = "/.well-known/oauth-protected-resource"
	root := *u
	root.Path, root.RawPath, root.RawQuery, root.Fragment = "", "", "", ""
	out = append(out, [2]string{mu.String(), root.String()})
	return out
}

// discover finds up's protected-resource metadata (RFC 9728) and its
// authorization server's metadata (RFC 8414, then OpenID Connect discovery),
// falling back to the 2025-03-26 rules for servers without them: the MCP
// server's origin is the authorization server, with its default endpoints.
func (m *Manager) discover(ctx context.Context, client *http.Client, up Upstream, ch *Challenge) (*discovery, error) {
	resource := canonicalResource(up.URL)
	d := &discovery{Resource: resource}
	var fromChallenge string
	if ch != nil && ch.ResourceMetadata != "" {
		if err := checkOAuthURL("the upstream's resource_metadata URL", ch.ResourceMetadata); err != nil {
			return nil, err
		}
		fromChallenge = ch.ResourceMetadata
	}
	var prm *oauthex.ProtectedResourceMetadata
	var prmErr error
	for _, c := range prmCandidates(fromChallenge, resource) {
		p, err := oauthex.GetProtectedResourceMetadata(ctx, c[0], c[1], client)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if prmErr == nil || errors.Is(err, errBlockedAddr) {
				prmErr = err
			}
			continue
		}
		prm = p
		break
	}
	var issuer string
	switch {
	case prm != nil && len(prm.AuthorizationServers) == 0:
		return nil, fmt.Errorf("the protected-resource metadata of %s names no authorization server", up.Name)
	case prm != nil:
		d.Resource = prm.Resource
		d.PRMScopes = prm.ScopesSupported
		issuer = prm.AuthorizationServers[0]
	case errors.Is(prmErr, errBlockedAddr):
		return nil, fmt.Errorf("fetching the protected-resource metadata of %s: %w", up.Name, prmErr)
	default:
		u, err := url.Parse(resource)
		if err != nil {
			return nil, err
		}
		issuer = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	}
	if err := checkOAuthURL("the authorization server URL", issuer); err != nil {
		return nil, err
	}
	asm, err := sdkauth.GetAuthServerMetadata(ctx, issuer, client)
	if err != nil {
		return nil, fmt.Errorf("authorization server metadata of %s: %w", up.Name, err)
	}
	if asm == nil {
		// 2025-03-26: "fallbacks for servers without metadata discovery". Such a
		// server cannot say whether it supports PKCE; S256 is sent anyway.
		base := strings.TrimSuffix(issuer, "/")
		asm = &oauthex.AuthServerMeta{Issuer: issuer, AuthorizationEndpoint: base + "/authorize",
			TokenEndpoint: base + "/token", RegistrationEndpoint: base + "/register"}
		d.NoMetadata = true
	} else if !slices.Contains(asm.CodeChallengeMethodsSupported, "S256") {
		return nil, fmt.Errorf("the authorization server of %s does not support PKCE with S256 (code_challenge_methods_supported)", up.Name)
	}
	for _, e := range [][2]string{{"authorization_endpoint", asm.AuthorizationEndpoint}, {"token_endpoint", asm.TokenEndpoint}} {
		if err := checkOAuthURL(e[0], e[1]); err != nil {
			return nil, fmt.Errorf("authorization server of %s: %w", up.Name, err)
		}
	}
	if asm.RegistrationEndpoint != "" {
		if err := checkOAuthURL("registration_endpoint", asm.RegistrationEndpoint); err != nil {
			return nil, fmt.Errorf("authorization server of %s: %w", up.Name, err)
		}
	}
	d.Issuer = asm.Issuer
	d.ASM = asm
	return d, nil
}

// union returns the strings of lists in order, each once.
func union(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// chooseScopes picks the scopes to request, following the MCP scope
// selection strategy: the configured scopes if any, else the challenge's,
// else the resource's scopes_supported, else none (the scope parameter is
// then omitted). Added to them: scopes the upstream asked for in a step-up,
// scopes already granted (a step-up must not lose them), the caller's extra
// scopes, and offline_access when the server offers it, for a refresh token.
func chooseScopes(up Upstream, ch *Challenge, d *discovery, rec *tokenRecord, extra []string) []string {
	var base []string
	switch {
	case len(up.Scopes) > 0:
		base = up.Scopes
	case ch != nil && len(ch.Scopes) > 0:
		base = ch.Scopes
	default:
		base = d.PRMScopes
	}
	var needs, granted []string
	if rec != nil {
		needs = rec.NeedsScopes
		if rec.Issuer == d.Issuer {
			granted = rec.Scopes
		}
	}
	s := union(base, needs, granted, extra)
	if len(s) > 0 && slices.Contains(d.ASM.ScopesSupported, "offline_access") && !slices.Contains(s, "offline_access") {
		s = append(s, "offline_access")
	}
	return s
}
