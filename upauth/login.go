package upauth

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// DefaultLoginTimeout bounds a login: the user has this long to approve.
const DefaultLoginTimeout = 10 * time.Minute

// LoginOptions configures one login.
type LoginOptions struct {
	// Scopes are requested on top of what the upstream asks for.
	Scopes []string
	// NoBrowser prints the URL and reads the pasted redirect URL instead of
	// opening a browser.
	NoBrowser bool
	// In is where a pasted redirect URL is read from (os.Stdin). Nil: the
	// loopback redirect is the only way back.
	In io.Reader
	// Out receives the instructions for the user (os.Stderr). Nil discards.
	Out io.Writer
	// Timeout bounds the login; zero means DefaultLoginTimeout.
	Timeout time.Duration
}

// Login runs the authorization code flow for up and stores the tokens. It
// starts from the upstream's last challenge (a 401, or a 403 asking for more
// scope, as the transport recorded it) or else from a probe, discovers the
// authorization server, reuses or makes the client registration, and waits
// for the redirect on 127.0.0.1 at the registration's port, or for the
// redirect URL pasted on o.In.
func (m *Manager) Login(ctx context.Context, up Upstream, o *LoginOptions) (*Status, error) {
	if o == nil {
		o = &LoginOptions{}
	}
	out := &lockedWriter{w: o.Out}
	if o.Out == nil {
		out.w = io.Discard
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultLoginTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	p, err := m.planLogin(ctx, up, "", o.Scopes)
	if err != nil {
		return nil, err
	}
	d, c := p.d, p.c

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", c.RedirectPort))
	if err != nil {
		return nil, fmt.Errorf("the redirect port %d of this client registration is in use: free it, or set oauth.redirect_port, or run logout --forget-client to register anew", c.RedirectPort)
	}
	redirect := redirectURI(c.RedirectPort)
	verifier := oauth2.GenerateVerifier()
	state := rand.Text()
	authURL, err := p.authURL(redirect, state, verifier)
	if err != nil {
		ln.Close()
		return nil, err
	}

	opened := false
	if !o.NoBrowser {
		if err := m.openBrowser(ctx, authURL); err != nil {
			m.log.Debug("no browser opened; printing the URL", "upstream", up.Name, "reason", err)
		} else {
			opened = true
		}
	}
	var in io.Reader
	switch {
	case opened:
		fmt.Fprintf(out, "Opening the login page of %s in your browser. If it does not open, visit:\n\n  %s\n\nWaiting for the browser to come back to %s …\n", up.Name, authURL, redirect)
	case o.In == nil:
		fmt.Fprintf(out, "To log in to %s, open this URL in a browser on this machine:\n\n  %s\n\nWaiting for the browser to come back to %s …\n", up.Name, authURL, redirect)
	default:
		in = o.In
		fmt.Fprintf(out, "To log in to %s, open this URL in a browser:\n\n  %s\n\n"+
			"After you approve, the browser is sent to %s?code=… If that page does not load\n"+
			"(the browser runs on another machine), copy the whole address from the address bar and paste it here.\n"+
			"Redirect URL: ", up.Name, authURL, redirect)
	}
	res, err := waitForRedirect(ctx, ln, state, in, out)
	if err != nil {
		return nil, err
	}
	if res.Error != "" {
		return nil, fmt.Errorf("the authorization server of %s refused the login: %s %s", up.Name, scrub(res.Error, nil), scrub(res.ErrorDescription, nil))
	}
	if err := checkIssuer(res.Iss, d); err != nil {
		return nil, fmt.Errorf("%s: %w", up.Name, err)
	}

	nrec, err := m.redeem(ctx, up, p, res.Code, redirect, verifier, false)
	if err != nil {
		var oe *OAuthError
		if errors.As(err, &oe) && oe.Code == "invalid_client" && c.Method == regDynamic {
			// The server forgot the client it registered: register anew next time.
			m.baseStore(up).Delete(ctx, clientKey(up, d.Issuer, false))
			return nil, fmt.Errorf("%w (the stored client registration was dropped; run the login again)", err)
		}
		return nil, err
	}
	m.log.Info("logged in", "upstream", up.Name, "issuer", d.Issuer, "scopes", strings.Join(nrec.Scopes, " "))
	return m.Status(ctx, up)
}

// storeLogin saves a fresh login under the token lock, so it does not race a
// refresh of the old tokens in another process.
func (m *Manager) storeLogin(ctx context.Context, up Upstream, rec *tokenRecord) error {
	unlock, err := m.lock(ctx, m.tokenKey(up))
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.saveToken(ctx, up, rec); err != nil {
		return fmt.Errorf("storing the tokens: %w", err)
	}
	m.sources.forget(m.tokenKey(up))
	return nil
}

// checkIssuer is the RFC 9207 mix-up defence: an iss in the authorization
// response must be the issuer the request went to, and a server that
// advertises the parameter must send it.
func checkIssuer(iss string, d *discovery) error {
	if iss == "" {
		if d.ASM.AuthorizationResponseIssParameterSupported {
			return errors.New("the authorization response has no iss, though the server advertises it (RFC 9207): refused")
		}
		return nil
	}
	if iss != d.Issuer {
		return fmt.Errorf("the authorization response names issuer %q, not %q (RFC 9207 mix-up defence): refused", scrub(iss, nil), d.Issuer)
	}
	return nil
}

// redirectResult is the query of the redirect back from the authorization server.
type redirectResult struct {
	Code, State, Iss, Error, ErrorDescription string
}

func parseRedirect(q url.Values) *redirectResult {
	return &redirectResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss"),
		Error: q.Get("error"), ErrorDescription: q.Get("error_description")}
}

// parsePasted reads a pasted redirect: the whole URL, or just its query.
func parsePasted(line string) (url.Values, bool) {
	var q url.Values
	if u, err := url.Parse(line); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		q = u.Query()
	} else if v, err := url.ParseQuery(strings.TrimPrefix(line, "?")); err == nil {
		q = v
	}
	return q, q.Get("code") != "" || q.Get("error") != ""
}

// waitForRedirect serves the loopback redirect on ln and, when in is set,
// reads pasted redirect URLs from it, until one with the login's state
// arrives or ctx ends. A redirect with another state is answered and
// ignored: it is not this login's. The goroutine reading in stays blocked on
// it until it delivers a line or ends (for a terminal: until the process exits).
func waitForRedirect(ctx context.Context, ln net.Listener, state string, in io.Reader, out io.Writer) (*redirectResult, error) {
	results := make(chan *redirectResult, 1)
	deliver := func(r *redirectResult) {
		select {
		case results <- r:
		default:
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		res := parseRedirect(r.URL.Query())
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		switch {
		case res.State != state:
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, page("This is not the login mcp-gateway is waiting for. Start the login again from the terminal."))
			return
		case res.Error != "":
			io.WriteString(w, page("The login was refused: "+res.Error+". See the terminal."))
		case res.Code == "":
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, page("The redirect carries no authorization code."))
			return
		default:
			io.WriteString(w, page("Logged in. You can close this tab and go back to the terminal."))
		}
		deliver(res)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx) // lets the page reach the browser
		<-served
	}()
	stop := make(chan struct{})
	defer close(stop)
	if in != nil {
		go readPasted(in, state, out, stop, deliver)
	}
	select {
	case r := <-results:
		return r, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, errors.New("the login timed out waiting for the redirect from the browser")
		}
		return nil, ctx.Err()
	}
}

// readPasted reads lines from in until one is this login's redirect.
func readPasted(in io.Reader, state string, out io.Writer, stop <-chan struct{}, deliver func(*redirectResult)) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	say := func(s string) {
		select {
		case <-stop:
		default:
			io.WriteString(out, s)
		}
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		q, ok := parsePasted(line)
		if !ok {
			say("That is not the redirect (it has ?code=… or ?error=…). Paste the whole address:\nRedirect URL: ")
			continue
		}
		res := parseRedirect(q)
		if res.State != state {
			say("That redirect belongs to another login (its state differs). Paste the one from this login:\nRedirect URL: ")
			continue
		}
		deliver(res)
		return
	}
}

func page(msg string) string {
	return "<!doctype html><meta charset=utf-8><title>mcp-gateway</title><p>" + html.EscapeString(msg) + "</p>\n"
}

// lockedWriter serializes writes from Login and the paste reader.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// loginPlan is where both login flows start: the upstream's authorization
// server, the client registration and the scopes to ask for.
type loginPlan struct {
	hc     *http.Client
	d      *discovery
	c      *clientRecord
	scopes []string
}

// planLogin starts from the upstream's last challenge (or a probe),
// discovers its authorization server and reuses or makes the client
// registration: the loopback one when web is "", else the web flow's for
// that redirect URI. want adds scopes to ask for.
func (m *Manager) planLogin(ctx context.Context, up Upstream, web string, want []string) (*loginPlan, error) {
	if err := checkOAuthURL("the upstream URL", up.URL); err != nil {
		return nil, fmt.Errorf("%s: %w", up.Name, err)
	}
	hc := m.httpClient(ctx, up)
	rec, err := m.loadToken(ctx, up)
	if err != nil {
		return nil, err
	}
	if rec != nil && rec.URL != up.URL {
		rec = nil // from another URL: neither its challenge nor its scopes apply
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
	c, err := m.registration(ctx, hc, up, d, web)
	if err != nil {
		return nil, err
	}
	return &loginPlan{hc: hc, d: d, c: c, scopes: chooseScopes(up, ch, d, rec, want)}, nil
}

// authURL is the authorization request of the plan, with PKCE and the
// resource indicator.
func (p *loginPlan) authURL(redirect, state, verifier string) (string, error) {
	cfg := &oauth2.Config{ClientID: p.c.ClientID, Endpoint: oauth2.Endpoint{AuthURL: p.d.ASM.AuthorizationEndpoint}, RedirectURL: redirect, Scopes: p.scopes}
	u := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", p.d.Resource))
	if err := checkOAuthURL("the authorization URL", u); err != nil {
		return "", err
	}
	return u, nil
}

// redeem exchanges the authorization code for tokens and stores them under
// the token lock.
func (m *Manager) redeem(ctx context.Context, up Upstream, p *loginPlan, code, redirect, verifier string, web bool) (*tokenRecord, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirect},
		"code_verifier": {verifier},
		"resource":      {p.d.Resource},
	}
	tok, err := tokenRequest(ctx, p.hc, p.d.ASM.TokenEndpoint, form, p.c, p.c.secret(up))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", up.Name, err)
	}
	now := m.now().UTC()
	rec := &tokenRecord{
		URL: up.URL, Resource: p.d.Resource, Issuer: p.d.Issuer, TokenEndpoint: p.d.ASM.TokenEndpoint, Web: web,
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ObtainedAt: now, Scopes: p.scopes,
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
	return rec, nil
}
