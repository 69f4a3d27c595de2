package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcp-gateway/mcp-gateway/policy"
)

// Agent tokens are told apart from OAuth tokens by all of these (SECURITY.md J16), and by being
// HS256, which the OAuth verifier never accepts.
const (
	agentIssuer   = "mcp-gateway"
	agentAudience = "mcp-gateway-agent"
	agentType     = "agent+jwt"
)

// Limits on an AgentRequest.
const (
	maxAgentVersionBytes = 64
	maxRequestedItems    = 256
)

// AgentRequest asks for an agent token: the body of POST /agents/register.
type AgentRequest struct {
	// AgentName names the agent: 1 to 128 bytes of UTF-8 without control characters. Required.
	AgentName string `json:"agent_name"`
	// AgentVersion is the agent's version, at most 64 bytes.
	AgentVersion string `json:"agent_version,omitempty"`
	// RequestedUpstreams narrow the key's upstreams; empty asks for all of them, "*" too.
	RequestedUpstreams []string `json:"requested_upstreams,omitempty"`
	// RequestedScopes narrow the key's scopes; empty asks for all of them.
	RequestedScopes []string `json:"requested_scopes,omitempty"`
	// TTL is the token's lifetime: zero means the configured default; it is capped at the
	// configured maximum. Not read from JSON: the transport parses a duration itself if it wants.
	TTL time.Duration `json:"-"`
}

// agentClaims are the claims of an agent token.
type agentClaims struct {
	jwt.RegisteredClaims
	Agent        string   `json:"agent"`
	AgentVersion string   `json:"agent_version,omitempty"`
	Upstreams    []string `json:"upstreams"`
	Scope        string   `json:"scope"`
}

type agentConfig struct {
	secret      []byte
	ttl, maxTTL time.Duration
}

func (c *agentConfig) init(o AgentTokenOptions, haveKeys bool, warnings *[]string) error {
	c.ttl, c.maxTTL = o.TTL, o.MaxTTL
	if c.ttl == 0 {
		c.ttl = DefaultAgentTokenTTL
	}
	if c.maxTTL == 0 {
		c.maxTTL = DefaultAgentTokenMaxTTL
	}
	var errs []error
	if c.ttl < 0 || c.maxTTL < 0 || c.ttl > c.maxTTL {
		errs = append(errs, errors.New("agent_tokens: ttl and max_ttl must not be negative, and ttl must not exceed max_ttl"))
	}
	switch {
	case o.Secret == "":
		c.secret = make([]byte, 32)
		rand.Read(c.secret) // never fails (crypto/rand)
		if haveKeys {
			*warnings = append(*warnings, "agent_tokens: no secret configured: agent tokens are signed with a random secret and stop working when the gateway restarts")
		}
	case len(o.Secret) < MinAgentSecretBytes:
		errs = append(errs, fmt.Errorf("agent_tokens: the secret must be at least %d bytes", MinAgentSecretBytes))
	default:
		c.secret = []byte(o.Secret)
	}
	return errors.Join(errs...)
}

// IssueAgentToken signs an agent token for the API key identity by. The token grants the
// intersection of the request and what the key allows now: never more than the key. An empty
// RequestedUpstreams or RequestedScopes asks for all of the key's. The token is an HS256 JWT with
// iss "mcp-gateway", aud "mcp-gateway-agent", typ "agent+jwt", a random jti, and an expiry of
// req.TTL (or the default) capped at the configured maximum. granted is the identity the token
// authenticates as, as long as the key keeps its policy: each use intersects the token's grant
// with the key's current policy, and a token whose key was removed is rejected.
//
// Errors: ErrForbidden if by is not an API key identity (agent tokens cannot mint agent tokens) or
// if nothing requested is allowed; ErrInvalidRequest for a malformed request.
func (a *Authenticator) IssueAgentToken(by *policy.Identity, req AgentRequest) (token string, exp time.Time, granted *policy.Identity, err error) {
	if by == nil || by.Kind != policy.KindAPIKey {
		return "", time.Time{}, nil, fmt.Errorf("%w: only an API key may register agents", ErrForbidden)
	}
	i, ok := a.byOwner[by.Owner]
	if !ok {
		return "", time.Time{}, nil, fmt.Errorf("%w: the API key is no longer configured", ErrForbidden)
	}
	if err := checkAgentRequest(req); err != nil {
		return "", time.Time{}, nil, err
	}
	key := a.keys[i].id
	have := intersectUpstreams(key.Upstreams, by.Upstreams)
	haveScopes := intersect(key.Scopes, by.Scopes)
	ups := have
	if len(req.RequestedUpstreams) > 0 {
		ups = intersectUpstreams(have, req.RequestedUpstreams)
	}
	scopes := haveScopes
	if len(req.RequestedScopes) > 0 {
		scopes = intersect(haveScopes, req.RequestedScopes)
	}
	switch {
	case len(ups) == 0:
		return "", time.Time{}, nil, fmt.Errorf("%w: none of the requested upstreams is allowed to this key", ErrForbidden)
	case len(scopes) == 0:
		return "", time.Time{}, nil, fmt.Errorf("%w: none of the requested scopes is allowed to this key", ErrForbidden)
	}

	ttl := req.TTL
	if ttl == 0 {
		ttl = a.agent.ttl
	}
	ttl = min(ttl, a.agent.maxTTL)
	now := a.now()
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := agentClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    agentIssuer,
			Subject:   by.Owner,
			Audience:  jwt.ClaimStrings{agentAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(jti),
		},
		Agent:        req.AgentName,
		AgentVersion: req.AgentVersion,
		Upstreams:    ups,
		Scope:        strings.Join(scopes, " "),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["typ"] = agentType
	token, err = t.SignedString(a.agent.secret)
	if err != nil {
		return "", time.Time{}, nil, fmt.Errorf("auth: sign agent token: %w", err)
	}
	granted = a.agentIdentity(key, &claims)
	return token, claims.ExpiresAt.Time, granted, nil
}

func checkAgentRequest(req AgentRequest) error {
	bad := func(msg string) error { return fmt.Errorf("%w: %s", ErrInvalidRequest, msg) }
	switch {
	case !validName(req.AgentName):
		return bad("agent_name must be 1 to 128 bytes of UTF-8 without control characters")
	case len(req.AgentVersion) > maxAgentVersionBytes || req.AgentVersion != "" && !validName(req.AgentVersion):
		return bad("agent_version must be at most 64 bytes of UTF-8 without control characters")
	case len(req.RequestedUpstreams) > maxRequestedItems || len(req.RequestedScopes) > maxRequestedItems:
		return bad("too many requested upstreams or scopes")
	case req.TTL < 0:
		return bad("the lifetime must not be negative")
	}
	for _, u := range req.RequestedUpstreams {
		if !validName(u) {
			return bad(`requested_upstreams must be upstream names or "*"`)
		}
	}
	for _, s := range req.RequestedScopes {
		if s != policy.ScopeRead && s != policy.ScopeWrite {
			return bad(`requested_scopes must be "read" or "write"`)
		}
	}
	return nil
}

// verifyAgent verifies an agent token. ours reports whether its signature was made with this
// authenticator's secret, whatever else is wrong with it.
func (a *Authenticator) verifyAgent(tok string) (id *policy.Identity, err error, ours bool) {
	const what = "agent token"
	if err := checkCompact(tok); err != nil {
		return nil, invalid(what, err.Error()), false
	}
	var claims agentClaims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(agentIssuer),
		jwt.WithAudience(agentAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(a.now),
		jwt.WithStrictDecoding(),
	)
	_, err = p.ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != agentType {
			return nil, errWrongType
		}
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errWrongAlg
		}
		return a.agent.secret, nil
	})
	ours = err == nil || errors.Is(err, jwt.ErrTokenInvalidClaims)
	if err != nil {
		return nil, invalid(what, reason(err)), ours
	}
	i, ok := a.byOwner[claims.Subject]
	switch {
	case claims.Subject == "" || claims.Agent == "":
		return nil, invalid(what, "required claim missing"), true
	case !ok:
		return nil, invalid(what, "its API key is no longer configured"), true
	}
	id = a.agentIdentity(a.keys[i].id, &claims)
	if len(id.Upstreams) == 0 || len(id.Scopes) == 0 {
		return nil, invalid(what, "its API key no longer allows what it grants"), true
	}
	return id, nil, true
}

// agentIdentity is the identity of a verified agent token: the token's grant intersected with
// the key's current policy, and the key's rate limit.
func (a *Authenticator) agentIdentity(key *policy.Identity, c *agentClaims) *policy.Identity {
	return policy.New(policy.Identity{
		Owner:        c.Subject,
		Kind:         policy.KindAgent,
		Upstreams:    intersectUpstreams(key.Upstreams, c.Upstreams),
		Tools:        slices.Clone(key.Tools),
		Scopes:       intersect(key.Scopes, strings.Fields(c.Scope)),
		Limit:        key.Limit,
		Admin:        false, // an agent never inherits its key's admin rights
		Agent:        c.Agent,
		AgentVersion: c.AgentVersion,
		Expiry:       c.ExpiresAt.Time,
	})
}

// intersectUpstreams returns the upstreams allowed by both a and b, where "*" allows all: b's
// entries if a has "*", a's if b has "*", else those of a also in b. The result has no
// duplicates; it is empty if either is.
func intersectUpstreams(a, b []string) []string {
	switch {
	case len(a) == 0 || len(b) == 0:
		return []string{}
	case slices.Contains(a, policy.AllUpstreams):
		return dedup(b)
	case slices.Contains(b, policy.AllUpstreams):
		return dedup(a)
	}
	return intersect(a, b)
}

// intersect returns the elements of a also in b, in a's order, without duplicates.
func intersect(a, b []string) []string {
	out := []string{}
	for _, s := range a {
		if slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func dedup(a []string) []string {
	if slices.Contains(a, policy.AllUpstreams) {
		return []string{policy.AllUpstreams}
	}
	return intersect(a, a)
}

var (
	errWrongType = errors.New("wrong token type")
	errWrongAlg  = errors.New("algorithm not allowed")
)

// reason maps a jwt error to a fixed description. jwt's own messages may quote the token's
// header (the alg), which is part of the credential.
func reason(err error) string {
	for _, r := range []struct {
		err error
		msg string
	}{
		{errWrongType, "wrong token type"},
		{errWrongAlg, "algorithm not allowed"},
		{errUnknownKey, "no key for the token's kid and algorithm"},
		{errKeyID, "malformed kid"},
		{jwt.ErrTokenMalformed, "malformed token"},
		{jwt.ErrTokenExpired, "token expired"},
		{jwt.ErrTokenNotValidYet, "token not valid yet"},
		{jwt.ErrTokenUsedBeforeIssued, "token issued in the future"},
		{jwt.ErrTokenInvalidAudience, "wrong audience"},
		{jwt.ErrTokenInvalidIssuer, "wrong issuer"},
		{jwt.ErrTokenRequiredClaimMissing, "required claim missing"},
		{jwt.ErrTokenSignatureInvalid, "bad signature or algorithm not allowed"},
		{jwt.ErrTokenUnverifiable, "unverifiable token"},
		{jwt.ErrTokenInvalidClaims, "invalid claims"},
	} {
		if errors.Is(err, r.err) {
			return r.msg
		}
	}
	return "invalid token"
}
