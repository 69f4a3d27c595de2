package upauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// WebLoginTTL is how long a web login may take from its start to the
// browser's return; a state older than that is refused.
const WebLoginTTL = 10 * time.Minute

// WebLogin is a login started through the gateway's own web flow (GET
// /oauth/connect/NAME) for one identity: the authorization URL to send the
// user's browser to, and what the callback needs to finish it. The gateway
// keeps it, by State, until the browser comes back or it expires. It holds
// the PKCE verifier, so it never leaves the process.
type WebLogin struct {
	// AuthURL is where to send the browser.
	AuthURL string
	// State identifies the login in the callback.
	State string
	// Expires is when the login stops being accepted.
	Expires time.Time

	m        *Manager
	up       Upstream
	d        *discovery
	c        *clientRecord
	verifier string
	redirect string
	scopes   []string
}

// StartWebLogin begins a login of m's identity (see [Manager.ForIdentity])
// to up, with the browser coming back to redirectURI (the gateway's
// /oauth/callback). It discovers the authorization server and reuses or
// makes the web flow's client registration, as [Manager.Login] does for the
// loopback one.
func (m *Manager) StartWebLogin(ctx context.Context, up Upstream, redirectURI string) (*WebLogin, error) {
	if m.identity == "" {
		return nil, errors.New("upauth: a web login is for an identity (ForIdentity)")
	}
	if err := checkOAuthURL("the upstream URL", up.URL); err != nil {
		return nil, fmt.Errorf("%s: %w", up.Name, err)
	}
	hc := m.httpClient(ctx, up)
	rec, err := m.loadToken(ctx, up)
	if err != nil {
		return nil, err
	}
	if rec != nil && rec.URL != up.URL {
		rec = nil
	}
	var ch *Challenge
	if rec != nil && rec.Challenge != nil {
		ch = rec.Challenge
	} else {
		p, err := m.Probe(ctx, up)
		if err != nil {
			return nil, err
		}
		ch = p.Challenge
	}
	d, err := m.discover(ctx, hc, up, ch)
	if err != nil {
		return nil, err
	}
	c, err := m.registration(ctx, hc, up, d, redirectURI)
	if err != nil {
		return nil, err
	}
	w := &WebLogin{State: rand.Text(), Expires: m.now().Add(WebLoginTTL), m: m, up: up, d: d, c: c,
		verifier: oauth2.GenerateVerifier(), redirect: redirectURI, scopes: chooseScopes(up, ch, d, rec, nil)}
	cfg := &oauth2.Config{ClientID: c.ClientID, Endpoint: oauth2.Endpoint{AuthURL: d.ASM.AuthorizationEndpoint}, RedirectURL: redirectURI, Scopes: w.scopes}
	w.AuthURL = cfg.AuthCodeURL(w.State, oauth2.S256ChallengeOption(w.verifier), oauth2.SetAuthURLParam("resource", d.Resource))
	if err := checkOAuthURL("the authorization URL", w.AuthURL); err != nil {
		return nil, err
	}
	return w, nil
}

// Identity is the identity the login is for.
func (w *WebLogin) Identity() string { return w.m.identity }

// Upstream is the name of the upstream the login is for.
func (w *WebLogin) Upstream() string { return w.up.Name }

// Finish completes the login from the query of the callback: it checks the
// state, the expiry and the issuer (RFC 9207), redeems the code with the
// PKCE verifier and stores the tokens under the login's identity. The
// caller must use a WebLogin once.
func (w *WebLogin) Finish(ctx context.Context, q url.Values) (*Status, error) {
	m, up := w.m, w.up
	res := parseRedirect(q)
	switch {
	case res.State != w.State:
		return nil, errors.New("the callback's state is not this login's")
	case !m.now().Before(w.Expires):
		return nil, fmt.Errorf("the login took longer than %s: start it again", WebLoginTTL)
	case res.Error != "":
		return nil, fmt.Errorf("the authorization server of %s refused the login: %s %s", up.Name, scrub(res.Error, nil), scrub(res.ErrorDescription, nil))
	case res.Code == "":
		return nil, errors.New("the callback carries no authorization code")
	}
	if err := checkIssuer(res.Iss, w.d); err != nil {
		return nil, fmt.Errorf("%s: %w", up.Name, err)
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {res.Code},
		"redirect_uri":  {w.redirect},
		"code_verifier": {w.verifier},
		"resource":      {w.d.Resource},
	}
	tok, err := tokenRequest(ctx, m.httpClient(ctx, up), w.d.ASM.TokenEndpoint, form, w.c, w.c.secret(up))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", up.Name, err)
	}
	now := m.now().UTC()
	rec := &tokenRecord{
		URL: up.URL, Resource: w.d.Resource, Issuer: w.d.Issuer, TokenEndpoint: w.d.ASM.TokenEndpoint, Web: true,
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ObtainedAt: now, Scopes: w.scopes,
	}
	if tok.Scope != "" {
		rec.Scopes = strings.Fields(tok.Scope)
	}
	if exp := tok.expiresIn(); exp > 0 {
		rec.Expiry = now.Add(exp)
	}
	if err := m.storeLogin(ctx, up, rec); err != nil {
		return nil, err
	}
	m.log.Info("logged in through the web flow", "upstream", up.Name, "identity", m.identity, "issuer", w.d.Issuer)
	return m.Status(ctx, up)
}
