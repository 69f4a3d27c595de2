package upauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrNeedsLogin is matched (errors.Is) by every [*NeedsLoginError].
var ErrNeedsLogin = errors.New("needs login")

// NeedsLoginError says an upstream cannot be called until someone logs in to
// it: it has no token, its tokens were refused or revoked, or it asks for
// more scope than was granted. The gateway never opens a browser for it; the
// error names the command to run.
type NeedsLoginError struct {
	// Upstream is the upstream's name.
	Upstream string
	// Command is what to run to log in, as "mcp-gateway login NAME".
	Command string
	// Reason says why, in a few words.
	Reason string
	// Scopes are the scopes the upstream asked for, when it asked for more.
	Scopes []string
}

func (e *NeedsLoginError) Error() string {
	msg := fmt.Sprintf("upstream %s needs a login (%s): run `%s`", e.Upstream, e.Reason, e.Command)
	if len(e.Scopes) > 0 {
		msg = fmt.Sprintf("upstream %s needs a login with scope %q (%s): run `%s`", e.Upstream, strings.Join(e.Scopes, " "), e.Reason, e.Command)
	}
	return msg
}

// LoginCommand is the command to run, for callers that know this error
// only by this method.
func (e *NeedsLoginError) LoginCommand() string { return e.Command }

// StepUp reports whether the error asks only for more scope: the token still
// serves other requests.
func (e *NeedsLoginError) StepUp() bool { return len(e.Scopes) > 0 }

// Is makes errors.Is(err, ErrNeedsLogin) true.
func (e *NeedsLoginError) Is(target error) bool { return target == ErrNeedsLogin }

// Reasons a login is needed.
const (
	reasonNotLoggedIn  = "not logged in"
	reasonLoggedOut    = "logged out"
	reasonURLChanged   = "its URL changed since the login"
	reasonExpired      = "the access token expired and there is no refresh token"
	reasonRejected     = "the upstream rejected the access token"
	reasonNoClient     = "the client registration is gone"
	reasonMoreScope    = "the upstream asks for more scope"
	reasonAskedByServe = "the upstream asks for a login"
)

func (m *Manager) needsLogin(up Upstream, reason string, scopes []string) *NeedsLoginError {
	return &NeedsLoginError{Upstream: up.Name, Command: m.loginCommand(up.Name), Reason: reason, Scopes: scopes}
}

// unusable says why rec cannot be sent to up, or returns nil when it can.
func (m *Manager) unusable(up Upstream, rec *tokenRecord) *NeedsLoginError {
	switch {
	case rec == nil:
		return m.needsLogin(up, reasonNotLoggedIn, nil)
	case rec.URL != up.URL:
		return m.needsLogin(up, reasonURLChanged, nil)
	case rec.NeedsLogin != "":
		return m.needsLogin(up, rec.NeedsLogin, nil)
	case rec.AccessToken == "":
		return m.needsLogin(up, reasonNotLoggedIn, nil)
	case rec.RefreshToken == "" && m.expired(rec):
		return m.needsLogin(up, reasonExpired, nil)
	}
	return nil
}

// Refresh timing: a token is refreshed when less than refreshMargin or a
// tenth of its lifetime is left, whichever is more, but never earlier than
// half its lifetime (a 30-second token is not refreshed on every request).
const refreshMargin = 60 * time.Second

// due reports whether rec should be refreshed now.
func (m *Manager) due(rec *tokenRecord) bool {
	if rec.Expiry.IsZero() {
		return false
	}
	left := rec.Expiry.Sub(m.now())
	threshold := refreshMargin
	if life := rec.Expiry.Sub(rec.ObtainedAt); life > 0 {
		threshold = min(max(refreshMargin, life/10), life/2)
	}
	return left < threshold
}

func (m *Manager) expired(rec *tokenRecord) bool {
	return !rec.Expiry.IsZero() && !m.now().Before(rec.Expiry)
}

// reloadEvery is how long a process trusts its in-memory copy of a token
// record before reading the store again (another process may have logged
// out, logged in or refreshed).
const reloadEvery = 30 * time.Second

// refreshTimeout bounds one refresh, whoever's request started it.
const refreshTimeout = 30 * time.Second

// source lends one upstream's tokens to requests and refreshes them.
type source struct {
	m   *Manager
	up  Upstream
	key Key
	sf  singleflight.Group

	mu     sync.Mutex
	rec    *tokenRecord
	loaded time.Time
}

// source returns the token source of up, shared by every Transport of this
// Manager and its copies.
func (m *Manager) source(up Upstream) *source {
	k := m.tokenKey(up)
	ss := m.sources
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[k.String()]
	if s == nil || !reflect.DeepEqual(s.up, up) {
		s = &source{m: m, up: up, key: k}
		ss.m[k.String()] = s
	}
	return s
}

func (s *source) set(rec *tokenRecord) {
	s.mu.Lock()
	s.rec, s.loaded = rec, s.m.now()
	s.mu.Unlock()
}

// current is the token record, from memory while it is recent.
func (s *source) current(ctx context.Context) (*tokenRecord, error) {
	s.mu.Lock()
	rec, at := s.rec, s.loaded
	s.mu.Unlock()
	// A record that says a login is needed, or none, is read again each
	// time, so a login in another process takes effect at the next request.
	if !at.IsZero() && s.m.now().Sub(at) < reloadEvery && rec.usable() {
		return rec, nil
	}
	rec, err := s.m.loadToken(ctx, s.up)
	if err != nil {
		return nil, err
	}
	s.set(rec)
	return rec, nil
}

// token returns a record with an access token to send, refreshing it first
// when it is due, or a *NeedsLoginError.
func (s *source) token(ctx context.Context) (*tokenRecord, error) {
	rec, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	if nle := s.m.unusable(s.up, rec); nle != nil {
		return nil, nle
	}
	if !s.m.due(rec) {
		return rec, nil
	}
	return s.refresh(ctx, "")
}

// refresh refreshes the token once per process at a time. rejected, when
// set, is an access token the upstream refused: it is replaced even if it
// is not due, unless the store already holds another.
func (s *source) refresh(ctx context.Context, rejected string) (*tokenRecord, error) {
	v, err, _ := s.sf.Do("refresh", func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return s.refreshLocked(rctx, rejected)
	})
	if err != nil {
		return nil, err
	}
	return v.(*tokenRecord), nil
}

// refreshLocked is read-refresh-write under the cross-process lock. The store
// is read again after the lock is taken: if another process refreshed in the
// meantime, its token is used and its (rotated) refresh token is not spent
// a second time.
func (s *source) refreshLocked(ctx context.Context, rejected string) (*tokenRecord, error) {
	m, up := s.m, s.up
	unlock, err := m.lock(ctx, s.key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, err := m.loadToken(ctx, up)
	if err != nil {
		return nil, err
	}
	s.set(rec)
	if nle := m.unusable(up, rec); nle != nil {
		return nil, nle
	}
	switch {
	case rejected == "" && !m.due(rec):
		return rec, nil // refreshed by another process
	case rejected != "" && rec.AccessToken != rejected:
		return rec, nil // replaced by another process
	case rec.RefreshToken == "":
		if rejected == "" {
			return rec, nil // not expired yet (unusable would say), and nothing to refresh with
		}
		return nil, s.markNeedsLogin(ctx, rec, reasonRejected, nil)
	}
	c, err := m.loadClient(ctx, up, rec)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, s.markNeedsLogin(ctx, rec, reasonNoClient, nil)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rec.RefreshToken}}
	if rec.Resource != "" {
		form.Set("resource", rec.Resource)
	}
	tok, err := tokenRequest(ctx, m.httpClient(ctx, up), rec.TokenEndpoint, form, c, c.secret(up))
	if err != nil {
		var oe *OAuthError
		if errors.As(err, &oe) && slices.Contains([]string{"invalid_grant", "invalid_client", "unauthorized_client"}, oe.Code) {
			m.log.Warn("refresh refused: the upstream needs a login", "upstream", up.Name, "error", oe.Code)
			return nil, s.markNeedsLogin(ctx, rec, "the authorization server refused the refresh token ("+oe.Code+")", nil)
		}
		if rejected == "" && !m.expired(rec) {
			m.log.Warn("token refresh failed; using the current token until it expires", "upstream", up.Name, "err", err)
			return rec, nil
		}
		return nil, fmt.Errorf("refreshing the token of %s: %w", up.Name, err)
	}
	now := m.now().UTC()
	next := *rec
	next.AccessToken, next.ObtainedAt, next.Expiry = tok.AccessToken, now, time.Time{}
	if tok.RefreshToken != "" {
		next.RefreshToken = tok.RefreshToken
	}
	if exp := tok.expiresIn(); exp > 0 {
		next.Expiry = now.Add(exp)
	}
	if tok.Scope != "" {
		next.Scopes = strings.Fields(tok.Scope)
	}
	if err := m.saveToken(ctx, up, &next); err != nil {
		// The old refresh token may be spent: this process goes on with the
		// new one, but the next process will need a login.
		m.log.Error("storing the refreshed token failed", "upstream", up.Name, "err", err)
	}
	s.set(&next)
	m.log.Debug("token refreshed", "upstream", up.Name)
	return &next, nil
}

// markNeedsLogin stores that rec's tokens are of no more use (keeping where
// they came from, for the next login) and returns the error to report. The
// caller holds the lock.
func (s *source) markNeedsLogin(ctx context.Context, rec *tokenRecord, reason string, ch *Challenge) *NeedsLoginError {
	next := &tokenRecord{URL: s.up.URL, NeedsLogin: reason, Challenge: ch}
	if rec != nil && rec.URL == s.up.URL {
		next.Resource, next.Issuer, next.TokenEndpoint = rec.Resource, rec.Issuer, rec.TokenEndpoint
		next.Scopes, next.NeedsScopes = rec.Scopes, rec.NeedsScopes
		if ch == nil {
			next.Challenge = rec.Challenge
		}
	}
	if err := s.m.saveToken(ctx, s.up, next); err != nil {
		s.m.log.Error("storing the login state failed", "upstream", s.up.Name, "err", err)
	}
	s.set(next)
	return s.m.needsLogin(s.up, reason, nil)
}

// rejectedBy records that the upstream refused the token it was sent
// (sent == "" for a request without one): it needs a login, starting from
// challenge ch. A record that has changed since (another process logged in)
// is left alone.
func (s *source) rejectedBy(ctx context.Context, sent string, ch *Challenge) *NeedsLoginError {
	reason := reasonRejected
	if sent == "" {
		reason = reasonAskedByServe
	}
	unlock, err := s.m.lock(ctx, s.key)
	if err != nil {
		return s.m.needsLogin(s.up, reason, nil)
	}
	defer unlock()
	rec, err := s.m.loadToken(ctx, s.up)
	if err != nil {
		return s.m.needsLogin(s.up, reason, nil)
	}
	if rec.usable() && rec.URL == s.up.URL && rec.AccessToken != sent {
		s.set(rec)
		return s.m.needsLogin(s.up, "the upstream rejected a token that has since been replaced; retry", nil)
	}
	if sent == "" && rec != nil && rec.NeedsLogin != "" && rec.URL == s.up.URL && reflect.DeepEqual(rec.Challenge, ch) {
		s.set(rec)
		return s.m.needsLogin(s.up, rec.NeedsLogin, nil) // already recorded: no write per request
	}
	if sent == "" && rec != nil && rec.NeedsLogin != "" {
		reason = rec.NeedsLogin
	}
	return s.markNeedsLogin(ctx, rec, reason, ch)
}

// stepUp records that the upstream asks for the scopes of ch (403
// insufficient_scope) when refusing the token sent. The token stays in use
// for what it may do; the next login requests the union. When the store
// already holds another usable token (a login in another process), that
// record is returned for one retry instead.
func (s *source) stepUp(ctx context.Context, sent string, ch *Challenge) (*tokenRecord, *NeedsLoginError) {
	nle := s.m.needsLogin(s.up, reasonMoreScope, ch.Scopes)
	unlock, err := s.m.lock(ctx, s.key)
	if err != nil {
		return nil, nle
	}
	defer unlock()
	rec, err := s.m.loadToken(ctx, s.up)
	if err != nil || rec == nil || rec.URL != s.up.URL {
		return nil, nle
	}
	s.set(rec)
	if rec.usable() && rec.AccessToken != sent {
		return rec, nle
	}
	if slices.Equal(rec.NeedsScopes, ch.Scopes) && reflect.DeepEqual(rec.Challenge, ch) {
		return nil, nle
	}
	rec.NeedsScopes, rec.Challenge = ch.Scopes, ch
	if err := s.m.saveToken(ctx, s.up, rec); err != nil {
		s.m.log.Error("storing the scope the upstream asks for failed", "upstream", s.up.Name, "err", err)
	}
	s.set(rec)
	return nil, nle
}
