package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Defaults of the auth section that the auth package applies to settings left unset. Validate uses
// them to check ttl against max_ttl; the auth package keeps its own copy, pinned equal by a test in cmd.
const (
	DefaultAgentTokenTTL          = time.Hour
	DefaultAgentTokenMaxTTL       = 24 * time.Hour
	DefaultOAuthLeeway            = 30 * time.Second
	DefaultJWKSRefreshMinInterval = time.Minute
)

// Limits of the auth section.
const (
	// MinAgentSecretBytes is the shortest agent token secret accepted.
	MinAgentSecretBytes = 32
	// MaxOAuthLeeway is the largest clock leeway for OAuth tokens.
	MaxOAuthLeeway = 60 * time.Second
	// MinJWKSRefreshInterval is the smallest jwks_refresh_min_interval.
	MinJWKSRefreshInterval = time.Second
	// MaxCredentialBytes is the longest credential the gateway reads; a longer plaintext key could
	// never be presented.
	MaxCredentialBytes = 8 << 10
)

// Scopes an identity may hold.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// KeyDigestPrefix starts an API key stored as a digest: "sha256:" and 64 lowercase hex digits.
const KeyDigestPrefix = "sha256:"

// OAuthAlgorithms are the JWS algorithms an OAuth issuer may use. "none" and the HMAC algorithms
// (HS256, ...) are never allowed: the gateway shares no secret with an issuer.
var OAuthAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Auth is gateway.auth: the credentials the HTTP front door accepts and what each may do. The zero
// value configures no credentials. The auth package applies the defaults documented on each field.
type Auth struct {
	// APIKeys are the accepted API keys, each with its owner and policy.
	APIKeys []APIKey `json:"api_keys,omitempty"`
	// AgentTokens configures the agent tokens issued by POST /agents/register.
	AgentTokens AgentTokens `json:"agent_tokens,omitzero"`
	// OAuth, when set, accepts bearer JWTs from an external OAuth issuer.
	OAuth *OAuth `json:"oauth,omitempty"`
	// Local is the identity of the stdio downstream. Nil means full access, admin.
	Local *LocalIdentity `json:"local,omitempty"`
}

// APIKey is one entry of gateway.auth.api_keys. Its keys are those of the seed project's
// api_keys.json, plus allowed_tools, burst and admin.
type APIKey struct {
	// Key is "sha256:" and the 64 lowercase hex digits of the key's SHA-256 digest, or (for
	// development, with a warning) the key itself.
	Key string `json:"key"`
	// Owner names the identity. Unique among the keys.
	Owner string `json:"owner"`
	// AllowedUpstreams are the upstream names this key may use; "*" means all. Required.
	AllowedUpstreams []string `json:"allowed_upstreams,omitempty"`
	// AllowedTools are path.Match globs on exposed tool names; empty means all.
	AllowedTools []string `json:"allowed_tools,omitempty"`
	// Scopes are "read" and/or "write". Required.
	Scopes []string `json:"scopes,omitempty"`
	// RateLimitRPM is requests per minute: 0 means the gateway default, -1 unlimited.
	RateLimitRPM int `json:"rate_limit_rpm,omitempty"`
	// Burst is the rate limiter's burst; 0 means the gateway default.
	Burst int `json:"burst,omitempty"`
	// Admin lets the key see every identity's sessions and the effective config.
	Admin bool `json:"admin,omitempty"`
}

// AgentTokens is gateway.auth.agent_tokens.
type AgentTokens struct {
	// Secret signs agent tokens (HS256); at least MinAgentSecretBytes bytes. Write it as
	// "${MCP_GATEWAY_AGENT_SECRET}". Unset means a random secret per process: tokens then stop
	// working when the gateway restarts.
	Secret string `json:"secret,omitempty"`
	// TTL is the lifetime of a token whose request names none. Default DefaultAgentTokenTTL.
	TTL Duration `json:"ttl,omitempty"`
	// MaxTTL caps every token's lifetime. Default DefaultAgentTokenMaxTTL.
	MaxTTL Duration `json:"max_ttl,omitempty"`
}

// OAuth is gateway.auth.oauth: bearer JWTs from an external issuer, verified with keys from
// JWKSURL or with PublicKey.
type OAuth struct {
	// Issuer must equal the tokens' iss claim. Required.
	Issuer string `json:"issuer"`
	// Audience is this gateway's resource URI, which the tokens' aud claim must contain: an
	// absolute http(s) URL such as "https://gw.example/mcp". Required. The protected resource
	// metadata is served at its scheme://host/.well-known/oauth-protected-resource.
	Audience string `json:"audience"`
	// JWKSURL is the issuer's JWKS endpoint: https, or http on a loopback host. Exactly one of
	// JWKSURL and PublicKey is set.
	JWKSURL string `json:"jwks_url,omitempty"`
	// PublicKey is a PEM public key (PKIX "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY").
	PublicKey string `json:"public_key,omitempty"`
	// Algorithms are the accepted JWS algorithms, from OAuthAlgorithms. Default ["RS256"].
	Algorithms []string `json:"algorithms,omitempty"`
	// Leeway tolerates clock skew on exp, nbf and iat; at most MaxOAuthLeeway. Default
	// DefaultOAuthLeeway.
	Leeway Duration `json:"leeway,omitempty"`
	// JWKSRefreshMinInterval spaces JWKS fetches caused by unknown key ids. Default
	// DefaultJWKSRefreshMinInterval. Only with JWKSURL.
	JWKSRefreshMinInterval Duration `json:"jwks_refresh_min_interval,omitempty"`
	// AuthorizationServers are published in the protected resource metadata. Default [Issuer].
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported are published in the protected resource metadata: "read" and/or "write".
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// AllowedUpstreams are the upstreams every OAuth identity may use; "*" means all. Required.
	AllowedUpstreams []string `json:"allowed_upstreams,omitempty"`
	// AllowedTools are path.Match globs on exposed tool names; empty means all.
	AllowedTools []string `json:"allowed_tools,omitempty"`
	// RateLimitRPM is requests per minute per identity: 0 means the gateway default, -1 unlimited.
	RateLimitRPM int `json:"rate_limit_rpm,omitempty"`
	// Burst is the rate limiter's burst; 0 means the gateway default.
	Burst int `json:"burst,omitempty"`
}

// LocalIdentity is gateway.auth.local, the identity of the stdio downstream. Unset fields take
// the defaults of full access.
type LocalIdentity struct {
	// Owner names the identity. Default "local".
	Owner string `json:"owner,omitempty"`
	// AllowedUpstreams: "*" means all. Default ["*"]; if written, not empty.
	AllowedUpstreams []string `json:"allowed_upstreams,omitempty"`
	// AllowedTools are path.Match globs on exposed tool names; empty means all.
	AllowedTools []string `json:"allowed_tools,omitempty"`
	// Scopes: default ["read", "write"]; if written, not empty.
	Scopes []string `json:"scopes,omitempty"`
	// Admin: default true.
	Admin *bool `json:"admin,omitempty"`
}

// IsKeyDigest reports whether key is written as a digest: KeyDigestPrefix and 64 lowercase hex
// digits.
func IsKeyDigest(key string) bool {
	hexPart, ok := strings.CutPrefix(key, KeyDigestPrefix)
	if !ok || len(hexPart) != 2*sha256.Size {
		return false
	}
	for i := range len(hexPart) {
		if c := hexPart[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// keyDigest returns the digest of a configured key, written as a digest or in plaintext.
func keyDigest(key string) [sha256.Size]byte {
	var d [sha256.Size]byte
	if IsKeyDigest(key) {
		hex.Decode(d[:], []byte(key[len(KeyDigestPrefix):]))
		return d
	}
	return sha256.Sum256([]byte(key))
}

// Redacted returns a copy of a that is safe to show: plaintext keys are replaced by their digest
// and the agent secret by "[redacted]". Digests are kept: they are what the file should hold.
func (a Auth) Redacted() Auth {
	r := a
	r.APIKeys = slices.Clone(a.APIKeys)
	for i, k := range r.APIKeys {
		if k.Key != "" && !IsKeyDigest(k.Key) {
			d := keyDigest(k.Key)
			r.APIKeys[i].Key = KeyDigestPrefix + hex.EncodeToString(d[:])
		}
	}
	if r.AgentTokens.Secret != "" {
		r.AgentTokens.Secret = "[redacted]"
	}
	return r
}

var (
	errScope       = detail(ErrInvalidValue, `must be "read" or "write"`)
	errRPM         = detail(ErrInvalidValue, "must be -1 (unlimited), 0 (the gateway default) or a positive number")
	errBurst       = detail(ErrInvalidValue, "must not be negative")
	errUpstreamsRq = detail(ErrRequired, `list the upstreams this identity may use, or ["*"] for all`)
)

// validateAuth checks gateway.auth.
func validateAuth(errs *errorList, a *Auth, in decoded) {
	const p = "gateway.auth"
	validateAPIKeys(errs, child(p, "api_keys"), a.APIKeys, in)
	validateAgentTokens(errs, child(p, "agent_tokens"), &a.AgentTokens, in)
	if a.OAuth != nil {
		validateOAuth(errs, child(p, "oauth"), a.OAuth, in)
	}
	if l := a.Local; l != nil {
		lp := child(p, "local")
		if l.Owner != "" {
			checkOwner(errs, child(lp, "owner"), l.Owner)
		}
		if l.AllowedUpstreams != nil && len(l.AllowedUpstreams) == 0 {
			errs.add(child(lp, "allowed_upstreams"), detail(ErrInvalidValue, `must not be empty: leave it out for ["*"]`))
		}
		checkUpstreams(errs, child(lp, "allowed_upstreams"), l.AllowedUpstreams)
		checkGlobs(errs, child(lp, "allowed_tools"), l.AllowedTools)
		if l.Scopes != nil && len(l.Scopes) == 0 {
			errs.add(child(lp, "scopes"), detail(ErrInvalidValue, `must not be empty: leave it out for ["read", "write"]`))
		}
		checkScopes(errs, child(lp, "scopes"), l.Scopes)
	}
}

func validateAPIKeys(errs *errorList, p string, keys []APIKey, in decoded) {
	digests := map[[sha256.Size]byte]string{} // digest → path of the first key with it
	owners := map[string]string{}             // owner → path of the first key with it
	for i, k := range keys {
		kp := index(p, i)
		at := func(key string) string { return child(kp, key) }
		switch {
		case in.bad[at("key")]:
		case k.Key == "":
			errs.add(at("key"), detail(ErrRequired, `required: "sha256:" and the hex SHA-256 digest of the key`))
		case strings.HasPrefix(k.Key, KeyDigestPrefix) && !IsKeyDigest(k.Key):
			errs.add(at("key"), detail(ErrInvalidValue, `a digest must be "sha256:" and 64 lowercase hex digits`))
		case len(k.Key) > MaxCredentialBytes:
			errs.add(at("key"), detail(ErrInvalidValue, "must be at most %d bytes", MaxCredentialBytes))
		case !isVisibleASCII(k.Key):
			errs.add(at("key"), detail(ErrInvalidValue, "must be printable ASCII without spaces"))
		default:
			d := keyDigest(k.Key)
			if first, ok := digests[d]; ok {
				errs.add(at("key"), detail(ErrConflict, "same key as %s", first))
			} else {
				digests[d] = kp
			}
		}
		switch {
		case in.bad[at("owner")]:
		case k.Owner == "":
			errs.add(at("owner"), detail(ErrRequired, "required: the name of the key's owner"))
		case checkOwner(errs, at("owner"), k.Owner):
			if first, ok := owners[k.Owner]; ok {
				errs.add(at("owner"), detail(ErrConflict, "same owner as %s: owners name identities and must be unique", first))
			} else {
				owners[k.Owner] = kp
			}
		}
		if len(k.AllowedUpstreams) == 0 && !in.bad[at("allowed_upstreams")] {
			errs.add(at("allowed_upstreams"), errUpstreamsRq)
		}
		checkUpstreams(errs, at("allowed_upstreams"), k.AllowedUpstreams)
		checkGlobs(errs, at("allowed_tools"), k.AllowedTools)
		if len(k.Scopes) == 0 && !in.bad[at("scopes")] {
			errs.add(at("scopes"), detail(ErrRequired, `required: ["read"], ["write"] or both`))
		}
		checkScopes(errs, at("scopes"), k.Scopes)
		checkRate(errs, kp, k.RateLimitRPM, k.Burst)
	}
}

func validateAgentTokens(errs *errorList, p string, t *AgentTokens, in decoded) {
	if t.Secret != "" && len(t.Secret) < MinAgentSecretBytes {
		errs.add(child(p, "secret"), detail(ErrInvalidValue, "must be at least %d bytes", MinAgentSecretBytes))
	}
	if t.TTL < 0 {
		errs.add(child(p, "ttl"), detail(ErrInvalidValue, "must not be negative"))
	}
	if t.MaxTTL < 0 {
		errs.add(child(p, "max_ttl"), detail(ErrInvalidValue, "must not be negative"))
	}
	ttl, maxTTL := t.TTL.D(), t.MaxTTL.D()
	if ttl == 0 {
		ttl = DefaultAgentTokenTTL
	}
	if maxTTL == 0 {
		maxTTL = DefaultAgentTokenMaxTTL
	}
	if ttl > maxTTL && t.TTL >= 0 && t.MaxTTL >= 0 && !in.bad[child(p, "ttl")] && !in.bad[child(p, "max_ttl")] {
		errs.add(child(p, "ttl"), detail(ErrConflict, "is longer than max_ttl (%s)", maxTTL))
	}
}

func validateOAuth(errs *errorList, p string, o *OAuth, in decoded) {
	at := func(key string) string { return child(p, key) }
	if o.Issuer == "" && !in.bad[at("issuer")] {
		errs.add(at("issuer"), detail(ErrRequired, "required: the issuer tokens must name in iss"))
	}
	noNUL(errs, at("issuer"), o.Issuer)
	switch {
	case in.bad[at("audience")]:
	case o.Audience == "":
		errs.add(at("audience"), detail(ErrRequired, `required: this gateway's resource URI, like "https://gw.example/mcp"`))
	case !isResourceURI(o.Audience):
		errs.add(at("audience"), detail(ErrInvalidValue, "must be an absolute http or https URL without query or fragment"))
	}
	switch {
	case in.bad[at("jwks_url")] || in.bad[at("public_key")]:
	case o.JWKSURL != "" && o.PublicKey != "":
		errs.add(p, detail(ErrConflict, `has both "jwks_url" and "public_key": set one`))
	case o.JWKSURL == "" && o.PublicKey == "":
		errs.add(p, detail(ErrRequired, `needs "jwks_url" or "public_key"`))
	}
	if o.JWKSURL != "" && !isFetchURL(o.JWKSURL) {
		errs.add(at("jwks_url"), detail(ErrInvalidValue, "must be an https URL (http only on a loopback host)"))
	}
	var keyAlgs []string // the algorithms public_key can verify
	if o.PublicKey != "" {
		var err error
		if keyAlgs, err = publicKeyAlgorithms(o.PublicKey); err != nil {
			errs.add(at("public_key"), err)
		}
	}
	for i, alg := range o.Algorithms {
		ap := index(at("algorithms"), i)
		switch {
		case slices.Contains(OAuthAlgorithms, alg):
			if keyAlgs != nil && !slices.Contains(keyAlgs, alg) {
				errs.add(ap, detail(ErrConflict, "cannot be verified with the type of public_key"))
			}
		case strings.EqualFold(alg, "none") || strings.HasPrefix(strings.ToUpper(alg), "HS"):
			errs.add(ap, detail(ErrInvalidValue, "not allowed for OAuth: use an asymmetric algorithm such as RS256, ES256 or EdDSA"))
		default:
			errs.add(ap, detail(ErrInvalidValue, "must be one of %s", strings.Join(OAuthAlgorithms, ", ")))
		}
	}
	if o.Algorithms == nil && keyAlgs != nil && !slices.Contains(keyAlgs, "RS256") {
		errs.add(at("algorithms"), detail(ErrRequired, "required: the default RS256 cannot be verified with the type of public_key"))
	}
	if o.Leeway > Duration(MaxOAuthLeeway) {
		errs.add(at("leeway"), detail(ErrInvalidValue, "must be at most %s", MaxOAuthLeeway))
	} else if o.Leeway < 0 {
		errs.add(at("leeway"), detail(ErrInvalidValue, "must not be negative"))
	}
	if o.JWKSRefreshMinInterval != 0 {
		switch {
		case o.JWKSRefreshMinInterval < Duration(MinJWKSRefreshInterval):
			errs.add(at("jwks_refresh_min_interval"), detail(ErrInvalidValue, "must be at least %s", MinJWKSRefreshInterval))
		case o.PublicKey != "" && o.JWKSURL == "":
			errs.add(at("jwks_refresh_min_interval"), detail(ErrConflict, `applies only with "jwks_url"`))
		}
	}
	for i, s := range o.AuthorizationServers {
		if !isHTTPURL(s) {
			errs.add(index(at("authorization_servers"), i), detail(ErrInvalidValue, "must be an absolute http or https URL"))
		}
	}
	checkScopes(errs, at("scopes_supported"), o.ScopesSupported)
	if len(o.AllowedUpstreams) == 0 && !in.bad[at("allowed_upstreams")] {
		errs.add(at("allowed_upstreams"), errUpstreamsRq)
	}
	checkUpstreams(errs, at("allowed_upstreams"), o.AllowedUpstreams)
	checkGlobs(errs, at("allowed_tools"), o.AllowedTools)
	checkRate(errs, p, o.RateLimitRPM, o.Burst)
}

// publicKeyAlgorithms parses a PEM public key and returns the algorithms that can verify with it.
func publicKeyAlgorithms(s string) ([]string, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, detail(ErrInvalidValue, `must be a PEM block ("-----BEGIN PUBLIC KEY-----")`)
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, detail(ErrInvalidValue, `must be a "PUBLIC KEY" or "RSA PUBLIC KEY" PEM block`)
	}
	if err != nil {
		return nil, detail(ErrInvalidValue, "cannot parse the public key")
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, detail(ErrInvalidValue, "RSA keys must have at least 2048 bits")
		}
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, detail(ErrInvalidValue, "must be an RSA, ECDSA (P-256, P-384, P-521) or Ed25519 key")
}

// checkOwner reports whether owner is acceptable as an identity name, adding an error if not.
func checkOwner(errs *errorList, p, owner string) bool {
	ok := utf8.ValidString(owner) && len(owner) <= 128 && !strings.ContainsFunc(owner, func(r rune) bool {
		return unicode.IsControl(r) || r == utf8.RuneError
	})
	if !ok {
		errs.add(p, detail(ErrInvalidValue, "must be at most 128 bytes of UTF-8 without control characters"))
	}
	return ok
}

func checkUpstreams(errs *errorList, p string, names []string) {
	for i, n := range names {
		if n == "" || strings.ContainsFunc(n, unicode.IsControl) {
			errs.add(index(p, i), detail(ErrInvalidValue, `must be an upstream name or "*"`))
		}
	}
}

func checkGlobs(errs *errorList, p string, globs []string) {
	for i, g := range globs {
		checkGlob(errs, index(p, i), g)
	}
}

func checkScopes(errs *errorList, p string, scopes []string) {
	for i, s := range scopes {
		if s != ScopeRead && s != ScopeWrite {
			errs.add(index(p, i), errScope)
		}
	}
}

func checkRate(errs *errorList, p string, rpm, burst int) {
	if rpm < -1 {
		errs.add(child(p, "rate_limit_rpm"), errRPM)
	}
	if burst < 0 {
		errs.add(child(p, "burst"), errBurst)
	}
}

func isVisibleASCII(s string) bool {
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isResourceURI reports whether s is an absolute http(s) URL without query or fragment.
func isResourceURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && isHTTPURL(s) && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery &&
		!strings.Contains(s, "#") && u.User == nil
}

// isFetchURL reports whether the gateway may fetch s: https, or http on a loopback host.
func isFetchURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || !isHTTPURL(s) || u.User != nil {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	h := u.Hostname()
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}
