package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// JWKS limits.
const (
	maxJWKSBytes     = 1 << 20          // a larger response is rejected
	maxJWKSKeys      = 100              // keys beyond this are ignored
	jwksFetchTimeout = 10 * time.Second // per fetch
	// jwksMaxAge is how long a fetched key set is used before a token triggers a refresh, so
	// that keys the issuer removed stop verifying. Refreshes stay spaced by the minimum interval,
	// and a failed refresh keeps the old keys.
	jwksMaxAge = time.Hour
	minRSABits = 2048
	maxRSABits = 8192
)

var (
	errUnknownKey = errors.New("no key for the token's kid and algorithm")
	errKeyID      = errors.New("malformed kid")
)

// jwksSet is the cached key set of a JWKS URL. Tokens whose kid it does not hold trigger a
// refresh, at most one per minInterval however many tokens ask at once; a request waiting for a
// refresh in progress uses its result instead of fetching again.
type jwksSet struct {
	url         string
	client      *http.Client
	minInterval time.Duration
	now         func() time.Time
	log         *slog.Logger

	mu        sync.RWMutex // guards keys, fetchedAt, gen
	keys      []jwk
	fetchedAt time.Time
	gen       uint64 // counts refresh attempts

	fetchMu     sync.Mutex // held while fetching; guards lastAttempt
	lastAttempt time.Time
}

func newJWKSSet(url string, client *http.Client, minInterval time.Duration, now func() time.Time, log *slog.Logger) *jwksSet {
	if client == nil {
		client = &http.Client{Timeout: jwksFetchTimeout}
	}
	return &jwksSet{url: url, client: client, minInterval: minInterval, now: now, log: log}
}

// lookup returns the keys with this kid (every key when kid is ""), refreshing the set first if
// none of them verifies alg or the set is older than jwksMaxAge, as the rate limit allows.
func (s *jwksSet) lookup(ctx context.Context, kid, alg string) []jwk {
	s.mu.RLock()
	keys, gen, fetchedAt := s.keys, s.gen, s.fetchedAt
	s.mu.RUnlock()
	found := match(keys, kid)
	usable := false
	for _, k := range found {
		usable = usable || k.canVerify(alg)
	}
	if usable && s.now().Sub(fetchedAt) < jwksMaxAge {
		return found
	}
	s.refresh(ctx, gen)
	s.mu.RLock()
	keys = s.keys
	s.mu.RUnlock()
	return match(keys, kid)
}

func match(keys []jwk, kid string) []jwk {
	if kid == "" {
		return keys
	}
	var out []jwk
	for _, k := range keys {
		if k.kid == kid {
			out = append(out, k)
		}
	}
	return out
}

// refresh fetches the set unless another refresh attempt happened since the caller read
// generation seen, or the last attempt was less than minInterval ago.
func (s *jwksSet) refresh(ctx context.Context, seen uint64) {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	s.mu.RLock()
	gen := s.gen
	s.mu.RUnlock()
	now := s.now()
	if gen != seen || !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.minInterval {
		return
	}
	s.lastAttempt = now
	keys, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if err != nil {
		s.log.WarnContext(ctx, "jwks refresh failed; keeping the previous keys", "url", s.url, "err", err)
		return
	}
	s.keys, s.fetchedAt = keys, now
	s.log.InfoContext(ctx, "jwks refreshed", "url", s.url, "keys", len(keys))
}

// fetch GETs and parses the key set. It is not cut short when ctx is cancelled, since other
// requests may be waiting for it; jwksFetchTimeout bounds it.
func (s *jwksSet) fetch(ctx context.Context) ([]jwk, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("response larger than %d bytes", maxJWKSBytes)
	}
	return parseJWKS(body)
}

// rawJWK holds the members of a JWK this package reads (RFC 7517, RFC 7518 §6, RFC 8037).
type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS parses a JWK set. Keys it cannot use (other types, encryption keys, weak or malformed
// keys) are skipped; only a malformed document is an error.
func parseJWKS(data []byte) ([]jwk, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, errors.New("not a JWK set")
	}
	var out []jwk
	for _, raw := range doc.Keys {
		if len(out) == maxJWKSKeys {
			break
		}
		var r rawJWK
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		if k, err := parseJWK(r); err == nil {
			out = append(out, k)
		}
	}
	return out, nil
}

// parseJWK converts one JWK to a verification key.
func parseJWK(r rawJWK) (jwk, error) {
	if r.Use != "" && r.Use != "sig" {
		return jwk{}, errors.New("not a signing key")
	}
	k := jwk{kid: r.Kid, alg: r.Alg}
	switch r.Kty {
	case "RSA":
		n, err1 := b64(r.N)
		e, err2 := b64(r.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 || len(n) == 0 || n[0] == 0 {
			return jwk{}, errors.New("bad RSA key")
		}
		var ev int
		for _, b := range e {
			ev = ev<<8 | int(b)
		}
		N := new(big.Int).SetBytes(n)
		if bits := N.BitLen(); bits < minRSABits || bits > maxRSABits || ev < 3 || ev%2 == 0 {
			return jwk{}, errors.New("weak or unusual RSA key")
		}
		k.key = &rsa.PublicKey{N: N, E: ev}
	case "EC":
		var curve elliptic.Curve
		var size int
		switch r.Crv {
		case "P-256":
			curve, size = elliptic.P256(), 32
		case "P-384":
			curve, size = elliptic.P384(), 48
		case "P-521":
			curve, size = elliptic.P521(), 66
		default:
			return jwk{}, errors.New("unsupported curve")
		}
		x, err1 := b64(r.X)
		y, err2 := b64(r.Y)
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return jwk{}, errors.New("bad EC key")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return jwk{}, errors.New("bad EC key")
		}
		k.key = pub
	case "OKP":
		x, err := b64(r.X)
		if r.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return jwk{}, errors.New("unsupported OKP key")
		}
		k.key = ed25519.PublicKey(x)
	default:
		return jwk{}, errors.New("unsupported key type")
	}
	return k, nil
}

// b64 decodes base64url, with or without padding.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
