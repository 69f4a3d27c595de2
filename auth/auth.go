// Package auth verifies the credentials of the gateway's clients and mints agent tokens.
//
// An [Authenticator] accepts three kinds of credential, tried in this order:
//
//   - an API key in X-Api-Key (or as "Authorization: Bearer <key>"), stored as a SHA-256 digest and
//     compared in constant time;
//   - an agent token in X-Agent-Token (or as a bearer token): an HS256 JWT this package issued with
//     [Authenticator.IssueAgentToken];
//   - an OAuth access token as "Authorization: Bearer <jwt>", signed by an external issuer whose keys
//     come from a JWKS URL or a configured public key.
//
// Each yields a [policy.Identity] carrying the policy (upstreams, tool globs, scopes, rate limit)
// that the front door and the aggregator enforce. The record of an API key is built once, in [New],
// with the gateway's default rate limit already applied; agent and OAuth tokens derive theirs from
// policies resolved there. The package serves no HTTP: the transport calls [Authenticator.Authenticate],
// answers 401 with [Authenticator.Challenge], serves [Authenticator.ResourceMetadata], and calls
// [Authenticator.IssueAgentToken] for POST /agents/register.
//
// No error, warning or log line of this package contains a credential or a secret.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mcp-gateway/mcp-gateway/policy"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
)

// Header names the authenticator reads, besides Authorization.
const (
	HeaderAPIKey     = "X-Api-Key"
	HeaderAgentToken = "X-Agent-Token"
)

// MaxCredentialBytes caps every credential header. A longer value is rejected before any parsing,
// so that a huge token cannot cost more than a header read (CVE-2025-30204).
const MaxCredentialBytes = 8 << 10

// Defaults for settings left zero in [Options]. They match the config package's.
const (
	DefaultAgentTokenTTL          = time.Hour
	DefaultAgentTokenMaxTTL       = 24 * time.Hour
	DefaultOAuthLeeway            = 30 * time.Second
	DefaultJWKSRefreshMinInterval = time.Minute
)

// MaxOAuthLeeway is the largest leeway [New] accepts.
const MaxOAuthLeeway = 60 * time.Second

// MinAgentSecretBytes is the shortest agent token secret New accepts.
const MinAgentSecretBytes = 32

// Errors. Test with errors.Is.
var (
	// ErrNoCredential means the request carried none of the credential headers. It wraps
	// sdkauth.ErrInvalidToken, so it maps to 401 like ErrInvalidCredential.
	ErrNoCredential = fmt.Errorf("no credential: %w", sdkauth.ErrInvalidToken)
	// ErrInvalidCredential means a credential was presented and rejected: unknown key, bad
	// signature, expired, wrong audience, malformed or oversized header, ... It wraps
	// sdkauth.ErrInvalidToken. The message names the reason, never the credential.
	ErrInvalidCredential = fmt.Errorf("invalid credential: %w", sdkauth.ErrInvalidToken)
	// ErrForbidden means an authenticated identity may not do what it asked, as when an identity
	// other than an API key asks for an agent token. Map it to 403.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalidRequest means a request to this package is malformed, such as an agent request
	// without a name. Map it to 400.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInsufficientScope is returned by [RequireScope]; no function of the
	// authenticator returns it. Map it to 403 with Challenge(scope).
	ErrInsufficientScope = errors.New("insufficient scope")
)

// credentialError is an ErrInvalidCredential with the reason, which is always one of this
// package's fixed strings.
type credentialError struct {
	what, reason string
}

func (e *credentialError) Error() string {
	return "invalid credential: " + e.what + ": " + e.reason
}

func (e *credentialError) Unwrap() error { return ErrInvalidCredential }

func invalid(what, reason string) error { return &credentialError{what: what, reason: reason} }

// RequireScope returns nil if id holds scope s, and otherwise an error wrapping
// ErrInsufficientScope that names s.
func RequireScope(id *policy.Identity, s string) error {
	if id.HasScope(s) {
		return nil
	}
	return fmt.Errorf("%w: needs %q", ErrInsufficientScope, s)
}

// Options configure an [Authenticator]. cmd fills them from config.Auth; the fields mirror its
// keys. The zero value accepts no credential and gives the local identity full access.
type Options struct {
	// APIKeys are the accepted API keys.
	APIKeys []APIKey
	// AgentTokens configures agent tokens.
	AgentTokens AgentTokenOptions
	// OAuth, when not nil, accepts bearer JWTs from an external issuer.
	OAuth *OAuthOptions
	// Local is the stdio identity. Nil means full access, admin.
	Local *LocalOptions
	// DefaultLimit is the rate limit of identities that set none (rate_limit_rpm or burst 0):
	// the gateway's gateway.limits. An RPM of 0 means unlimited. The local identity is never
	// limited.
	DefaultLimit policy.Limit
	// Now returns the current time. Nil means time.Now. For tests.
	Now func() time.Time
	// HTTPClient fetches the JWKS. Nil means a client with a 10s timeout. Its timeout, if any, is
	// combined with the package's own fetch timeout.
	HTTPClient *http.Client
	// Logger receives warnings (also returned by Warnings), JWKS refreshes and, at Debug, the
	// reasons credentials are rejected. Nil discards.
	Logger *slog.Logger
}

// APIKey is one accepted API key and its policy. See config.APIKey.
type APIKey struct {
	// Key is "sha256:" and 64 lowercase hex digits, or the plaintext key (accepted with a warning).
	Key string
	// Owner names the identity; unique.
	Owner string
	// AllowedUpstreams: "*" means all.
	AllowedUpstreams []string
	// AllowedTools are path.Match globs on exposed tool names; empty means all.
	AllowedTools []string
	// Scopes are "read" and/or "write".
	Scopes []string
	// RateLimitRPM: 0 means the gateway default, -1 unlimited.
	RateLimitRPM int
	// Burst: 0 means the gateway default.
	Burst int
	// Admin may see every identity's sessions and the effective config.
	Admin bool
}

// AgentTokenOptions configure agent tokens. See config.AgentTokens.
type AgentTokenOptions struct {
	// Secret signs the tokens, at least 32 bytes. Empty means a random secret for this
	// Authenticator: tokens die with it.
	Secret string
	// TTL is the default lifetime. Zero means DefaultAgentTokenTTL.
	TTL time.Duration
	// MaxTTL caps lifetimes. Zero means DefaultAgentTokenMaxTTL.
	MaxTTL time.Duration
}

// OAuthOptions configure the OAuth resource server. See config.OAuth.
type OAuthOptions struct {
	// Issuer must equal the token's iss.
	Issuer string
	// Audience is this gateway's resource URI, which the token's aud must contain. The metadata
	// URL is derived from it.
	Audience string
	// Exactly one of JWKSURL and PublicKey (PEM) is set. JWKSURL is https, or http on loopback.
	JWKSURL   string
	PublicKey string
	// Algorithms: zero means ["RS256"]. Never "none" or HS*.
	Algorithms []string
	// Leeway: zero means DefaultOAuthLeeway; at most MaxOAuthLeeway.
	Leeway time.Duration
	// JWKSRefreshMinInterval: zero means DefaultJWKSRefreshMinInterval.
	JWKSRefreshMinInterval time.Duration
	// AuthorizationServers are published in the metadata: zero means [Issuer].
	AuthorizationServers []string
	// ScopesSupported are published in the metadata.
	ScopesSupported []string
	// AllowedUpstreams, AllowedTools, RateLimitRPM and Burst are the policy of every OAuth
	// identity, as for an API key.
	AllowedUpstreams []string
	AllowedTools     []string
	RateLimitRPM     int
	Burst            int
}

// LocalOptions configure the stdio identity. See config.LocalIdentity.
type LocalOptions struct {
	// Owner: empty means "local".
	Owner string
	// AllowedUpstreams: nil means ["*"].
	AllowedUpstreams []string
	AllowedTools     []string
	// Scopes: nil means ["read", "write"].
	Scopes []string
	// Admin: nil means true.
	Admin *bool
}

// Authenticator verifies credentials and issues agent tokens. It is safe for concurrent use. Its
// configuration is fixed at New: build a new one on reload. A new one without an agent secret
// invalidates the agent tokens of the old one.
type Authenticator struct {
	keys     []storedKey
	byOwner  map[string]int
	agent    agentConfig
	oauth    *oauthVerifier
	local    *policy.Identity
	anon     *policy.Identity
	now      func() time.Time
	log      *slog.Logger
	warnings []string
}

type storedKey struct {
	digest [sha256.Size]byte
	id     *policy.Identity // the key's record, built once; Kind KindAPIKey
}

// New checks o and returns an Authenticator. Its error lists every problem and contains no
// secret. New does no I/O: the JWKS is fetched when the first OAuth token arrives.
func New(o Options) (*Authenticator, error) {
	a := &Authenticator{byOwner: map[string]int{}, now: o.Now, log: o.Logger}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	seen := map[[sha256.Size]byte]int{}
	for i, k := range o.APIKeys {
		where := fmt.Sprintf("api_keys[%d]", i)
		var d [sha256.Size]byte
		switch {
		case k.Key == "":
			fail("%s: key is empty", where)
			continue
		case strings.HasPrefix(k.Key, KeyDigestPrefix):
			if !isDigest(k.Key) {
				fail("%s: a digest must be %q and 64 lowercase hex digits", where, KeyDigestPrefix)
				continue
			}
			hex.Decode(d[:], []byte(k.Key[len(KeyDigestPrefix):]))
		default:
			d = sha256.Sum256([]byte(k.Key))
			a.warnings = append(a.warnings, fmt.Sprintf("%s (owner %q): the key is stored in plaintext; store %q and its SHA-256 digest in hex instead", where, k.Owner, KeyDigestPrefix))
		}
		if j, ok := seen[d]; ok {
			fail("%s: same key as api_keys[%d]", where, j)
			continue
		}
		seen[d] = i
		if !validName(k.Owner) {
			fail("%s: owner must be 1 to 128 bytes of UTF-8 without control characters", where)
			continue
		}
		if j, ok := a.byOwner[k.Owner]; ok {
			fail("%s: same owner as api_keys[%d]", where, j)
			continue
		}
		if err := checkPolicy(k.AllowedUpstreams, k.Scopes, k.RateLimitRPM, k.Burst); err != nil {
			fail("%s: %w", where, err)
			continue
		}
		a.byOwner[k.Owner] = len(a.keys)
		a.keys = append(a.keys, storedKey{digest: d, id: policy.New(policy.Identity{
			Owner: k.Owner, Kind: policy.KindAPIKey,
			Upstreams: slices.Clone(k.AllowedUpstreams), Tools: slices.Clone(k.AllowedTools), Scopes: slices.Clone(k.Scopes),
			Limit: resolveLimit(k.RateLimitRPM, k.Burst, o.DefaultLimit), Admin: k.Admin,
		})})
	}

	if err := a.agent.init(o.AgentTokens, len(o.APIKeys) > 0, &a.warnings); err != nil {
		errs = append(errs, err)
	}

	if o.OAuth != nil {
		v, err := newOAuthVerifier(*o.OAuth, o.DefaultLimit, a.now, o.HTTPClient, a.log)
		if err != nil {
			errs = append(errs, err)
		}
		a.oauth = v
	}

	local := policy.Identity{Owner: "local", Kind: policy.KindLocal, Upstreams: []string{policy.AllUpstreams},
		Scopes: []string{policy.ScopeRead, policy.ScopeWrite}, Limit: policy.Limit{RPM: policy.Unlimited}, Admin: true}
	if l := o.Local; l != nil {
		if l.Owner != "" {
			local.Owner = l.Owner
		}
		if l.AllowedUpstreams != nil {
			local.Upstreams = slices.Clone(l.AllowedUpstreams)
		}
		local.Tools = slices.Clone(l.AllowedTools)
		if l.Scopes != nil {
			local.Scopes = slices.Clone(l.Scopes)
		}
		if l.Admin != nil {
			local.Admin = *l.Admin
		}
		if err := checkPolicy(local.Upstreams, local.Scopes, 0, 0); err != nil {
			fail("local: %w", err)
		}
	}
	a.local = policy.New(local)
	a.anon = policy.New(policy.Identity{Owner: "anonymous", Kind: policy.KindAnonymous, Upstreams: []string{policy.AllUpstreams},
		Scopes: []string{policy.ScopeRead, policy.ScopeWrite}, Limit: resolveLimit(0, 0, o.DefaultLimit), Admin: true})

	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	for _, w := range a.warnings {
		a.log.Warn(w)
	}
	return a, nil
}

// resolveLimit is an identity's rate limit given its own settings (rpm: 0 the default, -1
// unlimited; burst: 0 the default) and the gateway's default (RPM 0: unlimited). It is the one
// place the default rate limit is applied.
func resolveLimit(rpm, burst int, def policy.Limit) policy.Limit {
	if rpm == 0 {
		rpm = def.RPM
	}
	if rpm == 0 || rpm < 0 {
		return policy.Limit{RPM: policy.Unlimited}
	}
	if burst == 0 {
		burst = def.Burst
	}
	return policy.Limit{RPM: rpm, Burst: max(burst, 1)}
}

// checkPolicy checks the policy fields of one identity.
func checkPolicy(upstreams, scopes []string, rpm, burst int) error {
	if len(upstreams) == 0 {
		return errors.New(`allowed upstreams are empty: list them, or "*" for all`)
	}
	if len(scopes) == 0 {
		return errors.New("scopes are empty")
	}
	for _, s := range scopes {
		if s != policy.ScopeRead && s != policy.ScopeWrite {
			return errors.New(`scopes must be "read" or "write"`)
		}
	}
	if rpm < -1 || burst < 0 {
		return errors.New("rate_limit_rpm must be at least -1 and burst not negative")
	}
	return nil
}

// validName reports whether s may name an identity or an agent.
func validName(s string) bool {
	return s != "" && len(s) <= 128 && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// Warnings returns the configuration's weaknesses that New accepted, such as plaintext API keys
// or a missing agent secret. New also logs each at Warn. They name no secret.
func (a *Authenticator) Warnings() []string { return slices.Clone(a.warnings) }

// Enabled reports whether any credential can be accepted: API keys or OAuth are configured.
// Agent tokens need an API key to be issued, so they do not count.
func (a *Authenticator) Enabled() bool { return len(a.keys) > 0 || a.oauth != nil }

// Local returns the identity of the stdio downstream and the CLI: never rate limited.
func (a *Authenticator) Local() *policy.Identity { return a.local }

// Anonymous returns the identity of HTTP requests when no credential is configured (allowed only
// on loopback, or behind something else that authenticates): full access, admin, the gateway's
// default rate limit.
func (a *Authenticator) Anonymous() *policy.Identity { return a.anon }

// Authenticate verifies the credential in h and returns its identity. It tries, in order:
// X-Api-Key (an API key); X-Agent-Token (an agent token); Authorization: Bearer (an API key if it
// matches one, else an agent token if it is signed with this gateway's secret, else an OAuth token
// if OAuth is configured). The first of these headers present decides: a rejected X-Api-Key is not
// retried as the Authorization header.
//
// It returns ErrNoCredential when none of the headers is present, and an error wrapping
// ErrInvalidCredential when the credential is rejected, including when a credential header is
// longer than MaxCredentialBytes (checked before any parsing), when a credential header appears
// more than once, or when Authorization is not a bearer token. ctx bounds a JWKS fetch.
func (a *Authenticator) Authenticate(ctx context.Context, h http.Header) (*policy.Identity, error) {
	keyVals, agentVals, authVals := h.Values(HeaderAPIKey), h.Values(HeaderAgentToken), h.Values("Authorization")
	for _, vals := range [][]string{keyVals, agentVals, authVals} {
		for _, v := range vals {
			if len(v) > MaxCredentialBytes {
				return a.reject(ctx, invalid("header", "credential header too long"))
			}
		}
		if len(vals) > 1 {
			return a.reject(ctx, invalid("header", "credential header repeated"))
		}
	}
	switch {
	case len(keyVals) == 1:
		id := a.matchKey(trimOWS(keyVals[0]))
		if id == nil {
			return a.reject(ctx, invalid("api key", "unknown key"))
		}
		return id, nil
	case len(agentVals) == 1:
		id, err, _ := a.verifyAgent(trimOWS(agentVals[0]))
		if err != nil {
			return a.reject(ctx, err)
		}
		return id, nil
	case len(authVals) == 1:
		tok, ok := bearerToken(authVals[0])
		if !ok {
			return a.reject(ctx, invalid("authorization", "not a bearer token"))
		}
		id, err := a.bearer(ctx, tok)
		if err != nil {
			return a.reject(ctx, err)
		}
		return id, nil
	}
	return nil, ErrNoCredential
}

func (a *Authenticator) reject(ctx context.Context, err error) (*policy.Identity, error) {
	a.log.DebugContext(ctx, "credential rejected", "err", err)
	return nil, err
}

// bearer verifies the token of an Authorization: Bearer header.
func (a *Authenticator) bearer(ctx context.Context, tok string) (*policy.Identity, error) {
	if id := a.matchKey(tok); id != nil {
		return id, nil
	}
	if strings.Count(tok, ".") != 2 {
		return nil, invalid("bearer token", "not a known API key or a JWT")
	}
	id, err, ours := a.verifyAgent(tok)
	if err == nil || ours || a.oauth == nil {
		return id, err
	}
	return a.oauth.verify(ctx, tok)
}

// matchKey returns the record of the API key key (shared: records are immutable), or nil. It compares the key's digest with
// every stored digest in constant time, without stopping at a match.
func (a *Authenticator) matchKey(key string) *policy.Identity {
	if key == "" || len(a.keys) == 0 {
		return nil
	}
	d := sha256.Sum256([]byte(key))
	found, at := 0, 0
	for i := range a.keys {
		eq := subtle.ConstantTimeCompare(d[:], a.keys[i].digest[:])
		at = subtle.ConstantTimeSelect(eq, i, at)
		found |= eq
	}
	if found != 1 {
		return nil
	}
	return a.keys[at].id
}

// KeyIdentity returns the record of the API key owned by owner, if there is
// one: what a request with that key runs as.
func (a *Authenticator) KeyIdentity(owner string) (*policy.Identity, bool) {
	i, ok := a.byOwner[owner]
	if !ok {
		return nil, false
	}
	return a.keys[i].id, true
}

// bearerToken returns the token of an Authorization header value "Bearer <token>" (scheme in any
// case, one or more spaces). The token must be printable ASCII without spaces.
func bearerToken(v string) (string, bool) {
	v = trimOWS(v)
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" {
		return "", false
	}
	for i := range len(tok) {
		if tok[i] < 0x21 || tok[i] > 0x7e {
			return "", false
		}
	}
	return tok, true
}

// trimOWS trims the optional whitespace (spaces and tabs) HTTP allows around a header value.
func trimOWS(s string) string { return strings.Trim(s, " \t") }

// KeyDigestPrefix starts an API key stored as a digest.
const KeyDigestPrefix = "sha256:"

// HashKey returns the digest to store for an API key: "sha256:" and the key's SHA-256 in lowercase
// hex.
func HashKey(key string) string {
	d := sha256.Sum256([]byte(key))
	return KeyDigestPrefix + hex.EncodeToString(d[:])
}

// NewKey returns a new API key, "mcpgw_" and 32 random bytes in unpadded base64url, and its
// digest, HashKey(key).
func NewKey() (key, digest string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("auth: new key: %w", err)
	}
	key = "mcpgw_" + base64.RawURLEncoding.EncodeToString(b)
	return key, HashKey(key), nil
}

// isDigest reports whether s is "sha256:" and 64 lowercase hex digits.
func isDigest(s string) bool {
	h, ok := strings.CutPrefix(s, KeyDigestPrefix)
	if !ok || len(h) != 2*sha256.Size {
		return false
	}
	return !strings.ContainsFunc(h, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') })
}
