package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// oauthAlgorithms are the algorithms an OAuth issuer may use: never "none", never HMAC.
var oauthAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// oauthTypes are the accepted values of an OAuth token's typ header, compared case-insensitively;
// a token without typ is accepted too. agent+jwt is not among them (SECURITY.md J16).
var oauthTypes = []string{"jwt", "at+jwt", "application/at+jwt"}

// wellKnownPath is where the protected resource metadata is served (RFC 9728 §3).
const wellKnownPath = "/.well-known/oauth-protected-resource"

// oauthVerifier verifies access tokens of the configured issuer.
type oauthVerifier struct {
	issuer, audience string
	algs             []string
	leeway           time.Duration
	static           []jwk        // the configured public key, or nil
	jwks             *jwksSet     // keys from jwks_url, or nil
	upstreams, tools []string     // the policy of every OAuth identity
	limit            policy.Limit // resolved against the gateway's default
	metadata         oauthex.ProtectedResourceMetadata
	metadataURL      string
	now              func() time.Time
}

func newOAuthVerifier(o OAuthOptions, def policy.Limit, now func() time.Time, client *http.Client, log *slog.Logger) (*oauthVerifier, error) {
	v := &oauthVerifier{
		issuer: o.Issuer, audience: o.Audience, algs: slices.Clone(o.Algorithms), leeway: o.Leeway, now: now,
		upstreams: slices.Clone(o.AllowedUpstreams), tools: slices.Clone(o.AllowedTools), limit: resolveLimit(o.RateLimitRPM, o.Burst, def),
	}
	var errs []error
	fail := func(msg string) { errs = append(errs, errors.New("oauth: "+msg)) }
	if v.issuer == "" {
		fail("issuer is required")
	}
	u, err := url.Parse(o.Audience)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		fail("audience must be an absolute http or https URL without query or fragment")
	} else {
		v.metadataURL = u.Scheme + "://" + u.Host + wellKnownPath
	}
	if len(v.algs) == 0 {
		v.algs = []string{"RS256"}
	}
	for _, alg := range v.algs {
		if !slices.Contains(oauthAlgorithms, alg) {
			fail("algorithms must be among " + strings.Join(oauthAlgorithms, ", "))
			break
		}
	}
	if v.leeway == 0 {
		v.leeway = DefaultOAuthLeeway
	}
	if v.leeway < 0 || v.leeway > MaxOAuthLeeway {
		fail(fmt.Sprintf("leeway must be between 0 and %s", MaxOAuthLeeway))
	}
	if err := checkPolicy(o.AllowedUpstreams, []string{policy.ScopeRead}, o.RateLimitRPM, o.Burst); err != nil {
		fail(err.Error())
	}
	switch {
	case (o.JWKSURL == "") == (o.PublicKey == ""):
		fail("set exactly one of jwks_url and public_key")
	case o.PublicKey != "":
		k, err := parsePEMKey(o.PublicKey)
		if err != nil {
			fail(err.Error())
			break
		}
		v.static = []jwk{k}
		for _, alg := range v.algs {
			if !k.canVerify(alg) {
				fail("public_key cannot verify algorithm " + alg)
			}
		}
	default:
		ju, err := url.Parse(o.JWKSURL)
		if err != nil || !(ju.Scheme == "https" || ju.Scheme == "http" && isLoopbackHost(ju.Hostname())) || ju.Host == "" || ju.User != nil {
			fail("jwks_url must be an https URL (http only on a loopback host)")
			break
		}
		interval := o.JWKSRefreshMinInterval
		if interval <= 0 {
			interval = DefaultJWKSRefreshMinInterval
		}
		v.jwks = newJWKSSet(o.JWKSURL, client, interval, now, log)
	}
	servers := slices.Clone(o.AuthorizationServers)
	if len(servers) == 0 {
		servers = []string{o.Issuer}
	}
	v.metadata = oauthex.ProtectedResourceMetadata{
		Resource:               o.Audience,
		AuthorizationServers:   servers,
		ScopesSupported:        slices.Clone(o.ScopesSupported),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "mcp-gateway",
	}
	return v, errors.Join(errs...)
}

func isLoopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

// oauthClaims are the claims read from an OAuth access token.
type oauthClaims struct {
	jwt.RegisteredClaims
	Scope any `json:"scope,omitempty"` // space-separated string (RFC 8693, RFC 9068)
	Scp   any `json:"scp,omitempty"`   // array of strings (Azure AD, Okta), or a string
}

// verify verifies an OAuth access token and returns its identity: Name is sub, Scopes the
// token's "read" and "write" scopes, the rest the configured policy.
func (v *oauthVerifier) verify(ctx context.Context, tok string) (*policy.Identity, error) {
	const what = "oauth token"
	if err := checkCompact(tok); err != nil {
		return nil, invalid(what, err.Error())
	}
	var claims oauthClaims
	p := jwt.NewParser(
		jwt.WithValidMethods(v.algs),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	_, err := p.ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		return nil, invalid(what, reason(err))
	}
	if claims.Subject == "" {
		return nil, invalid(what, "required claim missing")
	}
	scopes, ok := tokenScopes(claims.Scope, claims.Scp)
	if !ok {
		return nil, invalid(what, "malformed scope claim")
	}
	return policy.New(policy.Identity{Owner: claims.Subject, Kind: policy.KindOAuth, Upstreams: v.upstreams, Tools: v.tools,
		Scopes: scopes, Limit: v.limit, Expiry: claims.ExpiresAt.Time}), nil
}

// key is the keyfunc: it returns only keys of the type token.Method verifies with, found by kid as
// an opaque map key. The jku, x5u, x5c and jwk headers are never read.
func (v *oauthVerifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	if typ, present := t.Header["typ"]; present {
		s, _ := typ.(string)
		if !slices.Contains(oauthTypes, strings.ToLower(s)) {
			return nil, errWrongType
		}
	}
	alg := t.Method.Alg()
	if !slices.Contains(v.algs, alg) { // the parser checked too; kept next to the key choice
		return nil, errWrongAlg
	}
	var kid string
	if k, present := t.Header["kid"]; present {
		s, ok := k.(string)
		if !ok || s == "" {
			return nil, errKeyID
		}
		kid = s
	}
	keys := v.static
	if v.jwks != nil {
		keys = v.jwks.lookup(ctx, kid, alg)
	}
	var out []jwt.VerificationKey
	for _, k := range keys {
		if k.canVerify(alg) {
			out = append(out, k.key)
		}
	}
	switch len(out) {
	case 0:
		return nil, errUnknownKey
	case 1:
		return out[0], nil
	}
	return jwt.VerificationKeySet{Keys: out}, nil
}

// tokenScopes returns the known scopes in the scope and scp claims, and false if either claim
// has the wrong type.
func tokenScopes(scope, scp any) ([]string, bool) {
	var all []string
	for _, c := range []any{scope, scp} {
		switch c := c.(type) {
		case nil:
		case string:
			all = append(all, strings.Fields(c)...)
		case []any:
			for _, e := range c {
				s, ok := e.(string)
				if !ok {
					return nil, false
				}
				all = append(all, s)
			}
		default:
			return nil, false
		}
	}
	return intersect([]string{policy.ScopeRead, policy.ScopeWrite}, all), true
}

// ResourceMetadata returns this gateway's OAuth 2.0 protected resource metadata (RFC 9728) for
// GET /.well-known/oauth-protected-resource, or nil unless OAuth is configured. Resource is the
// configured audience; AuthorizationServers default to the issuer. Each call returns a new copy.
func (a *Authenticator) ResourceMetadata() *oauthex.ProtectedResourceMetadata {
	if a.oauth == nil {
		return nil
	}
	m := a.oauth.metadata
	m.AuthorizationServers = slices.Clone(m.AuthorizationServers)
	m.ScopesSupported = slices.Clone(m.ScopesSupported)
	m.BearerMethodsSupported = slices.Clone(m.BearerMethodsSupported)
	return &m
}

// ResourceMetadataURL returns the URL of the protected resource metadata, derived from the
// audience as scheme://host/.well-known/oauth-protected-resource, or "" unless OAuth is
// configured.
func (a *Authenticator) ResourceMetadataURL() string {
	if a.oauth == nil {
		return ""
	}
	return a.oauth.metadataURL
}

// Challenge returns the value of the WWW-Authenticate header for a 401 (scope "") or for a 403
// for want of scope: `Bearer resource_metadata="<url>"`, followed by
// `, error="insufficient_scope", scope="<scope>"` when scope is not empty. Without OAuth there is
// no metadata, and the value starts `Bearer realm="mcp-gateway"`.
func (a *Authenticator) Challenge(scope string) string {
	var params []string
	if u := a.ResourceMetadataURL(); u != "" {
		params = append(params, `resource_metadata="`+u+`"`)
	} else {
		params = append(params, `realm="mcp-gateway"`)
	}
	if scope = quotable(scope); scope != "" {
		params = append(params, `error="insufficient_scope"`, `scope="`+scope+`"`)
	}
	return "Bearer " + strings.Join(params, ", ")
}

// quotable keeps the characters RFC 6750 allows in a scope value (%x20-21 / %x23-5B / %x5D-7E).
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// jwk is a verification key, from a JWKS or the configured PEM.
type jwk struct {
	kid, alg string // alg is "" when the JWK does not restrict it
	key      crypto.PublicKey
}

// canVerify reports whether k verifies alg: the key type matches the algorithm (and the curve
// for ECDSA), and the JWK's own alg, if any, is alg.
func (k jwk) canVerify(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// parsePEMKey parses the configured public key.
func parsePEMKey(s string) (jwk, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return jwk{}, errors.New("public_key is not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return jwk{}, errors.New(`public_key must be a "PUBLIC KEY" or "RSA PUBLIC KEY" PEM block`)
	}
	if err != nil {
		return jwk{}, errors.New("public_key cannot be parsed")
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return jwk{}, fmt.Errorf("public_key: RSA keys must have at least %d bits", minRSABits)
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return jwk{}, errors.New("public_key must be an RSA, ECDSA or Ed25519 key")
	}
	return jwk{key: key}, nil
}
