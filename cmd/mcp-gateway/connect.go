package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/mcp-gateway/mcp-gateway/upauth"
)

// publicURLEnv names the environment variable with the gateway's address as
// browsers reach it (https://gateway.example.com), for the redirect URI of
// the web login flow. Unset: the address the request came in on.
const publicURLEnv = "MCP_GATEWAY_PUBLIC_URL"

// webConnect is the gateway's web login flow for per-identity OAuth
// upstreams: GET /oauth/connect/NAME, authenticated, starts a login for the
// caller's identity; GET /oauth/callback, where the browser comes back,
// finishes it. Pending logins live in this process, by state, single use,
// for upauth.WebLoginTTL.
type webConnect struct {
	cfg *config.Config
	ua  *upauth.Manager
	key []byte
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]*upauth.WebLogin
}

// webConnectRoutes returns the handlers of the web login flow, or nils when
// no upstream uses it (a per_identity upstream without identity_headers)
// or it cannot run (no state directory, no MCP_GATEWAY_TOKEN_KEY: said in a
// warning).
func webConnectRoutes(cfg *config.Config, logger *slog.Logger) (func(http.ResponseWriter, *http.Request, *policy.Identity), http.Handler) {
	used := false
	for _, u := range cfg.MCPServers {
		used = used || (u.PerIdentity && len(u.IdentityHeaders) == 0)
	}
	if !used {
		return nil, nil
	}
	key, err := upauth.ParseTokenKey(os.Getenv(upauth.TokenKeyEnv))
	if err != nil {
		logger.Warn("per-identity OAuth upstreams: /oauth/connect is off", "err", err)
		return nil, nil
	}
	ua, err := stateManager(logger)
	if err != nil {
		logger.Warn("per-identity OAuth upstreams: /oauth/connect is off", "err", err)
		return nil, nil
	}
	c := &webConnect{cfg: cfg, ua: ua, key: key, log: logger, pending: map[string]*upauth.WebLogin{}}
	return c.connect, http.HandlerFunc(c.callback)
}

// connect starts a login of id to the upstream named in the path. A client
// asking for JSON gets {"authorization_url": ...} to open in the user's
// browser; a browser is redirected there.
func (c *webConnect) connect(w http.ResponseWriter, r *http.Request, id *policy.Identity) {
	name := r.PathValue("name")
	u, ok := c.cfg.MCPServers[name]
	if !ok || !u.PerIdentity || len(u.IdentityHeaders) > 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no per-identity OAuth upstream %q", name))
		return
	}
	if !id.AllowsUpstream(name) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("upstream %q is not allowed for identity %q", name, id.Name))
		return
	}
	m, err := c.ua.ForIdentity(id.Name, c.key)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	wl, err := m.StartWebLogin(r.Context(), authUpstream(u), callbackURL(r))
	if err != nil {
		c.log.Warn("starting a web login failed", "upstream", name, "identity", id.Name, "err", err)
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	c.mu.Lock()
	now := time.Now()
	for s, p := range c.pending {
		if !now.Before(p.Expires) {
			delete(c.pending, s)
		}
	}
	c.pending[wl.State] = wl
	c.mu.Unlock()
	c.log.Info("web login started", "upstream", name, "identity", id.Name)
	w.Header().Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, wl.AuthURL, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"authorization_url": wl.AuthURL, "expires_at": wl.Expires.UTC(), "upstream": name, "identity": id.Name})
}

// callback finishes the login whose state the browser brings back. The
// state is taken out first, so it is used at most once.
func (c *webConnect) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c.mu.Lock()
	wl := c.pending[q.Get("state")]
	delete(c.pending, q.Get("state"))
	c.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	if wl == nil {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, connectPage("This login is unknown or has expired. Start it again."))
		return
	}
	st, err := wl.Finish(r.Context(), q)
	if err != nil {
		c.log.Warn("web login failed", "upstream", wl.Upstream(), "identity", wl.Identity(), "err", err)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, connectPage("The login failed: "+err.Error()))
		return
	}
	io.WriteString(w, connectPage(fmt.Sprintf("Connected %s to %s. You can close this tab.", wl.Identity(), st.Upstream)))
}

// callbackURL is the redirect URI of the web flow: under
// MCP_GATEWAY_PUBLIC_URL, or the address the request came in on — never the
// request's Host header, which the caller chooses.
func callbackURL(r *http.Request) string {
	if pub := strings.TrimSuffix(os.Getenv(publicURLEnv), "/"); pub != "" {
		return pub + "/oauth/callback"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		host = a.String()
	}
	return scheme + "://" + host + "/oauth/callback"
}

func connectPage(msg string) string {
	return "<!doctype html><meta charset=utf-8><title>mcp-gateway</title><p>" + html.EscapeString(msg) + "</p>\n"
}
