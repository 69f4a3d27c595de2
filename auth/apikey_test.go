package auth

import (
	"github.com/mcp-gateway/mcp-gateway/policy"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	aliceKey = "mcpgw_alice_0123456789abcdefghijklmnopqrstuv"
	bobKey   = "dev-plaintext-bob-key-0001"
)

func keysAuth(t *testing.T) *Authenticator {
	t.Helper()
	return mustNew(t, Options{
		APIKeys: []APIKey{
			{Key: HashKey(aliceKey), Owner: "alice", AllowedUpstreams: []string{"notes", "files"}, AllowedTools: []string{"notes__*"},
				Scopes: []string{"read", "write"}, RateLimitRPM: 60, Burst: 10, Admin: true},
			{Key: bobKey, Owner: "bob", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}, RateLimitRPM: -1},
		},
		AgentTokens: AgentTokenOptions{Secret: strings.Repeat("x", 32)},
		Now:         newClock().Now,
	})
}

func TestHashKey(t *testing.T) {
	assert.Equal(t, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", HashKey("abc"))
	key, digest, err := NewKey()
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^mcpgw_[A-Za-z0-9_-]{43}$`), key)
	assert.Equal(t, HashKey(key), digest)
	assert.True(t, isDigest(digest))
	key2, _, err := NewKey()
	require.NoError(t, err)
	assert.NotEqual(t, key, key2)
}

func TestAPIKeys(t *testing.T) {
	a := keysAuth(t)
	wrongSameLength := aliceKey[:len(aliceKey)-1] + "w"
	tests := []struct {
		name   string
		h      http.Header
		want   string // owner, or "" for a rejection
		noCred bool
	}{
		{name: "X-Api-Key", h: header(HeaderAPIKey, aliceKey), want: "alice"},
		{name: "X-Api-Key with surrounding spaces", h: header(HeaderAPIKey, " "+aliceKey+"\t"), want: "alice"},
		{name: "bearer", h: bearer(aliceKey), want: "alice"},
		{name: "bearer scheme in lower case, two spaces", h: header("Authorization", "bearer  "+aliceKey), want: "alice"},
		{name: "plaintext-configured key", h: header(HeaderAPIKey, bobKey), want: "bob"},
		{name: "plaintext-configured key as bearer", h: bearer(bobKey), want: "bob"},
		{name: "wrong key of the same length", h: header(HeaderAPIKey, wrongSameLength)},
		{name: "wrong key of another length", h: header(HeaderAPIKey, aliceKey+"x")},
		{name: "the digest itself", h: header(HeaderAPIKey, HashKey(aliceKey))},
		{name: "empty X-Api-Key", h: header(HeaderAPIKey, "")},
		{name: "bearer, wrong key", h: bearer(wrongSameLength)},
		{name: "bearer without token", h: header("Authorization", "Bearer ")},
		{name: "bearer with a space in the token", h: header("Authorization", "Bearer "+aliceKey+" x")},
		{name: "Basic", h: header("Authorization", "Basic YWxpY2U6cHc=")},
		{name: "bare key in Authorization", h: header("Authorization", aliceKey)},
		{name: "X-Api-Key twice", h: header(HeaderAPIKey, aliceKey, HeaderAPIKey, aliceKey)},
		{name: "Authorization twice", h: header("Authorization", "Bearer "+aliceKey, "Authorization", "Bearer "+aliceKey)},
		{name: "X-Api-Key over 8 KiB", h: header(HeaderAPIKey, strings.Repeat("k", MaxCredentialBytes+1))},
		{name: "oversized header beside a valid key", h: header(HeaderAPIKey, aliceKey, "Authorization", "Bearer "+strings.Repeat("k", MaxCredentialBytes))},
		{name: "no credential", h: http.Header{"Cookie": {"session=" + aliceKey}}, noCred: true},
		{name: "query-string style header is not read", h: header("Access-Token", aliceKey), noCred: true},
		{name: "nil header", h: nil, noCred: true},

		// Precedence: the first credential header present decides.
		{name: "X-Api-Key wins over Authorization", h: header(HeaderAPIKey, aliceKey, "Authorization", "Bearer junk"), want: "alice"},
		{name: "X-Api-Key wins over X-Agent-Token", h: header(HeaderAPIKey, bobKey, HeaderAgentToken, "junk"), want: "bob"},
		{name: "a rejected X-Api-Key is not retried as bearer", h: header(HeaderAPIKey, "junk", "Authorization", "Bearer "+aliceKey)},
		{name: "an API key in X-Agent-Token is not an API key", h: header(HeaderAgentToken, aliceKey)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := a.Authenticate(ctx, tc.h)
			switch {
			case tc.want != "":
				require.NoError(t, err)
				assert.Equal(t, tc.want, id.Owner)
				assert.Equal(t, policy.KindAPIKey, id.Kind)
			case tc.noCred:
				assert.Nil(t, id)
				assert.ErrorIs(t, err, ErrNoCredential)
				assert.NotErrorIs(t, err, ErrInvalidCredential)
				assert.ErrorIs(t, err, sdkauth.ErrInvalidToken)
			default:
				assert.Nil(t, id)
				assert.ErrorIs(t, err, ErrInvalidCredential)
				assert.ErrorIs(t, err, sdkauth.ErrInvalidToken)
				assert.NotContains(t, err.Error(), aliceKey[6:])
				assert.NotContains(t, err.Error(), bobKey)
			}
		})
	}
}

func TestAPIKeyIdentity(t *testing.T) {
	a := keysAuth(t)
	id, err := a.Authenticate(ctx, header(HeaderAPIKey, aliceKey))
	require.NoError(t, err)
	assert.Equal(t, policy.New(policy.Identity{
		Owner: "alice", Kind: policy.KindAPIKey, Upstreams: []string{"notes", "files"}, Tools: []string{"notes__*"},
		Scopes: []string{"read", "write"}, Limit: policy.Limit{RPM: 60, Burst: 10}, Admin: true,
	}), id)
	assert.Equal(t, "api_key:alice", id.Name)
	id2, err := a.Authenticate(ctx, header(HeaderAPIKey, aliceKey))
	require.NoError(t, err)
	assert.Same(t, id, id2, "a key's record is built once, not per request")

	warnings := a.Warnings()
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0], "api_keys[1]")
	assert.Contains(t, warnings[0], "plaintext")
	assert.NotContains(t, warnings[0], bobKey)
	assert.True(t, a.Enabled())
}

func TestRequireScope(t *testing.T) {
	id := policy.New(policy.Identity{Kind: policy.KindAPIKey, Owner: "r", Upstreams: []string{"notes"}, Scopes: []string{"read"}})
	assert.NoError(t, RequireScope(id, "read"))
	assert.ErrorIs(t, RequireScope(id, "write"), ErrInsufficientScope)
}

func TestLocal(t *testing.T) {
	a := mustNew(t, Options{})
	assert.False(t, a.Enabled())
	assert.Equal(t, policy.New(policy.Identity{Owner: "local", Kind: policy.KindLocal, Upstreams: []string{"*"}, Scopes: []string{"read", "write"}, Limit: policy.Limit{RPM: policy.Unlimited}, Admin: true}), a.Local())
	_, err := a.Authenticate(ctx, header(HeaderAPIKey, "anything"))
	assert.ErrorIs(t, err, ErrInvalidCredential, "no keys configured: every key is unknown")
	_, err = a.Authenticate(ctx, bearer("a.b.c"))
	assert.ErrorIs(t, err, ErrInvalidCredential)

	no := false
	a = mustNew(t, Options{Local: &LocalOptions{Owner: "me", AllowedUpstreams: []string{"notes"}, AllowedTools: []string{"notes__read"}, Scopes: []string{"read"}, Admin: &no}})
	assert.Equal(t, policy.New(policy.Identity{Owner: "me", Kind: policy.KindLocal, Upstreams: []string{"notes"}, Tools: []string{"notes__read"}, Scopes: []string{"read"}, Limit: policy.Limit{RPM: policy.Unlimited}}), a.Local())
	assert.Same(t, a.Local(), a.Local(), "the local record is built once")
}

// TestNewRejects: New reports every problem, and never a secret.
func TestNewRejects(t *testing.T) {
	const canary = "CANARY-0123456789-secret-abcdefgh"
	k := testKeys()
	ok := APIKey{Key: HashKey("k1"), Owner: "o1", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}}
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{name: "bad digest", o: Options{APIKeys: []APIKey{{Key: "sha256:" + strings.Repeat("A", 64), Owner: "o", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}}}},
			want: []string{"digest"}},
		{name: "plaintext and its digest", o: Options{APIKeys: []APIKey{
			{Key: canary, Owner: "a", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}},
			{Key: HashKey(canary), Owner: "b", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}},
		}}, want: []string{"api_keys[1]: same key as api_keys[0]"}},
		{name: "duplicate owner", o: Options{APIKeys: []APIKey{ok, {Key: HashKey("k2"), Owner: "o1", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}}}},
			want: []string{"same owner"}},
		{name: "bad scope, no upstreams, bad rate", o: Options{APIKeys: []APIKey{
			{Key: "k3", Owner: "a", AllowedUpstreams: []string{"*"}, Scopes: []string{"admin"}},
			{Key: "k4", Owner: "b", Scopes: []string{"read"}},
			{Key: "k5", Owner: "c", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}, RateLimitRPM: -2},
		}}, want: []string{"api_keys[0]: scopes", "api_keys[1]: allowed upstreams", "api_keys[2]: rate_limit_rpm"}},
		{name: "short secret, ttl over max", o: Options{AgentTokens: AgentTokenOptions{Secret: canary[:20], TTL: 2 * time.Hour, MaxTTL: time.Hour}},
			want: []string{"at least 32 bytes", "ttl must not exceed"}},
		{name: "oauth with HS256 and none", o: Options{OAuth: &OAuthOptions{Issuer: "i", Audience: testAudience, JWKSURL: "https://i.example/jwks", Algorithms: []string{"HS256", "none"}, AllowedUpstreams: []string{"*"}}},
			want: []string{"algorithms must be among"}},
		{name: "oauth with both key sources", o: Options{OAuth: &OAuthOptions{Issuer: "i", Audience: testAudience, JWKSURL: "https://i.example/jwks", PublicKey: pemPublic(t, &k.rsa1.PublicKey), AllowedUpstreams: []string{"*"}}},
			want: []string{"exactly one of jwks_url and public_key"}},
		{name: "oauth missing everything", o: Options{OAuth: &OAuthOptions{Leeway: 2 * time.Minute}},
			want: []string{"issuer is required", "audience must be", "leeway", "allowed upstreams", "exactly one"}},
		{name: "oauth http JWKS off loopback", o: Options{OAuth: &OAuthOptions{Issuer: "i", Audience: testAudience, JWKSURL: "http://" + canary + ".example/jwks", AllowedUpstreams: []string{"*"}}},
			want: []string{"jwks_url must be an https URL"}},
		{name: "oauth key of the wrong type", o: Options{OAuth: &OAuthOptions{Issuer: "i", Audience: testAudience, PublicKey: pemPublic(t, &k.ec256.PublicKey), AllowedUpstreams: []string{"*"}}},
			want: []string{"cannot verify algorithm RS256"}},
		{name: "oauth public key not PEM", o: Options{OAuth: &OAuthOptions{Issuer: "i", Audience: testAudience, PublicKey: canary, AllowedUpstreams: []string{"*"}}},
			want: []string{"not PEM"}},
		{name: "local without scopes", o: Options{Local: &LocalOptions{Scopes: []string{}}}, want: []string{"local: scopes are empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.o)
			require.Error(t, err)
			assert.Nil(t, a)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), canary)
			assert.NotContains(t, err.Error(), canary[:20])
			assert.NotContains(t, err.Error(), HashKey(canary)[7:])
		})
	}
}

// TestCanary pushes a canary secret through every failure path and checks that no error,
// warning or log line repeats it.
func TestCanary(t *testing.T) {
	const canary = "CANARY-7f3a9c-do-not-leak-0123456789"
	k := testKeys()
	var logs strings.Builder
	clock := newClock()
	a := mustNew(t, Options{
		APIKeys: []APIKey{
			{Key: canary, Owner: "alice", AllowedUpstreams: []string{"*"}, Scopes: []string{"read", "write"}},
		},
		AgentTokens: AgentTokenOptions{Secret: canary},
		OAuth:       &OAuthOptions{Issuer: testIssuer, Audience: testAudience, PublicKey: pemPublic(t, &k.rsa1.PublicKey), AllowedUpstreams: []string{"*"}},
		Now:         clock.Now,
		Logger:      newTestLogger(&logs),
	})
	tok, _, _, err := a.IssueAgentToken(policy.New(policy.Identity{Owner: "alice", Kind: policy.KindAPIKey, Upstreams: []string{"*"}, Scopes: []string{"read"}}), AgentRequest{AgentName: "bot"})
	require.NoError(t, err)
	forged := sign(t, jwt.SigningMethodHS256, []byte(canary), map[string]any{"typ": "agent+jwt"}, jwt.MapClaims{"iss": "x"})
	inputs := []http.Header{
		header(HeaderAPIKey, canary+"x"),
		header(HeaderAPIKey, canary[1:]),
		header(HeaderAPIKey, strings.Repeat(canary, 300)),
		bearer(canary + "." + canary + "." + canary),
		bearer(canary + "\x00"),
		header("Authorization", "Basic "+canary),
		header(HeaderAgentToken, canary),
		header(HeaderAgentToken, forged),
		header(HeaderAgentToken, tok+canary),
		bearer(forged),
		bearer(sign(t, jwt.SigningMethodHS256, []byte(canary), map[string]any{"alg": canary}, validClaims())),
		bearer(unsigned(`{"alg":"`+canary+`"}`, `{"sub":"`+canary+`"}`) + "c2ln"),
		bearer(sign(t, jwt.SigningMethodRS256, k.rsa1, map[string]any{"kid": canary}, with(validClaims(), map[string]any{"aud": canary, "iss": canary}))),
		bearer(sign(t, jwt.SigningMethodRS256, k.rsa1, nil, with(validClaims(), map[string]any{"exp": canary}))),
	}
	clock.Advance(2 * time.Hour) // the agent token expires
	inputs = append(inputs, header(HeaderAgentToken, tok))
	for i, h := range inputs {
		id, err := a.Authenticate(ctx, h)
		require.Error(t, err, i)
		assert.Nil(t, id)
		assert.NotContains(t, err.Error(), "CANARY", i)
	}
	_, _, _, err = a.IssueAgentToken(policy.New(policy.Identity{Owner: canary, Kind: policy.KindAPIKey}), AgentRequest{AgentName: canary})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "CANARY")
	_, _, _, err = a.IssueAgentToken(policy.New(policy.Identity{Owner: "alice", Kind: policy.KindAPIKey, Upstreams: []string{"*"}, Scopes: []string{"read"}}),
		AgentRequest{AgentName: "bot", RequestedScopes: []string{canary}, RequestedUpstreams: []string{canary}})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "CANARY")
	for _, w := range a.Warnings() {
		assert.NotContains(t, w, "CANARY")
	}
	assert.NotEmpty(t, logs.String())
	assert.NotContains(t, logs.String(), "CANARY")
}

// TestVerifier runs the verifier inside the SDK's bearer middleware.
func TestVerifier(t *testing.T) {
	a := keysAuth(t)
	var got *policy.Identity
	h := sdkauth.RequireBearerToken(a.Verifier(), &sdkauth.RequireBearerTokenOptions{AllowMissingExpiration: true})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = policy.FromTokenInfo(sdkauth.TokenInfoFromContext(r.Context()))
		}))
	for _, tc := range []struct {
		name   string
		h      http.Header
		status int
		owner  string
	}{
		{"bearer key", bearer(aliceKey), http.StatusOK, "alice"},
		{"X-Api-Key with a placeholder bearer", header(HeaderAPIKey, bobKey, "Authorization", "Bearer x-api-key"), http.StatusOK, "bob"},
		{"wrong key", bearer("nope"), http.StatusUnauthorized, ""},
		{"X-Api-Key alone", header(HeaderAPIKey, bobKey), http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			r.Header = tc.h
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, tc.status, w.Code)
			if tc.owner != "" {
				require.NotNil(t, got)
				assert.Equal(t, tc.owner, got.Owner)
			}
			assert.NotContains(t, w.Body.String(), aliceKey)
		})
	}
}

func TestKeyIdentity(t *testing.T) {
	a := mustNew(t, Options{APIKeys: []APIKey{{Key: HashKey("k"), Owner: "ci", AllowedUpstreams: []string{"notes"}, Scopes: []string{"read"}}}})
	id, ok := a.KeyIdentity("ci")
	require.True(t, ok)
	assert.Equal(t, "api_key:ci", id.Name)
	assert.Same(t, a.matchKey("k"), id, "the record a request with the key runs as")
	_, ok = a.KeyIdentity("nobody")
	assert.False(t, ok)
}
