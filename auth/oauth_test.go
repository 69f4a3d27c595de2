package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oauthEnv is an authenticator whose OAuth keys come from a JWKS server on 127.0.0.1.
type oauthEnv struct {
	a     *Authenticator
	jwks  *jwksServer
	clock *clock
}

const refreshInterval = time.Minute

func newOAuthEnv(t *testing.T, algs []string, keys ...map[string]any) *oauthEnv {
	t.Helper()
	k := testKeys()
	if keys == nil {
		keys = []map[string]any{jwkJSON("k1", &k.rsa1.PublicKey), jwkJSON("ec1", &k.ec256.PublicKey)}
	}
	e := &oauthEnv{jwks: newJWKSServer(t, keys...), clock: newClock()}
	e.a = mustNew(t, Options{
		OAuth: &OAuthOptions{
			Issuer: testIssuer, Audience: testAudience, JWKSURL: e.jwks.URL + "/jwks.json",
			Algorithms: algs, Leeway: 30 * time.Second, JWKSRefreshMinInterval: refreshInterval,
			AllowedUpstreams: []string{"notes"}, AllowedTools: []string{"notes__*"}, RateLimitRPM: 30, Burst: 5,
			ScopesSupported: []string{"read", "write"},
		},
		AgentTokens: AgentTokenOptions{Secret: strings.Repeat("s", 32)},
		Now:         e.clock.Now,
	})
	return e
}

// TestJWTCorpus runs SECURITY.md's J corpus against the OAuth verifier: every token but the
// positive controls is rejected with ErrInvalidCredential, and nothing is fetched from the URLs
// that tokens name.
func TestJWTCorpus(t *testing.T) {
	k := testKeys()
	e := newOAuthEnv(t, []string{"RS256"})
	attackerJWKS, _ := json.Marshal(map[string]any{"keys": []any{jwkJSON("k1", &k.rsaAttacker.PublicKey), jwkJSON("evil", &k.rsaAttacker.PublicKey)}})
	attacker, attackerFetches := countingServer(t, attackerJWKS)

	rs := func(header map[string]any, c jwt.MapClaims) string {
		if _, ok := header["kid"]; !ok {
			header = with(jwt.MapClaims(header), map[string]any{"kid": "k1"})
		}
		return sign(t, jwt.SigningMethodRS256, k.rsa1, header, c)
	}
	good := validClaims()
	goodTok := rs(nil, good)
	parts := strings.Split(goodTok, ".")
	payloadJSON := func(c jwt.MapClaims) string { b, _ := json.Marshal(c); return string(b) }
	pubPEM := pemPublic(t, &k.rsa1.PublicKey)
	flipBit := func(s string) string {
		b, _ := base64.RawURLEncoding.DecodeString(s)
		b[len(b)/2] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	// nonCanonical changes the unused low bits of the last character: a lenient decoder reads the
	// same bytes.
	nonCanonical := func(s string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + string(alphabet[i^1])
	}
	require.NotEqual(t, 0, len(parts[2])%4, "the signature segment must have unused bits")

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{name: "J20 positive control", token: goodTok, ok: true},
		{name: "J1 alg none", token: unsigned(`{"alg":"none","typ":"JWT"}`, payloadJSON(good))},
		{name: "J1 alg none with kid", token: unsigned(`{"alg":"none","kid":"k1"}`, payloadJSON(good))},
		{name: "J2 alg None", token: unsigned(`{"alg":"None"}`, payloadJSON(good))},
		{name: "J2 alg NONE", token: unsigned(`{"alg":"NONE"}`, payloadJSON(good))},
		{name: "J2 alg nOnE with a signature", token: unsigned(`{"alg":"nOnE"}`, payloadJSON(good)) + "c2ln"},
		{name: "J3 HS256 keyed with the RSA public key PEM", token: sign(t, jwt.SigningMethodHS256, []byte(pubPEM), map[string]any{"kid": "k1"}, good)},
		{name: "J3 HS256 keyed with the RSA modulus", token: sign(t, jwt.SigningMethodHS256, k.rsa1.N.Bytes(), map[string]any{"kid": "k1"}, good)},
		{name: "J4 RS256 by an unknown key with a known kid", token: sign(t, jwt.SigningMethodRS256, k.rsaAttacker, map[string]any{"kid": "k1"}, good)},
		{name: "J4 RS256 by an unknown key without kid", token: sign(t, jwt.SigningMethodRS256, k.rsaAttacker, nil, good)},
		{name: "J5 ES256 when only RS256 is allowed", token: sign(t, jwt.SigningMethodES256, k.ec256, map[string]any{"kid": "ec1"}, good)},
		{name: "J5 PS256 when only RS256 is allowed", token: sign(t, jwt.SigningMethodPS256, k.rsa1, map[string]any{"kid": "k1"}, good)},
		{name: "J5 EdDSA when only RS256 is allowed", token: sign(t, jwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": "k1"}, good)},
		{name: "J6 kid path traversal", token: rs(map[string]any{"kid": "../../../../dev/null"}, good)},
		{name: "J6 kid SQL injection", token: rs(map[string]any{"kid": "' OR 1=1 --"}, good)},
		{name: "J6 unknown kid", token: rs(map[string]any{"kid": "k-unknown"}, good)},
		{name: "J6 kid not a string", token: rs(map[string]any{"kid": 1}, good)},
		{name: "J7 jku at an attacker JWKS", token: sign(t, jwt.SigningMethodRS256, k.rsaAttacker, map[string]any{"kid": "evil", "jku": attacker.URL + "/jwks.json"}, good)},
		{name: "J7 jku with a known kid", token: sign(t, jwt.SigningMethodRS256, k.rsaAttacker, map[string]any{"kid": "k1", "jku": attacker.URL + "/jwks.json"}, good)},
		{name: "J7 x5u at an attacker", token: sign(t, jwt.SigningMethodRS256, k.rsaAttacker, map[string]any{"kid": "k1", "x5u": attacker.URL + "/cert.pem"}, good)},
		{name: "J7 embedded jwk", token: sign(t, jwt.SigningMethodRS256, k.rsaAttacker, map[string]any{"jwk": jwkJSON("evil", &k.rsaAttacker.PublicKey)}, good)},
		{name: "J8 aud another resource", token: rs(nil, with(good, map[string]any{"aud": "http://127.0.0.1:1/other"}))},
		{name: "J8 aud a prefix of ours", token: rs(nil, with(good, map[string]any{"aud": "http://127.0.0.1:8080"}))},
		{name: "J8 aud array without ours", token: rs(nil, with(good, map[string]any{"aud": []string{"a", "b"}}))},
		{name: "aud array with ours", token: rs(nil, with(good, map[string]any{"aud": []string{"other", testAudience}})), ok: true},
		{name: "J9 aud missing", token: rs(nil, with(good, map[string]any{"aud": nil}))},
		{name: "J10 iss mismatch", token: rs(nil, with(good, map[string]any{"iss": "https://evil.example"}))},
		{name: "J10 iss missing", token: rs(nil, with(good, map[string]any{"iss": nil}))},
		{name: "J11 exp 2 min ago with 30s leeway", token: rs(nil, with(good, map[string]any{"exp": t0.Add(-2 * time.Minute).Unix()}))},
		{name: "J11 exp 10 s ago is within leeway", token: rs(nil, with(good, map[string]any{"exp": t0.Add(-10 * time.Second).Unix()})), ok: true},
		{name: "J12 exp missing", token: rs(nil, with(good, map[string]any{"exp": nil}))},
		{name: "exp not a number", token: rs(nil, with(good, map[string]any{"exp": "tomorrow"}))},
		{name: "J13 nbf 5 min ahead", token: rs(nil, with(good, map[string]any{"nbf": t0.Add(5 * time.Minute).Unix()}))},
		{name: "iat 5 min ahead", token: rs(nil, with(good, map[string]any{"iat": t0.Add(5 * time.Minute).Unix()}))},
		{name: "J14 signature stripped", token: parts[0] + "." + parts[1] + "."},
		{name: "J14 signature one bit changed", token: parts[0] + "." + parts[1] + "." + flipBit(parts[2])},
		{name: "J14 payload one bit changed", token: parts[0] + "." + flipBit(parts[1]) + "." + parts[2]},
		{name: "J16 typ agent+jwt", token: rs(map[string]any{"typ": "agent+jwt"}, good)},
		{name: "typ at+jwt", token: rs(map[string]any{"typ": "at+jwt"}, good), ok: true},
		{name: "typ unknown", token: rs(map[string]any{"typ": "id+jwt"}, good)},
		{name: "J17 padded payload", token: parts[0] + "." + base64.URLEncoding.EncodeToString([]byte(payloadJSON(good))) + "." + parts[2]},
		{name: "J17 padded signature", token: goodTok + "=="},
		{name: "J17 non-canonical signature", token: parts[0] + "." + parts[1] + "." + nonCanonical(parts[2])},
		{name: "J17 standard base64 alphabet", token: parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/"},
		{name: "J18 crit with an unknown extension", token: rs(map[string]any{"crit": []string{"x-unknown"}, "x-unknown": true}, good)},
		{name: "J18 crit naming a registered header", token: rs(map[string]any{"crit": []string{"exp"}, "exp": 1}, good)},
		{name: "J19 duplicate aud", token: signRaw(t, jwt.SigningMethodRS256, k.rsa1, `{"alg":"RS256","kid":"k1"}`,
			strings.Replace(payloadJSON(good), `"aud":`, `"aud":"http://127.0.0.1:1/other","aud":`, 1))},
		{name: "J19 duplicate aud differing in case", token: signRaw(t, jwt.SigningMethodRS256, k.rsa1, `{"alg":"RS256","kid":"k1"}`,
			strings.Replace(payloadJSON(good), `"aud":`, `"AUD":"http://127.0.0.1:1/other","aud":`, 1))},
		{name: "J19 duplicate kid in the header", token: signRaw(t, jwt.SigningMethodRS256, k.rsa1, `{"alg":"RS256","kid":"k1","kid":"k1"}`, payloadJSON(good))},
		{name: "sub missing", token: rs(nil, with(good, map[string]any{"sub": nil}))},
		{name: "scope of the wrong type", token: rs(nil, with(good, map[string]any{"scope": 7}))},
		{name: "payload not an object", token: signRaw(t, jwt.SigningMethodRS256, k.rsa1, `{"alg":"RS256","kid":"k1"}`, `[1]`)},
		{name: "trailing data after the payload", token: signRaw(t, jwt.SigningMethodRS256, k.rsa1, `{"alg":"RS256","kid":"k1"}`, payloadJSON(good)+`{}`)},
		{name: "four segments", token: goodTok + ".x"},
		{name: "two segments", token: parts[0] + "." + parts[1]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := e.a.Authenticate(ctx, bearer(tc.token))
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, policy.KindOAuth, id.Kind)
				assert.Equal(t, "user-1", id.Owner)
				return
			}
			assert.Nil(t, id)
			require.ErrorIs(t, err, ErrInvalidCredential)
			assert.ErrorIs(t, err, sdkauth.ErrInvalidToken)
			for _, p := range strings.Split(tc.token, ".") {
				if len(p) > 8 {
					assert.NotContains(t, err.Error(), p, "the error quotes the token")
				}
			}
		})
	}
	assert.Zero(t, attackerFetches.Load(), "jku/x5u/jwk must never be fetched")
	// The clock stands still: one fetch for the first token, and every unknown kid after it falls
	// within the refresh interval.
	assert.Equal(t, int64(1), e.jwks.fetches.Load())
}

// TestJ20Identity checks what a valid access token authenticates as.
func TestJ20Identity(t *testing.T) {
	k := testKeys()
	e := newOAuthEnv(t, nil)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa1, map[string]any{"kid": "k1"}, validClaims())
	id, err := e.a.Authenticate(ctx, bearer(tok))
	require.NoError(t, err)
	assert.Equal(t, policy.New(policy.Identity{
		Owner: "user-1", Kind: policy.KindOAuth, Upstreams: []string{"notes"}, Tools: []string{"notes__*"},
		Scopes: []string{"read", "write"}, Limit: policy.Limit{RPM: 30, Burst: 5}, Expiry: t0.Add(5 * time.Minute),
	}), id)

	t.Run("scp array", func(t *testing.T) {
		tok := sign(t, jwt.SigningMethodRS256, k.rsa1, map[string]any{"kid": "k1"}, with(validClaims(), map[string]any{"scope": nil, "scp": []string{"read", "admin"}}))
		id, err := e.a.Authenticate(ctx, bearer(tok))
		require.NoError(t, err)
		assert.Equal(t, []string{"read"}, id.Scopes)
	})
	t.Run("no scope", func(t *testing.T) {
		tok := sign(t, jwt.SigningMethodRS256, k.rsa1, map[string]any{"kid": "k1"}, with(validClaims(), map[string]any{"scope": nil}))
		id, err := e.a.Authenticate(ctx, bearer(tok))
		require.NoError(t, err)
		assert.Empty(t, id.Scopes)
		assert.ErrorIs(t, RequireScope(id, policy.ScopeRead), ErrInsufficientScope)
	})
}

// TestJ15DotsAreCheap: an Authorization header of 1 MiB of dots is rejected by its length.
func TestJ15DotsAreCheap(t *testing.T) {
	e := newOAuthEnv(t, nil)
	dots := strings.Repeat(".", 1<<20)
	for _, h := range []http.Header{
		bearer(dots),
		header(HeaderAgentToken, dots),
		header(HeaderAPIKey, dots),
		bearer(strings.Repeat("a.", MaxCredentialBytes/2)), // just over the cap with "Bearer "
	} {
		id, err := e.a.Authenticate(ctx, h)
		assert.Nil(t, id)
		assert.ErrorIs(t, err, ErrInvalidCredential)
	}
	allocs := testing.AllocsPerRun(20, func() { e.a.Authenticate(ctx, bearer(dots)) })
	assert.LessOrEqual(t, allocs, 10.0)
	assert.Zero(t, e.jwks.fetches.Load())

	// Dots under the cap are refused by their shape, still without a fetch.
	_, err := e.a.Authenticate(ctx, bearer(strings.Repeat(".", 4000)))
	assert.ErrorIs(t, err, ErrInvalidCredential)
	assert.Zero(t, e.jwks.fetches.Load())
}

// TestJ6UnknownKidRefresh: unknown kids cause at most one JWKS fetch per refresh interval, even
// when many arrive at once.
func TestJ6UnknownKidRefresh(t *testing.T) {
	k := testKeys()
	e := newOAuthEnv(t, nil)
	tok := func(kid string) string {
		return sign(t, jwt.SigningMethodRS256, k.rsa1, map[string]any{"kid": kid}, with(validClaims(), map[string]any{"exp": t0.Add(time.Hour).Unix()}))
	}
	steps := []struct {
		name    string
		kid     string
		advance time.Duration
		ok      bool
		fetches int64
	}{
		{name: "first token loads the set", kid: "k1", ok: true, fetches: 1},
		{name: "unknown kid within the interval of the load", kid: "nope", fetches: 1},
		{name: "unknown kid after the interval refreshes", kid: "nope", advance: refreshInterval, fetches: 2},
		{name: "path-like kid within the interval", kid: "../../../../dev/null", fetches: 2},
		{name: "SQL-like kid within the interval", kid: "' OR 1=1 --", advance: refreshInterval / 2, fetches: 2},
		{name: "known kid needs no fetch", kid: "k1", ok: true, fetches: 2},
		{name: "unknown kid after the interval again", kid: "nope", advance: refreshInterval / 2, fetches: 3},
		{name: "and again within it", kid: "nope2", advance: refreshInterval / 2, fetches: 3},
	}
	for _, s := range steps {
		e.clock.Advance(s.advance)
		_, err := e.a.Authenticate(ctx, bearer(tok(s.kid)))
		if s.ok {
			assert.NoError(t, err, s.name)
		} else {
			assert.ErrorIs(t, err, ErrInvalidCredential, s.name)
		}
		assert.Equal(t, s.fetches, e.jwks.fetches.Load(), s.name)
	}

	e.clock.Advance(refreshInterval)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, err := e.a.Authenticate(ctx, bearer(tok("burst-"+string(rune('a'+i%26)))))
			assert.ErrorIs(t, err, ErrInvalidCredential)
		})
	}
	wg.Wait()
	assert.Equal(t, int64(4), e.jwks.fetches.Load(), "50 concurrent unknown kids, one fetch")
}

// TestJWKSRotation: the issuer rotates its key; a token with the new kid triggers one refresh,
// and the removed key stops verifying.
func TestJWKSRotation(t *testing.T) {
	k := testKeys()
	e := newOAuthEnv(t, nil, jwkJSON("k1", &k.rsa1.PublicKey))
	tok1 := sign(t, jwt.SigningMethodRS256, k.rsa1, map[string]any{"kid": "k1"}, validClaims())
	tok2 := sign(t, jwt.SigningMethodRS256, k.rsa2, map[string]any{"kid": "k2"}, validClaims())

	_, err := e.a.Authenticate(ctx, bearer(tok1))
	require.NoError(t, err)
	require.Equal(t, int64(1), e.jwks.fetches.Load())

	e.jwks.Set(jwkJSON("k2", &k.rsa2.PublicKey))
	e.clock.Advance(refreshInterval)
	_, err = e.a.Authenticate(ctx, bearer(tok1))
	require.NoError(t, err, "the cached k1 still verifies until a refresh")
	assert.Equal(t, int64(1), e.jwks.fetches.Load())

	id, err := e.a.Authenticate(ctx, bearer(tok2))
	require.NoError(t, err, "unknown k2 refreshes the set")
	assert.Equal(t, "user-1", id.Owner)
	assert.Equal(t, int64(2), e.jwks.fetches.Load())

	_, err = e.a.Authenticate(ctx, bearer(tok1))
	assert.ErrorIs(t, err, ErrInvalidCredential, "k1 was removed")
	assert.Equal(t, int64(2), e.jwks.fetches.Load(), "and its refresh is rate-limited")

	// After jwksMaxAge the set is refreshed even for a known kid.
	e.clock.Advance(jwksMaxAge)
	tok2 = sign(t, jwt.SigningMethodRS256, k.rsa2, map[string]any{"kid": "k2"}, with(validClaims(), map[string]any{"exp": e.clock.Now().Add(time.Minute).Unix()}))
	_, err = e.a.Authenticate(ctx, bearer(tok2))
	require.NoError(t, err)
	assert.Equal(t, int64(3), e.jwks.fetches.Load())
}

// TestJWKSFailures: a JWKS that cannot be fetched or parsed rejects tokens, and keeps the old keys.
func TestJWKSFailures(t *testing.T) {
	k := testKeys()
	tok := sign(t, jwt.SigningMethodRS256, k.rsa1, map[string]any{"kid": "k1"}, validClaims())
	big := []byte(`{"keys":[` + strings.Repeat(" ", maxJWKSBytes) + `]}`)
	handlers := map[string]http.HandlerFunc{
		"status 500": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) },
		"not JSON":   func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) },
		"over 1 MiB": func(w http.ResponseWriter, r *http.Request) { w.Write(big) },
		"hangs":      func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
		"weak RSA key": func(w http.ResponseWriter, r *http.Request) {
			weak, _ := rsa.GenerateKey(rand.Reader, 1024)
			json.NewEncoder(w).Encode(map[string]any{"keys": []any{jwkJSON("k1", &weak.PublicKey)}})
		},
	}
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			a := mustNew(t, Options{
				OAuth: &OAuthOptions{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL, AllowedUpstreams: []string{"*"}},
				Now:   newClock().Now, HTTPClient: &http.Client{Timeout: 200 * time.Millisecond},
			})
			_, err := a.Authenticate(ctx, bearer(tok))
			assert.ErrorIs(t, err, ErrInvalidCredential)
		})
	}
}

// TestOAuthAlgorithms: every allowed algorithm verifies with a key of its type from a JWKS or a
// PEM, and only with that.
func TestOAuthAlgorithms(t *testing.T) {
	k := testKeys()
	all := []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	e := newOAuthEnv(t, all,
		jwkJSON("rsa", &k.rsa1.PublicKey), jwkJSON("p256", &k.ec256.PublicKey), jwkJSON("p384", &k.ec384.PublicKey),
		jwkJSON("p521", &k.ec521.PublicKey), jwkJSON("ed", k.ed.Public()))
	cases := []struct {
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{jwt.SigningMethodRS256, k.rsa1, "rsa"}, {jwt.SigningMethodRS384, k.rsa1, "rsa"}, {jwt.SigningMethodRS512, k.rsa1, "rsa"},
		{jwt.SigningMethodPS256, k.rsa1, "rsa"}, {jwt.SigningMethodPS384, k.rsa1, "rsa"}, {jwt.SigningMethodPS512, k.rsa1, "rsa"},
		{jwt.SigningMethodES256, k.ec256, "p256"}, {jwt.SigningMethodES384, k.ec384, "p384"}, {jwt.SigningMethodES512, k.ec521, "p521"},
		{jwt.SigningMethodEdDSA, k.ed, "ed"},
	}
	for _, c := range cases {
		t.Run(c.method.Alg(), func(t *testing.T) {
			_, err := e.a.Authenticate(ctx, bearer(sign(t, c.method, c.key, map[string]any{"kid": c.kid}, validClaims())))
			assert.NoError(t, err)
			_, err = e.a.Authenticate(ctx, bearer(sign(t, c.method, c.key, nil, validClaims())))
			assert.NoError(t, err, "no kid: every key of the right type is tried")
		})
	}
	t.Run("ES256 token naming the P-384 key", func(t *testing.T) {
		_, err := e.a.Authenticate(ctx, bearer(sign(t, jwt.SigningMethodES256, k.ec256, map[string]any{"kid": "p384"}, validClaims())))
		assert.ErrorIs(t, err, ErrInvalidCredential)
	})
	t.Run("attacker EC key under a known kid", func(t *testing.T) {
		_, err := e.a.Authenticate(ctx, bearer(sign(t, jwt.SigningMethodES256, k.ecX, map[string]any{"kid": "p256"}, validClaims())))
		assert.ErrorIs(t, err, ErrInvalidCredential)
	})

	for name, c := range map[string]struct {
		pub    any
		priv   any
		method jwt.SigningMethod
	}{
		"PEM RSA":     {&k.rsa1.PublicKey, k.rsa1, jwt.SigningMethodRS256},
		"PEM P-256":   {&k.ec256.PublicKey, k.ec256, jwt.SigningMethodES256},
		"PEM Ed25519": {k.ed.Public(), k.ed, jwt.SigningMethodEdDSA},
	} {
		t.Run(name, func(t *testing.T) {
			a := mustNew(t, Options{OAuth: &OAuthOptions{
				Issuer: testIssuer, Audience: testAudience, PublicKey: pemPublic(t, c.pub),
				Algorithms: []string{c.method.Alg()}, AllowedUpstreams: []string{"*"},
			}, Now: newClock().Now})
			id, err := a.Authenticate(ctx, bearer(sign(t, c.method, c.priv, nil, validClaims())))
			require.NoError(t, err)
			assert.Equal(t, "user-1", id.Owner)
			_, err = a.Authenticate(ctx, bearer(sign(t, jwt.SigningMethodHS256, []byte(pemPublic(t, c.pub)), nil, validClaims())))
			assert.ErrorIs(t, err, ErrInvalidCredential, "HS256 with the PEM as secret")
		})
	}
}

func TestParseJWK(t *testing.T) {
	k := testKeys()
	good := []map[string]any{
		jwkJSON("a", &k.rsa1.PublicKey), jwkJSON("b", &k.ec256.PublicKey), jwkJSON("c", &k.ec384.PublicKey),
		jwkJSON("d", &k.ec521.PublicKey), jwkJSON("e", k.ed.Public()),
	}
	bad := []map[string]any{
		with(jwkJSON("f", &k.rsa1.PublicKey), map[string]any{"use": "enc"}),
		with(jwkJSON("g", &k.ec256.PublicKey), map[string]any{"crv": "P-384"}),
		with(jwkJSON("h", &k.ec256.PublicKey), map[string]any{"y": base64.RawURLEncoding.EncodeToString(make([]byte, 32))}), // not on the curve
		with(jwkJSON("i", k.ed.Public()), map[string]any{"crv": "X25519"}),
		with(jwkJSON("j", &k.rsa1.PublicKey), map[string]any{"e": "AAE"}),
		{"kty": "oct", "k": "c2VjcmV0", "kid": "k"},
		{"kty": "RSA", "kid": "empty"},
	}
	var keys []any
	for _, g := range append(good, bad...) {
		keys = append(keys, g)
	}
	doc, _ := json.Marshal(map[string]any{"keys": keys})
	got, err := parseJWKS(doc)
	require.NoError(t, err)
	var kids []string
	for _, k := range got {
		kids = append(kids, k.kid)
	}
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, kids)
	assert.IsType(t, &rsa.PublicKey{}, got[0].key)
	assert.IsType(t, &ecdsa.PublicKey{}, got[1].key)
	assert.IsType(t, ed25519.PublicKey{}, got[4].key)

	_, err = parseJWKS([]byte(`[]`))
	assert.Error(t, err)
}

func TestResourceMetadataAndChallenge(t *testing.T) {
	e := newOAuthEnv(t, nil)
	m := e.a.ResourceMetadata()
	require.NotNil(t, m)
	assert.Equal(t, testAudience, m.Resource)
	assert.Equal(t, []string{testIssuer}, m.AuthorizationServers)
	assert.Equal(t, []string{"read", "write"}, m.ScopesSupported)
	m.AuthorizationServers[0] = "changed"
	assert.Equal(t, []string{testIssuer}, e.a.ResourceMetadata().AuthorizationServers, "a copy")

	const url = "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
	assert.Equal(t, url, e.a.ResourceMetadataURL())
	assert.Equal(t, `Bearer resource_metadata="`+url+`"`, e.a.Challenge(""))
	assert.Equal(t, `Bearer resource_metadata="`+url+`", error="insufficient_scope", scope="write"`, e.a.Challenge("write"))
	assert.Equal(t, `Bearer resource_metadata="`+url+`", error="insufficient_scope", scope="writex"`, e.a.Challenge("wr\"ite\\\nx"))

	plain := mustNew(t, Options{APIKeys: []APIKey{{Key: HashKey("k"), Owner: "o", AllowedUpstreams: []string{"*"}, Scopes: []string{"read"}}}})
	assert.Nil(t, plain.ResourceMetadata())
	assert.Empty(t, plain.ResourceMetadataURL())
	assert.Equal(t, `Bearer realm="mcp-gateway"`, plain.Challenge(""))
	assert.Equal(t, `Bearer realm="mcp-gateway", error="insufficient_scope", scope="read"`, plain.Challenge("read"))
}

func TestCheckCompact(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	sig := enc("sig")
	tests := []struct {
		name, tok string
		want      error
	}{
		{"ok", enc(`{"alg":"RS256"}`) + "." + enc(`{"a":{"b":[{"c":1}]}}`) + "." + sig, nil},
		{"nested duplicate", enc(`{"alg":"RS256"}`) + "." + enc(`{"a":{"b":1,"b":2}}`) + "." + sig, errCompactDupKey},
		{"duplicate by Unicode folding", enc(`{"alg":"RS256"}`) + "." + enc(`{"kid":1,"\u212aid":2}`) + "." + sig, errCompactDupKey},
		{"same key in sibling objects is fine", enc(`{"alg":"RS256"}`) + "." + enc(`{"a":{"x":1},"b":{"x":1}}`) + "." + sig, nil},
		{"deep nesting", enc(`{"alg":"RS256"}`) + "." + enc(`{"a":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`) + "." + sig, errCompactTooDeep},
		{"invalid JSON", enc(`{"alg":"RS256"}`) + "." + enc(`{"a":}`) + "." + sig, errCompactJSON},
		{"empty signature", enc(`{"alg":"RS256"}`) + "." + enc(`{}`) + ".", errCompactNoSig},
		{"whitespace", enc(`{"alg":"RS256"}`) + ". " + enc(`{}`) + "." + sig, errCompactShape},
		{"crit", enc(`{"alg":"RS256","crit":[]}`) + "." + enc(`{}`) + "." + sig, errCompactCrit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, checkCompact(tc.tok))
		})
	}
}
