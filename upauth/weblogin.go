package upauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
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
	plan     *loginPlan
	verifier string
	redirect string
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
	p, err := m.planLogin(ctx, up, redirectURI, nil)
	if err != nil {
		return nil, err
	}
	w := &WebLogin{State: rand.Text(), Expires: m.now().Add(WebLoginTTL), m: m, up: up, plan: p,
		verifier: oauth2.GenerateVerifier(), redirect: redirectURI}
	if w.AuthURL, err = p.authURL(redirectURI, w.State, w.verifier); err != nil {
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
	if err := checkIssuer(res.Iss, w.plan.d); err != nil {
		return nil, fmt.Errorf("%s: %w", up.Name, err)
	}
	if _, err := m.redeem(ctx, up, w.plan, res.Code, w.redirect, w.verifier, true); err != nil {
		return nil, err
	}
	m.log.Info("logged in through the web flow", "upstream", up.Name, "identity", m.identity, "issuer", w.plan.d.Issuer)
	return m.Status(ctx, up)
}
