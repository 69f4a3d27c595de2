package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func digestOf(key string) string {
	d := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(d[:])
}

// pemJSON returns a PEM public key as a JSON string literal.
func pemJSON(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	b, err := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	require.NoError(t, err)
	return string(b)
}

// authConfig wraps a gateway.auth object in a config.
func authConfig(auth string) string {
	return `{"mcpServers": {}, "gateway": {"auth": ` + auth + `}}`
}

func TestAuthValid(t *testing.T) {
	secret := strings.Repeat("s", 32)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tests := []struct {
		name  string
		in    string
		env   map[string]string
		check func(t *testing.T, a Auth)
	}{
		{
			name: "the documented example",
			in: authConfig(`{
				"api_keys": [
					{"key": "` + digestOf("k1") + `", "owner": "alice", "allowed_upstreams": ["notes", "*"], "allowed_tools": ["notes__*"],
					 "scopes": ["read", "write"], "rate_limit_rpm": 60, "burst": 10, "admin": false},
					{"key": "dev-key", "owner": "bob", "allowed_upstreams": ["*"], "scopes": ["read"], "rate_limit_rpm": -1}],
				"agent_tokens": {"secret": "${MCP_GATEWAY_AGENT_SECRET}", "ttl": "1h", "max_ttl": "24h"},
				"oauth": {"issuer": "https://issuer.example", "audience": "http://127.0.0.1:8080/mcp", "jwks_url": "https://issuer.example/jwks.json",
					"algorithms": ["RS256", "ES256", "EdDSA"], "leeway": "30s", "jwks_refresh_min_interval": "1m",
					"authorization_servers": ["https://issuer.example"], "scopes_supported": ["read", "write"],
					"allowed_upstreams": ["*"], "allowed_tools": [], "rate_limit_rpm": 0, "burst": 0},
				"local": {"owner": "local", "allowed_upstreams": ["*"], "allowed_tools": [], "scopes": ["read", "write"], "admin": true}}`),
			env: map[string]string{"MCP_GATEWAY_AGENT_SECRET": secret},
			check: func(t *testing.T, a Auth) {
				require.Len(t, a.APIKeys, 2)
				assert.Equal(t, APIKey{Key: digestOf("k1"), Owner: "alice", AllowedUpstreams: []string{"notes", "*"}, AllowedTools: []string{"notes__*"},
					Scopes: []string{"read", "write"}, RateLimitRPM: 60, Burst: 10}, a.APIKeys[0])
				assert.Equal(t, -1, a.APIKeys[1].RateLimitRPM)
				assert.Equal(t, AgentTokens{Secret: secret, TTL: Duration(time.Hour), MaxTTL: Duration(24 * time.Hour)}, a.AgentTokens)
				require.NotNil(t, a.OAuth)
				assert.Equal(t, Duration(30*time.Second), a.OAuth.Leeway)
				assert.Equal(t, []string{"RS256", "ES256", "EdDSA"}, a.OAuth.Algorithms)
				require.NotNil(t, a.Local)
				require.NotNil(t, a.Local.Admin)
				assert.True(t, *a.Local.Admin)
			},
		},
		{
			name: "empty section",
			in:   authConfig(`{}`),
			check: func(t *testing.T, a Auth) {
				assert.Equal(t, Auth{}, a)
			},
		},
		{
			name: "seed api_keys.json entry shape",
			in:   authConfig(`{"api_keys": [{"key": "sk-dev-123", "owner": "ci", "allowed_upstreams": ["github"], "rate_limit_rpm": 120, "scopes": ["read"]}]}`),
			check: func(t *testing.T, a Auth) {
				assert.Equal(t, []APIKey{{Key: "sk-dev-123", Owner: "ci", AllowedUpstreams: []string{"github"}, RateLimitRPM: 120, Scopes: []string{"read"}}}, a.APIKeys)
			},
		},
		{
			name: "oauth with an RSA public key and default algorithms, http JWKS on loopback elsewhere",
			in:   authConfig(`{"oauth": {"issuer": "i", "audience": "https://gw.example/mcp", "public_key": ` + pemJSON(t, &rsaKey.PublicKey) + `, "allowed_upstreams": ["*"]}}`),
			check: func(t *testing.T, a Auth) {
				assert.Contains(t, a.OAuth.PublicKey, "BEGIN PUBLIC KEY")
			},
		},
		{
			name:  "oauth with an Ed25519 key",
			in:    authConfig(`{"oauth": {"issuer": "i", "audience": "https://gw.example/mcp", "public_key": ` + pemJSON(t, edKey.Public()) + `, "algorithms": ["EdDSA"], "allowed_upstreams": ["*"]}}`),
			check: func(t *testing.T, a Auth) { assert.Equal(t, []string{"EdDSA"}, a.OAuth.Algorithms) },
		},
		{
			name: "oauth JWKS over http on loopback",
			in:   authConfig(`{"oauth": {"issuer": "i", "audience": "http://localhost:8080/mcp", "jwks_url": "http://127.0.0.1:9000/jwks", "allowed_upstreams": ["*"]}}`),
			check: func(t *testing.T, a Auth) {
				assert.Equal(t, "http://127.0.0.1:9000/jwks", a.OAuth.JWKSURL)
			},
		},
		{
			name: "local with only an owner",
			in:   authConfig(`{"local": {"owner": "me", "admin": false}}`),
			check: func(t *testing.T, a Auth) {
				assert.Equal(t, "me", a.Local.Owner)
				assert.Nil(t, a.Local.AllowedUpstreams)
				assert.False(t, *a.Local.Admin)
			},
		},
		{
			name:  "ttl within the default max",
			in:    authConfig(`{"agent_tokens": {"ttl": "12h"}}`),
			check: func(t *testing.T, a Auth) { assert.Equal(t, Duration(12*time.Hour), a.AgentTokens.TTL) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseString(tc.in, tc.env)
			require.NoError(t, err)
			tc.check(t, c.Gateway.Auth)
			assertRoundTrip(t, c)
		})
	}
}

func TestAuthInvalid(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	okKey := func(key, owner string) string {
		return `{"key": "` + key + `", "owner": "` + owner + `", "allowed_upstreams": ["*"], "scopes": ["read"]}`
	}
	oauth := func(extra string) string {
		return authConfig(`{"oauth": {"issuer": "i", "audience": "https://gw.example/mcp", "allowed_upstreams": ["*"], ` + extra + `}}`)
	}
	tests := []struct {
		name string
		in   string
		env  map[string]string
		want []string
	}{
		{name: "bad digests", in: authConfig(`{"api_keys": [` + okKey("sha256:"+strings.Repeat("A", 64), "a") + `, ` + okKey("sha256:abc", "b") + `]}`), want: []string{
			`gateway.auth.api_keys[0].key: a digest must be "sha256:" and 64 lowercase hex digits`,
			`gateway.auth.api_keys[1].key: a digest must be "sha256:" and 64 lowercase hex digits`,
		}},
		{name: "duplicate keys and owners", in: authConfig(`{"api_keys": [` + okKey("k1", "a") + `, ` + okKey(digestOf("k1"), "b") + `, ` + okKey("k2", "a") + `]}`), want: []string{
			"gateway.auth.api_keys[1].key: same key as gateway.auth.api_keys[0]",
			"gateway.auth.api_keys[2].owner: same owner as gateway.auth.api_keys[0]: owners name identities and must be unique",
		}},
		{name: "missing fields", in: authConfig(`{"api_keys": [{}]}`), want: []string{
			`gateway.auth.api_keys[0].allowed_upstreams: list the upstreams this identity may use, or ["*"] for all`,
			`gateway.auth.api_keys[0].key: required: "sha256:" and the hex SHA-256 digest of the key`,
			"gateway.auth.api_keys[0].owner: required: the name of the key's owner",
			`gateway.auth.api_keys[0].scopes: required: ["read"], ["write"] or both`,
		}},
		{name: "bad values", in: authConfig(`{"api_keys": [{"key": "has space", "owner": "a\u0007", "allowed_upstreams": [""], "allowed_tools": ["[x"],
			"scopes": ["read", "admin"], "rate_limit_rpm": -2, "burst": -1}]}`), want: []string{
			`gateway.auth.api_keys[0].allowed_tools[0]: invalid glob pattern (see Go's path.Match)`,
			`gateway.auth.api_keys[0].allowed_upstreams[0]: must be an upstream name or "*"`,
			"gateway.auth.api_keys[0].burst: must not be negative",
			"gateway.auth.api_keys[0].key: must be printable ASCII without spaces",
			"gateway.auth.api_keys[0].owner: must be at most 128 bytes of UTF-8 without control characters",
			"gateway.auth.api_keys[0].rate_limit_rpm: must be -1 (unlimited), 0 (the gateway default) or a positive number",
			`gateway.auth.api_keys[0].scopes[1]: must be "read" or "write"`,
		}},
		{name: "wrong types", in: authConfig(`{"api_keys": [{"key": 1, "owner": "a", "allowed_upstreams": "*", "scopes": ["read"], "rate_limit_rpm": "60", "burst": 1.5, "admin": "yes"}]}`), want: []string{
			"gateway.auth.api_keys[0].admin: must be true or false, got a string",
			"gateway.auth.api_keys[0].allowed_upstreams: must be an array, got a string",
			"gateway.auth.api_keys[0].burst: must be a whole number",
			"gateway.auth.api_keys[0].key: must be a string, got a number",
			"gateway.auth.api_keys[0].rate_limit_rpm: must be an integer, got a string",
		}},
		{name: "unknown keys", in: authConfig(`{"api_key": [], "oauth": {"issuer": "i", "audience": "https://gw.example/mcp", "jwks_url": "https://i.example/j", "allowed_upstreams": ["*"], "jwks_uri": "x"}}`), want: []string{
			`gateway.auth.api_key: unknown key, did you mean "api_keys"?`,
			`gateway.auth.oauth.jwks_uri: unknown key, did you mean "jwks_url"?`,
		}},
		{name: "unset secret variable is reported once", in: authConfig(`{"agent_tokens": {"secret": "${MCP_GATEWAY_AGENT_SECRET}"}, "api_keys": [{"key": "${NO_KEY}", "owner": "a", "allowed_upstreams": ["*"], "scopes": ["read"]}]}`), want: []string{
			"gateway.auth.agent_tokens.secret: environment variable MCP_GATEWAY_AGENT_SECRET is not set",
			"gateway.auth.api_keys[0].key: environment variable NO_KEY is not set",
		}},
		{name: "agent tokens", in: authConfig(`{"agent_tokens": {"secret": "short", "ttl": "2h", "max_ttl": "1h"}}`), want: []string{
			"gateway.auth.agent_tokens.secret: must be at least 32 bytes",
			"gateway.auth.agent_tokens.ttl: is longer than max_ttl (1h0m0s)",
		}},
		{name: "ttl over the default max", in: authConfig(`{"agent_tokens": {"ttl": "48h"}}`), want: []string{
			"gateway.auth.agent_tokens.ttl: is longer than max_ttl (24h0m0s)",
		}},
		{name: "oauth empty", in: authConfig(`{"oauth": {}}`), want: []string{
			`gateway.auth.oauth: needs "jwks_url" or "public_key"`,
			`gateway.auth.oauth.allowed_upstreams: list the upstreams this identity may use, or ["*"] for all`,
			`gateway.auth.oauth.audience: required: this gateway's resource URI, like "https://gw.example/mcp"`,
			"gateway.auth.oauth.issuer: required: the issuer tokens must name in iss",
		}},
		{name: "oauth both key sources", in: oauth(`"jwks_url": "https://i.example/j", "public_key": ` + pemJSON(t, &ecKey.PublicKey) + `, "algorithms": ["ES256"]`), want: []string{
			`gateway.auth.oauth: has both "jwks_url" and "public_key": set one`,
		}},
		{name: "oauth algorithms", in: oauth(`"jwks_url": "https://i.example/j", "algorithms": ["RS256", "HS256", "none", "NONE", "RS1"]`), want: []string{
			"gateway.auth.oauth.algorithms[1]: not allowed for OAuth: use an asymmetric algorithm such as RS256, ES256 or EdDSA",
			"gateway.auth.oauth.algorithms[2]: not allowed for OAuth: use an asymmetric algorithm such as RS256, ES256 or EdDSA",
			"gateway.auth.oauth.algorithms[3]: not allowed for OAuth: use an asymmetric algorithm such as RS256, ES256 or EdDSA",
			"gateway.auth.oauth.algorithms[4]: must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA",
		}},
		{name: "oauth public key of another type", in: oauth(`"public_key": ` + pemJSON(t, &ecKey.PublicKey) + `, "algorithms": ["ES256", "RS256", "ES384"]`), want: []string{
			"gateway.auth.oauth.algorithms[1]: cannot be verified with the type of public_key",
			"gateway.auth.oauth.algorithms[2]: cannot be verified with the type of public_key",
		}},
		{name: "oauth EC key with the default algorithm", in: oauth(`"public_key": ` + pemJSON(t, &ecKey.PublicKey)), want: []string{
			"gateway.auth.oauth.algorithms: required: the default RS256 cannot be verified with the type of public_key",
		}},
		{name: "oauth weak and malformed keys", in: authConfig(`{"oauth": {"issuer": "i", "audience": "https://gw.example/mcp", "allowed_upstreams": ["*"], "public_key": ` + pemJSON(t, &weak.PublicKey) + `}}`), want: []string{
			"gateway.auth.oauth.public_key: RSA keys must have at least 2048 bits",
		}},
		{name: "oauth not PEM", in: oauth(`"public_key": "MIIB..."`), want: []string{
			`gateway.auth.oauth.public_key: must be a PEM block ("-----BEGIN PUBLIC KEY-----")`,
		}},
		{name: "oauth URLs and durations", in: authConfig(`{"oauth": {"issuer": "i", "audience": "https://gw.example/mcp?x=1", "jwks_url": "http://issuer.example/jwks",
			"leeway": "2m", "jwks_refresh_min_interval": "10ms", "authorization_servers": ["issuer.example"], "scopes_supported": ["admin"],
			"allowed_upstreams": ["*"], "rate_limit_rpm": -5}}`), want: []string{
			"gateway.auth.oauth.audience: must be an absolute http or https URL without query or fragment",
			"gateway.auth.oauth.authorization_servers[0]: must be an absolute http or https URL",
			"gateway.auth.oauth.jwks_refresh_min_interval: must be at least 1s",
			"gateway.auth.oauth.jwks_url: must be an https URL (http only on a loopback host)",
			"gateway.auth.oauth.leeway: must be at most 1m0s",
			"gateway.auth.oauth.rate_limit_rpm: must be -1 (unlimited), 0 (the gateway default) or a positive number",
			`gateway.auth.oauth.scopes_supported[0]: must be "read" or "write"`,
		}},
		{name: "oauth refresh interval with a public key", in: oauth(`"public_key": ` + pemJSON(t, &ecKey.PublicKey) + `, "algorithms": ["ES256"], "jwks_refresh_min_interval": "1m"`), want: []string{
			`gateway.auth.oauth.jwks_refresh_min_interval: applies only with "jwks_url"`,
		}},
		{name: "zero leeway is not a way to say none", in: oauth(`"jwks_url": "https://i.example/j", "leeway": "0s"`), want: []string{
			"gateway.auth.oauth.leeway: must be greater than zero",
		}},
		{name: "local", in: authConfig(`{"local": {"allowed_upstreams": [], "scopes": [], "allowed_tools": ["["]}}`), want: []string{
			`gateway.auth.local.allowed_tools[0]: invalid glob pattern (see Go's path.Match)`,
			`gateway.auth.local.allowed_upstreams: must not be empty: leave it out for ["*"]`,
			`gateway.auth.local.scopes: must not be empty: leave it out for ["read", "write"]`,
		}},
		{name: "local scope", in: authConfig(`{"local": {"scopes": ["all"]}}`), want: []string{
			`gateway.auth.local.scopes[0]: must be "read" or "write"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseString(tc.in, tc.env)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Equal(t, tc.want, errLines(err))
		})
	}
}

// TestAuthValidateInCode covers a config.Auth built in code, without Parse.
func TestAuthValidateInCode(t *testing.T) {
	c := &Config{Gateway: Gateway{Auth: Auth{
		APIKeys:     []APIKey{{Key: "k", Owner: "a", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}}},
		AgentTokens: AgentTokens{TTL: Duration(-time.Second)},
		OAuth:       &OAuth{Issuer: "i", Audience: "https://gw.example/mcp", JWKSURL: "https://i.example/j", AllowedUpstreams: []string{"*"}, Leeway: Duration(-1)},
	}}}
	assert.Equal(t, []string{
		"gateway.auth.agent_tokens.ttl: must not be negative",
		"gateway.auth.oauth.leeway: must not be negative",
	}, errLines(c.Validate()))
}

// TestAuthSecretsStayOutOfErrors: keys and the agent secret never appear in error messages.
func TestAuthSecretsStayOutOfErrors(t *testing.T) {
	const canary = "CANARY-sk-9f8e7d"
	env := map[string]string{"S": canary, "SLONG": strings.Repeat(canary, 3), "SSP": canary + " x"}
	in := authConfig(`{
		"api_keys": [
			{"key": "${SLONG}", "owner": "a", "allowed_upstreams": ["*"], "scopes": ["read"]},
			{"key": "` + digestOf(strings.Repeat(canary, 3)) + `", "owner": "b", "allowed_upstreams": ["*"], "scopes": ["read"]},
			{"key": "${SSP}", "owner": "${S}\u0000", "allowed_upstreams": ["${S}\u0001"], "allowed_tools": ["[${S}"], "scopes": ["${S}"]},
			{"key": "sha256:${S}", "owner": "c", "allowed_upstreams": ["*"], "scopes": ["read"]}],
		"agent_tokens": {"secret": "${S}", "ttl": "${S}"},
		"oauth": {"issuer": "${S}\u0000", "audience": "${S}", "jwks_url": "http://${S}.example", "public_key": "${S}", "algorithms": ["${S}", "HS${S}"],
			"authorization_servers": ["${S}"], "scopes_supported": ["${S}"], "allowed_upstreams": ["*"]},
		"local": {"owner": "\u0007${S}", "scopes": ["${S}"]}}`)
	_, err := parseString(in, env)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "CANARY")
	assert.GreaterOrEqual(t, len(errLines(err)), 15)
}

func TestAuthRedacted(t *testing.T) {
	a := Auth{
		APIKeys:     []APIKey{{Key: "plain-key", Owner: "a"}, {Key: digestOf("k2"), Owner: "b"}},
		AgentTokens: AgentTokens{Secret: strings.Repeat("s", 32), TTL: Duration(time.Hour)},
	}
	r := a.Redacted()
	assert.Equal(t, digestOf("plain-key"), r.APIKeys[0].Key)
	assert.Equal(t, digestOf("k2"), r.APIKeys[1].Key)
	assert.Equal(t, "[redacted]", r.AgentTokens.Secret)
	assert.Equal(t, Duration(time.Hour), r.AgentTokens.TTL)
	assert.Equal(t, "plain-key", a.APIKeys[0].Key, "the original is unchanged")
	assert.Equal(t, Auth{}, Auth{}.Redacted())
	assert.True(t, IsKeyDigest(digestOf("x")))
	assert.False(t, IsKeyDigest(strings.ToUpper(digestOf("x"))))
}
