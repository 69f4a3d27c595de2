package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzAuthenticateHeaders")

const fuzzSeedDir = "testdata/fuzz/FuzzAuthenticateHeaders"

// fuzzCreds are the only credentials the fuzz authenticator accepts. They are deterministic, so
// that the seed corpus can hold them: a fixed API key, an agent token signed with a fixed secret
// at t0, and an OAuth token signed by an Ed25519 key derived from a fixed seed.
type fuzzCreds struct {
	a                 *Authenticator
	key, agent, oauth string
}

var fuzzSetup = sync.OnceValues(func() (*fuzzCreds, error) {
	const (
		key    = "mcpgw_fuzz-key-0123456789abcdefghijklmno"
		secret = "fuzz-agent-secret-0123456789abcdef"
	)
	seed := sha256.Sum256([]byte("mcp-gateway auth fuzz"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	a, err := New(Options{
		APIKeys:     []APIKey{{Key: HashKey(key), Owner: "fuzzer", AllowedUpstreams: []string{"*"}, Scopes: []string{"read", "write"}}},
		AgentTokens: AgentTokenOptions{Secret: secret},
		OAuth: &OAuthOptions{Issuer: testIssuer, Audience: testAudience, PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
			Algorithms: []string{"EdDSA"}, AllowedUpstreams: []string{"*"}},
		Now: func() time.Time { return t0 },
	})
	if err != nil {
		return nil, err
	}
	agent := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": agentIssuer, "aud": []string{agentAudience}, "sub": "fuzzer", "agent": "fuzz", "upstreams": []string{"*"},
		"scope": "read", "iat": t0.Unix(), "nbf": t0.Unix(), "exp": t0.Add(time.Hour).Unix(), "jti": "fuzz",
	})
	agent.Header["typ"] = agentType
	agentTok, err := agent.SignedString([]byte(secret))
	if err != nil {
		return nil, err
	}
	oauth := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validClaims())
	oauthTok, err := oauth.SignedString(priv)
	if err != nil {
		return nil, err
	}
	return &fuzzCreds{a: a, key: key, agent: agentTok, oauth: oauthTok}, nil
})

// FuzzAuthenticateHeaders feeds arbitrary X-Api-Key, X-Agent-Token and Authorization values
// (empty means absent) to Authenticate. It must never panic, and it must return an identity only
// when the credential header that decides holds one of the three valid credentials, with the
// matching kind.
func FuzzAuthenticateHeaders(f *testing.F) {
	c, err := fuzzSetup()
	require.NoError(f, err)
	f.Add(c.key, "", "")
	f.Add("", c.agent, "")
	f.Add("", "", "Bearer "+c.oauth)
	f.Add("", "", "Bearer "+c.agent)
	f.Add("", "", "bearer "+c.key)
	f.Fuzz(func(t *testing.T, apiKey, agentTok, authz string) {
		h := http.Header{}
		for name, v := range map[string]string{HeaderAPIKey: apiKey, HeaderAgentToken: agentTok, "Authorization": authz} {
			if v != "" {
				h.Set(name, v)
			}
		}
		id, err := c.a.Authenticate(ctx, h)
		if id == nil {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		var used string
		var fromBearer bool
		switch {
		case apiKey != "":
			used = trimOWS(apiKey)
		case agentTok != "":
			used = trimOWS(agentTok)
		default:
			var ok bool
			used, ok = bearerToken(authz)
			require.True(t, ok, "accepted a malformed Authorization header")
			fromBearer = true
		}
		switch id.Kind {
		case policy.KindAPIKey:
			require.Equal(t, c.key, used)
			require.True(t, apiKey != "" || fromBearer)
		case policy.KindAgent:
			require.Equal(t, c.agent, used)
			require.True(t, apiKey == "")
		case policy.KindOAuth:
			require.Equal(t, c.oauth, used)
			require.True(t, fromBearer)
		default:
			t.Fatalf("unexpected kind %q", id.Kind)
		}
	})
}

// fuzzSeeds are the files of the seed corpus: name → the three arguments.
func fuzzSeeds(c *fuzzCreds) map[string][3]string {
	parts := strings.Split(c.oauth, ".")
	return map[string][3]string{
		"valid-api-key":              {c.key, "", ""},
		"valid-api-key-bearer":       {"", "", "Bearer " + c.key},
		"valid-agent-token":          {"", c.agent, ""},
		"valid-agent-token-bearer":   {"", "", "Bearer " + c.agent},
		"valid-oauth":                {"", "", "Bearer " + c.oauth},
		"precedence-key-over-bearer": {c.key, "", "Bearer junk"},
		"rejected-key-then-bearer":   {"junk", "", "Bearer " + c.oauth},
		"oauth-as-agent-token":       {"", c.oauth, ""},
		"api-key-as-agent-token":     {"", c.key, ""},
		"key-with-suffix":            {c.key + "x", "", ""},
		"alg-none":                   {"", "", "Bearer " + unsigned(`{"alg":"none"}`, `{"sub":"x"}`)},
		"stripped-signature":         {"", "", "Bearer " + parts[0] + "." + parts[1] + "."},
		"padded-signature":           {"", "", "Bearer " + c.oauth + "="},
		"dots-over-cap":              {"", "", "Bearer " + strings.Repeat(".", MaxCredentialBytes)},
		"dots-under-cap":             {"", "", "Bearer " + strings.Repeat(".", 1000)},
		"basic":                      {"", "", "Basic Zm9vOmJhcg=="},
		"bearer-empty":               {"", "", "Bearer "},
		"bearer-tab":                 {"", "", "Bearer\t" + c.key},
		"nul-in-key":                 {c.key + "\x00", "", ""},
		"unicode":                    {"", "", "Bearer \u00e9\u212a.\u2028.x"},
	}
}

// TestFuzzSeeds checks that the seed corpus matches fuzzSeeds (rewrite it with -update-seeds) and
// that its valid credentials still authenticate, so the fuzzer starts from real successes.
func TestFuzzSeeds(t *testing.T) {
	c, err := fuzzSetup()
	require.NoError(t, err)
	seeds := fuzzSeeds(c)
	if *updateSeeds {
		require.NoError(t, os.MkdirAll(fuzzSeedDir, 0o755))
		for name, args := range seeds {
			var b strings.Builder
			b.WriteString("go test fuzz v1\n")
			for _, a := range args {
				fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(a))
			}
			require.NoError(t, os.WriteFile(filepath.Join(fuzzSeedDir, name), []byte(b.String()), 0o644))
		}
	}
	for name, args := range seeds {
		data, err := os.ReadFile(filepath.Join(fuzzSeedDir, name))
		require.NoError(t, err, "run go test ./auth -run TestFuzzSeeds -update-seeds")
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		require.Len(t, lines, 4, name)
		for i, a := range args {
			got, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[i+1], "string("), ")"))
			require.NoError(t, err, name)
			assert.Equal(t, a, got, name)
		}
		h := http.Header{}
		for i, hn := range []string{HeaderAPIKey, HeaderAgentToken, "Authorization"} {
			if args[i] != "" {
				h.Set(hn, args[i])
			}
		}
		id, err := c.a.Authenticate(ctx, h)
		if strings.HasPrefix(name, "valid-") || strings.HasPrefix(name, "precedence-") {
			assert.NoError(t, err, name)
			assert.NotNil(t, id, name)
		} else {
			assert.Error(t, err, name)
		}
	}
}
