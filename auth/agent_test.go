package auth

import (
	"encoding/base64"
	"encoding/json"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// agentEnv has two API keys, an agent secret and OAuth with a JWKS, on a settable clock.
type agentEnv struct {
	*oauthEnv
	alice, bob *policy.Identity
}

func newAgentEnv(t *testing.T) *agentEnv {
	t.Helper()
	k := testKeys()
	e := &oauthEnv{jwks: newJWKSServer(t, jwkJSON("k1", &k.rsa1.PublicKey)), clock: newClock()}
	e.a = mustNew(t, Options{
		APIKeys: []APIKey{
			{Key: HashKey(aliceKey), Owner: "alice", AllowedUpstreams: []string{"notes", "files"}, AllowedTools: []string{"notes__*", "files__*"},
				Scopes: []string{"read", "write"}, RateLimitRPM: 60, Burst: 10, Admin: true},
			{Key: HashKey(bobKey), Owner: "bob", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}},
		},
		AgentTokens: AgentTokenOptions{Secret: strings.Repeat("a", 32), TTL: 30 * time.Minute, MaxTTL: 2 * time.Hour},
		OAuth:       &OAuthOptions{Issuer: testIssuer, Audience: testAudience, JWKSURL: e.jwks.URL, AllowedUpstreams: []string{"*"}},
		Now:         e.clock.Now,
	})
	ae := &agentEnv{oauthEnv: e}
	var err error
	ae.alice, err = e.a.Authenticate(ctx, header(HeaderAPIKey, aliceKey))
	require.NoError(t, err)
	ae.bob, err = e.a.Authenticate(ctx, header(HeaderAPIKey, bobKey))
	require.NoError(t, err)
	return ae
}

func TestIssueAgentToken(t *testing.T) {
	e := newAgentEnv(t)
	tests := []struct {
		name          string
		by            func() *policy.Identity
		req           AgentRequest
		wantUpstreams []string
		wantScopes    []string
		wantTTL       time.Duration
		wantErr       error
	}{
		{name: "empty request gets all the key has", by: func() *policy.Identity { return e.alice }, req: AgentRequest{AgentName: "claude", AgentVersion: "1.2"},
			wantUpstreams: []string{"notes", "files"}, wantScopes: []string{"read", "write"}, wantTTL: 30 * time.Minute},
		{name: "more upstreams than the key allows: only the intersection", by: func() *policy.Identity { return e.alice },
			req:           AgentRequest{AgentName: "a", RequestedUpstreams: []string{"notes", "github", "notes", "*"}, RequestedScopes: []string{"read"}},
			wantUpstreams: []string{"notes", "files"}, wantScopes: []string{"read"}, wantTTL: 30 * time.Minute},
		{name: "narrowing", by: func() *policy.Identity { return e.alice },
			req:           AgentRequest{AgentName: "a", RequestedUpstreams: []string{"github", "files"}, RequestedScopes: []string{"write", "read"}, TTL: time.Minute},
			wantUpstreams: []string{"files"}, wantScopes: []string{"read", "write"}, wantTTL: time.Minute},
		{name: "wildcard key, named request", by: func() *policy.Identity { return e.bob },
			req:           AgentRequest{AgentName: "a", RequestedUpstreams: []string{"x", "y", "x"}, RequestedScopes: []string{"read", "write"}},
			wantUpstreams: []string{"x", "y"}, wantScopes: []string{"read"}, wantTTL: 30 * time.Minute},
		{name: "wildcard key, wildcard request", by: func() *policy.Identity { return e.bob }, req: AgentRequest{AgentName: "a", RequestedUpstreams: []string{"*"}, TTL: 100 * time.Hour},
			wantUpstreams: []string{"*"}, wantScopes: []string{"read"}, wantTTL: 2 * time.Hour},
		{name: "a caller narrowed below its key", by: func() *policy.Identity { return withUpstreams(e.alice, "files") },
			req: AgentRequest{AgentName: "a"}, wantUpstreams: []string{"files"}, wantScopes: []string{"read", "write"}, wantTTL: 30 * time.Minute},
		{name: "a caller cannot widen its key", by: func() *policy.Identity { return withUpstreams(e.alice, "*") },
			req: AgentRequest{AgentName: "a", RequestedUpstreams: []string{"github", "notes"}}, wantUpstreams: []string{"notes"}, wantScopes: []string{"read", "write"}, wantTTL: 30 * time.Minute},
		{name: "nothing requested is allowed", by: func() *policy.Identity { return e.alice }, req: AgentRequest{AgentName: "a", RequestedUpstreams: []string{"github"}}, wantErr: ErrForbidden},
		{name: "scope not allowed", by: func() *policy.Identity { return e.bob }, req: AgentRequest{AgentName: "a", RequestedScopes: []string{"write"}}, wantErr: ErrForbidden},
		{name: "unknown scope", by: func() *policy.Identity { return e.alice }, req: AgentRequest{AgentName: "a", RequestedScopes: []string{"admin"}}, wantErr: ErrInvalidRequest},
		{name: "no name", by: func() *policy.Identity { return e.alice }, req: AgentRequest{}, wantErr: ErrInvalidRequest},
		{name: "control character in the name", by: func() *policy.Identity { return e.alice }, req: AgentRequest{AgentName: "a\nb"}, wantErr: ErrInvalidRequest},
		{name: "negative TTL", by: func() *policy.Identity { return e.alice }, req: AgentRequest{AgentName: "a", TTL: -time.Second}, wantErr: ErrInvalidRequest},
		{name: "nil caller", by: func() *policy.Identity { return nil }, req: AgentRequest{AgentName: "a"}, wantErr: ErrForbidden},
		{name: "local identity", by: func() *policy.Identity { return e.a.Local() }, req: AgentRequest{AgentName: "a"}, wantErr: ErrForbidden},
		{name: "oauth identity", by: func() *policy.Identity {
			return policy.New(policy.Identity{Owner: "alice", Kind: policy.KindOAuth, Upstreams: []string{"*"}, Scopes: []string{"read"}})
		}, req: AgentRequest{AgentName: "a"}, wantErr: ErrForbidden},
		{name: "unknown key owner", by: func() *policy.Identity {
			return policy.New(policy.Identity{Owner: "carol", Kind: policy.KindAPIKey, Upstreams: []string{"*"}, Scopes: []string{"read"}})
		}, req: AgentRequest{AgentName: "a"}, wantErr: ErrForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, exp, granted, err := e.a.IssueAgentToken(tc.by(), tc.req)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				assert.Empty(t, tok)
				assert.Nil(t, granted)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, t0.Add(tc.wantTTL), exp)
			assert.Equal(t, tc.wantUpstreams, granted.Upstreams)
			assert.Equal(t, tc.wantScopes, granted.Scopes)
			assert.Equal(t, policy.KindAgent, granted.Kind)
			assert.False(t, granted.Admin, "agents never get admin")

			id, err := e.a.Authenticate(ctx, header(HeaderAgentToken, tok))
			require.NoError(t, err)
			assert.Equal(t, granted, id)
			assert.Equal(t, tc.req.AgentName, id.Agent)
			assert.Equal(t, tc.req.AgentVersion, id.AgentVersion)

			// The token's header and claims.
			parts := strings.Split(tok, ".")
			var h, c map[string]any
			require.NoError(t, json.Unmarshal(must(base64.RawURLEncoding.DecodeString(parts[0])), &h))
			require.NoError(t, json.Unmarshal(must(base64.RawURLEncoding.DecodeString(parts[1])), &c))
			assert.Equal(t, map[string]any{"alg": "HS256", "typ": "agent+jwt"}, h)
			assert.Equal(t, "mcp-gateway", c["iss"])
			assert.Equal(t, []any{"mcp-gateway-agent"}, c["aud"])
			assert.NotEmpty(t, c["jti"])
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestAgentTokenIdentity(t *testing.T) {
	e := newAgentEnv(t)
	tok, exp, _, err := e.a.IssueAgentToken(e.alice, AgentRequest{AgentName: "claude", AgentVersion: "4", RequestedUpstreams: []string{"notes"}, RequestedScopes: []string{"read"}})
	require.NoError(t, err)
	want := policy.New(policy.Identity{
		Owner: "alice", Kind: policy.KindAgent, Upstreams: []string{"notes"}, Tools: []string{"notes__*", "files__*"}, Scopes: []string{"read"},
		Limit: policy.Limit{RPM: 60, Burst: 10}, Agent: "claude", AgentVersion: "4", Expiry: exp,
	})
	for name, h := range map[string]map[string][]string{
		"X-Agent-Token":                     {HeaderAgentToken: {tok}},
		"bearer, with OAuth configured too": {"Authorization": {"Bearer " + tok}},
	} {
		t.Run(name, func(t *testing.T) {
			id, err := e.a.Authenticate(ctx, h)
			require.NoError(t, err)
			assert.Equal(t, want, id)
		})
	}
	assert.Zero(t, e.jwks.fetches.Load(), "an agent token never reaches the OAuth verifier")

	t.Run("agent tokens cannot mint agent tokens", func(t *testing.T) {
		id, err := e.a.Authenticate(ctx, header(HeaderAgentToken, tok))
		require.NoError(t, err)
		_, _, _, err = e.a.IssueAgentToken(id, AgentRequest{AgentName: "child"})
		assert.ErrorIs(t, err, ErrForbidden)
	})
	t.Run("expired", func(t *testing.T) {
		e.clock.Advance(30*time.Minute + time.Second)
		defer e.clock.Advance(-(30*time.Minute + time.Second))
		_, err := e.a.Authenticate(ctx, header(HeaderAgentToken, tok))
		assert.ErrorIs(t, err, ErrInvalidCredential)
		assert.Contains(t, err.Error(), "expired")
		_, err = e.a.Authenticate(ctx, bearer(tok))
		assert.ErrorIs(t, err, ErrInvalidCredential)
		assert.Contains(t, err.Error(), "agent token: token expired", "an expired agent token is not retried as OAuth")
	})
	t.Run("not yet valid", func(t *testing.T) {
		e.clock.Advance(-time.Minute)
		defer e.clock.Advance(time.Minute)
		_, err := e.a.Authenticate(ctx, header(HeaderAgentToken, tok))
		assert.ErrorIs(t, err, ErrInvalidCredential)
	})
}

func TestAgentTokenTampering(t *testing.T) {
	e := newAgentEnv(t)
	k := testKeys()
	tok, _, _, err := e.a.IssueAgentToken(e.alice, AgentRequest{AgentName: "a", RequestedUpstreams: []string{"notes"}, RequestedScopes: []string{"read"}})
	require.NoError(t, err)
	parts := strings.Split(tok, ".")
	var claims map[string]any
	require.NoError(t, json.Unmarshal(must(base64.RawURLEncoding.DecodeString(parts[1])), &claims))
	reencode := func(changes map[string]any) string {
		b, _ := json.Marshal(with(claims, changes))
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}
	secret := []byte(strings.Repeat("a", 32))
	agentHeader := map[string]any{"typ": "agent+jwt"}

	other := mustNew(t, Options{
		APIKeys:     []APIKey{{Key: HashKey(aliceKey), Owner: "alice", AllowedUpstreams: []string{"*"}, Scopes: []string{"read", "write"}}},
		AgentTokens: AgentTokenOptions{Secret: strings.Repeat("b", 32)}, Now: e.clock.Now,
	})
	foreign, _, _, err := other.IssueAgentToken(policy.New(policy.Identity{Owner: "alice", Kind: policy.KindAPIKey, Upstreams: []string{"*"}, Scopes: []string{"read", "write"}}), AgentRequest{AgentName: "a"})
	require.NoError(t, err)
	random := mustNew(t, Options{APIKeys: []APIKey{{Key: HashKey(aliceKey), Owner: "alice", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}}}, Now: e.clock.Now})
	randomTok, _, _, err := random.IssueAgentToken(policy.New(policy.Identity{Owner: "alice", Kind: policy.KindAPIKey, Upstreams: []string{"*"}, Scopes: []string{"read"}}), AgentRequest{AgentName: "a"})
	require.NoError(t, err)
	assert.Len(t, random.Warnings(), 1, "no secret: a warning")

	oauthTok := sign(t, jwt.SigningMethodRS256, k.rsa1, map[string]any{"kid": "k1"}, validClaims())
	tests := []struct {
		name string
		tok  string
	}{
		{"upstreams widened", reencode(map[string]any{"upstreams": []string{"*"}})},
		{"scope widened", reencode(map[string]any{"scope": "read write"})},
		{"subject changed", reencode(map[string]any{"sub": "bob"})},
		{"signature stripped", parts[0] + "." + parts[1] + "."},
		{"signed by another gateway", foreign},
		{"alg none", unsigned(`{"alg":"none","typ":"agent+jwt"}`, string(must(base64.RawURLEncoding.DecodeString(parts[1]))))},
		{"HS384 with our secret", sign(t, jwt.SigningMethodHS384, secret, agentHeader, jwt.MapClaims(claims))},
		{"typ missing", sign(t, jwt.SigningMethodHS256, secret, nil, jwt.MapClaims(claims))},
		{"typ JWT", sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": "JWT"}, jwt.MapClaims(claims))},
		{"J16 OAuth iss and aud with our secret", sign(t, jwt.SigningMethodHS256, secret, agentHeader, with(validClaims(), map[string]any{"agent": "a", "upstreams": []string{"*"}}))},
		{"exp missing", sign(t, jwt.SigningMethodHS256, secret, agentHeader, with(jwt.MapClaims(claims), map[string]any{"exp": nil}))},
		{"agent missing", sign(t, jwt.SigningMethodHS256, secret, agentHeader, with(jwt.MapClaims(claims), map[string]any{"agent": nil}))},
		{"unknown owner", sign(t, jwt.SigningMethodHS256, secret, agentHeader, with(jwt.MapClaims(claims), map[string]any{"sub": "carol"}))},
		{"duplicate upstreams claim", signRaw(t, jwt.SigningMethodHS256, secret, `{"alg":"HS256","typ":"agent+jwt"}`,
			strings.Replace(string(must(base64.RawURLEncoding.DecodeString(parts[1]))), `"upstreams":`, `"upstreams":["*"],"upstreams":`, 1))},
		{"J16 an OAuth token as an agent token", oauthTok},
		{"J16 agent claims signed by the issuer", sign(t, jwt.SigningMethodRS256, k.rsa1, map[string]any{"kid": "k1", "typ": "agent+jwt"}, jwt.MapClaims(claims))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.a.Authenticate(ctx, header(HeaderAgentToken, tc.tok))
			assert.ErrorIs(t, err, ErrInvalidCredential, "as X-Agent-Token")
			if tc.tok == oauthTok {
				return // valid as a bearer OAuth token: see TestJ16
			}
			_, err = e.a.Authenticate(ctx, bearer(tc.tok))
			assert.ErrorIs(t, err, ErrInvalidCredential, "as bearer")
		})
	}
	// With a random secret tokens die with the authenticator.
	_, err = e.a.Authenticate(ctx, header(HeaderAgentToken, randomTok))
	assert.ErrorIs(t, err, ErrInvalidCredential)
	id, err := random.Authenticate(ctx, header(HeaderAgentToken, randomTok))
	require.NoError(t, err)
	assert.Equal(t, "alice", id.Owner)
}

// TestJ16 checks that agent and OAuth tokens are not interchangeable.
func TestJ16(t *testing.T) {
	e := newAgentEnv(t)
	k := testKeys()
	agentTok, _, _, err := e.a.IssueAgentToken(e.alice, AgentRequest{AgentName: "a"})
	require.NoError(t, err)
	oauthTok := sign(t, jwt.SigningMethodRS256, k.rsa1, map[string]any{"kid": "k1"}, validClaims())

	_, err = e.a.oauth.verify(ctx, agentTok)
	assert.ErrorIs(t, err, ErrInvalidCredential, "the OAuth verifier rejects an agent token")
	_, err, ours := e.a.verifyAgent(oauthTok)
	assert.ErrorIs(t, err, ErrInvalidCredential, "the agent verifier rejects an OAuth token")
	assert.False(t, ours)

	id, err := e.a.Authenticate(ctx, bearer(agentTok))
	require.NoError(t, err)
	assert.Equal(t, policy.KindAgent, id.Kind, "a bearer agent token is accepted only as an agent token")
	id, err = e.a.Authenticate(ctx, bearer(oauthTok))
	require.NoError(t, err)
	assert.Equal(t, policy.KindOAuth, id.Kind)
	_, err = e.a.Authenticate(ctx, header(HeaderAgentToken, oauthTok))
	assert.ErrorIs(t, err, ErrInvalidCredential)

	// Without OAuth configured, a bearer JWT is an agent token or nothing.
	noOAuth := mustNew(t, Options{APIKeys: []APIKey{{Key: HashKey(aliceKey), Owner: "alice", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}}}})
	_, err = noOAuth.Authenticate(ctx, bearer(oauthTok))
	assert.ErrorIs(t, err, ErrInvalidCredential)
}

// TestAgentTokenFollowsKey: each use intersects the token with the key's current policy, and a
// removed key revokes its agents' tokens.
func TestAgentTokenFollowsKey(t *testing.T) {
	secret := strings.Repeat("z", 32)
	clock := newClock()
	build := func(keys ...APIKey) *Authenticator {
		return mustNew(t, Options{APIKeys: keys, AgentTokens: AgentTokenOptions{Secret: secret}, Now: clock.Now})
	}
	wide := APIKey{Key: HashKey(aliceKey), Owner: "alice", AllowedUpstreams: []string{"notes", "files"}, Scopes: []string{"read", "write"}}
	a := build(wide)
	alice, err := a.Authenticate(ctx, header(HeaderAPIKey, aliceKey))
	require.NoError(t, err)
	tok, _, _, err := a.IssueAgentToken(alice, AgentRequest{AgentName: "a"})
	require.NoError(t, err)

	narrow := wide
	narrow.AllowedUpstreams, narrow.Scopes = []string{"files", "github"}, []string{"read"}
	id, err := build(narrow).Authenticate(ctx, header(HeaderAgentToken, tok))
	require.NoError(t, err)
	assert.Equal(t, []string{"files"}, id.Upstreams)
	assert.Equal(t, []string{"read"}, id.Scopes)

	disjoint := wide
	disjoint.AllowedUpstreams = []string{"github"}
	_, err = build(disjoint).Authenticate(ctx, header(HeaderAgentToken, tok))
	assert.ErrorIs(t, err, ErrInvalidCredential)

	_, err = build(APIKey{Key: HashKey(bobKey), Owner: "bob", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}}).Authenticate(ctx, header(HeaderAgentToken, tok))
	assert.ErrorIs(t, err, ErrInvalidCredential)
	assert.Contains(t, err.Error(), "no longer configured")
}

func TestIntersectUpstreams(t *testing.T) {
	tests := []struct{ a, b, want []string }{
		{[]string{"*"}, []string{"x", "x", "y"}, []string{"x", "y"}},
		{[]string{"x", "y"}, []string{"*"}, []string{"x", "y"}},
		{[]string{"*"}, []string{"*", "x"}, []string{"*"}},
		{[]string{"x", "y"}, []string{"y", "z"}, []string{"y"}},
		{[]string{"x"}, nil, []string{}},
		{nil, []string{"*"}, []string{}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, intersectUpstreams(tc.a, tc.b), "%v ∩ %v", tc.a, tc.b)
	}
}

// withUpstreams is a copy of id allowed only ups.
func withUpstreams(id *policy.Identity, ups ...string) *policy.Identity {
	c := *id
	c.Upstreams = ups
	return &c
}
