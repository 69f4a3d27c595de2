// Command oauth is a hosted MCP server that takes only OAuth access tokens,
// and the authorization server that issues them, in one process: the test
// counterpart of Notion's or Linear's hosted server. It serves
//
//	/mcp                                         MCP (streamable HTTP), bearer tokens only; the tool
//	                                             write_page needs scope "write" (403 insufficient_scope)
//	/.well-known/oauth-protected-resource/mcp    RFC 9728 metadata
//	/.well-known/oauth-authorization-server      RFC 8414 metadata
//	/register                                    dynamic client registration (RFC 7591)
//	/authorize                                   approves at once, as a user clicking "Allow" would
//	                                             (as --user, or as the user its test_user parameter names)
//	/token                                       authorization_code (PKCE S256) and rotating refresh_token
//	/stats                                       counts of registrations, authorizations, token requests
//	/revoke-all                                  POST: revokes every grant (the next refresh gets invalid_grant)
//
// It checks what a strict server checks: registered redirect URIs, the PKCE
// verifier, the resource indicator on every token request, and a refresh
// token used twice (which revokes the grant, as rotating servers do).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcp-gateway/mcp-gateway/examples/upstreams/serve"
)

func main() {
	addr := flag.String("http", "127.0.0.1:0", "listen `ADDR`")
	ttl := flag.Duration("token-ttl", time.Hour, "lifetime of an access token")
	wrongIss := flag.Bool("wrong-iss", false, "send another issuer's iss in the authorization response (RFC 9207 mix-up)")
	user := flag.String("user", "alice", "the user who approves every login")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, &server{ttl: *ttl, wrongIss: *wrongIss, user: *user}); err != nil {
		fmt.Fprintln(os.Stderr, "oauth:", err)
		os.Exit(1)
	}
}

type client struct {
	id       string
	redirect []string
}

type code struct {
	client, redirect, challenge, resource, user string
	scopes                                      []string
}

type grant struct {
	client, resource, user string
	scopes                 []string
	revoked                bool
}

type access struct {
	g   *grant
	exp time.Time
}

type server struct {
	ttl      time.Duration
	wrongIss bool
	user     string
	base     string // http://HOST:PORT

	mu       sync.Mutex
	clients  map[string]*client
	codes    map[string]*code
	refresh  map[string]*grant // live refresh tokens
	spent    map[string]*grant // refresh tokens already used once
	tokens   map[string]*access
	stats    map[string]int
	lastAuth url.Values
}

func run(ctx context.Context, addr string, s *server) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.base = "http://" + ln.Addr().String()
	s.clients, s.codes, s.refresh, s.spent, s.tokens, s.stats = map[string]*client{}, map[string]*code{}, map[string]*grant{}, map[string]*grant{}, map[string]*access{}, map[string]int{}

	srv := mcp.NewServer(&mcp.Implementation{Name: "oauth-upstream", Version: "test"}, &mcp.ServerOptions{SupportedProtocolVersions: serve.ProtocolVersions()})
	type who struct {
		User   string   `json:"user"`
		Client string   `json:"client"`
		Scopes []string `json:"scopes"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "who the access token belongs to"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, who, error) {
		ti := req.Extra.TokenInfo
		return nil, who{User: ti.UserID, Client: fmt.Sprint(ti.Extra["client"]), Scopes: ti.Scopes}, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "write_page", Description: "needs scope write"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, who, error) {
		ti := req.Extra.TokenInfo
		return nil, who{User: ti.UserID, Client: fmt.Sprint(ti.Extra["client"]), Scopes: ti.Scopes}, nil
	})
	prmURL := s.base + "/.well-known/oauth-protected-resource/mcp"
	mcpHandler := stepUp(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil), prmURL)

	mux := http.NewServeMux()
	mux.Handle("/mcp", sdkauth.RequireBearerToken(s.verify, &sdkauth.RequireBearerTokenOptions{ResourceMetadataURL: prmURL, Scopes: []string{"mcp"}})(mcpHandler))
	mux.Handle("GET /.well-known/oauth-protected-resource/mcp", sdkauth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: s.base + "/mcp", AuthorizationServers: []string{s.base}, ScopesSupported: []string{"mcp", "write"},
	}))
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{
			"issuer": s.base, "authorization_endpoint": s.base + "/authorize", "token_endpoint": s.base + "/token",
			"registration_endpoint": s.base + "/register", "response_types_supported": []string{"code"},
			"grant_types_supported": []string{"authorization_code", "refresh_token"}, "code_challenge_methods_supported": []string{"S256"},
			"token_endpoint_auth_methods_supported": []string{"none"}, "scopes_supported": []string{"mcp", "write", "offline_access"},
			"authorization_response_iss_parameter_supported": true,
		})
	})
	mux.HandleFunc("POST /register", s.register)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := map[string]any{}
		for k, v := range s.stats {
			out[k] = v
		}
		out["last_authorize"] = s.lastAuth
		writeJSON(w, 200, out)
	})
	mux.HandleFunc("POST /revoke-all", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, g := range s.refresh {
			g.revoked = true
		}
		w.WriteHeader(http.StatusNoContent)
	})

	streams, cancelStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStreams()
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return streams }}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "listening on %s\n", s.base)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cancelStreams()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// stepUp answers a tools/call of write_page whose token lacks scope "write"
// with 403 insufficient_scope naming the scopes needed, as a server asking
// for a step-up authorization does.
func stepUp(next http.Handler, prmURL string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		json.Unmarshal(body, &msg)
		ti := sdkauth.TokenInfoFromContext(r.Context())
		if msg.Method == "tools/call" && msg.Params.Name == "write_page" && (ti == nil || !slices.Contains(ti.Scopes, "write")) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope="mcp write", resource_metadata=%q`, prmURL))
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) count(k string) {
	s.stats[k]++
}

func (s *server) verify(_ context.Context, tok string, _ *http.Request) (*sdkauth.TokenInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.tokens[tok]
	if a == nil || a.g.revoked {
		return nil, sdkauth.ErrInvalidToken
	}
	if a.g.resource != s.base+"/mcp" {
		return nil, fmt.Errorf("%w: token is for another resource", sdkauth.ErrInvalidToken)
	}
	s.count("mcp_requests_with_token")
	return &sdkauth.TokenInfo{Scopes: a.g.scopes, Expiration: a.exp, UserID: a.g.user, Extra: map[string]any{"client": a.g.client}}, nil
}

func (s *server) register(w http.ResponseWriter, r *http.Request) {
	var m oauthex.ClientRegistrationMetadata
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&m); err != nil || len(m.RedirectURIs) == 0 {
		writeJSON(w, 400, map[string]string{"error": "invalid_client_metadata"})
		return
	}
	for _, u := range m.RedirectURIs {
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			writeJSON(w, 400, map[string]string{"error": "invalid_redirect_uri"})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("registrations")
	c := &client{id: "client-" + rand.Text()[:10], redirect: m.RedirectURIs}
	s.clients[c.id] = c
	writeJSON(w, 201, map[string]any{"client_id": c.id, "redirect_uris": c.redirect, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "client_id_issued_at": time.Now().Unix()})
}

func (s *server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("authorizations")
	s.lastAuth = q
	c := s.clients[q.Get("client_id")]
	if c == nil || !slices.Contains(c.redirect, q.Get("redirect_uri")) {
		http.Error(w, "unknown client or redirect_uri", 400) // never redirect to an unregistered URI
		return
	}
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := url.Values{"state": {q.Get("state")}, "iss": {s.base}}
	if s.wrongIss {
		v.Set("iss", "https://evil.example")
	}
	switch {
	case q.Get("response_type") != "code":
		v.Set("error", "unsupported_response_type")
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		v.Set("error", "invalid_request")
		v.Set("error_description", "PKCE S256 is required")
	case q.Get("resource") != s.base+"/mcp":
		v.Set("error", "invalid_target")
	default:
		k := rand.Text()
		user := s.user
		if u := q.Get("test_user"); u != "" {
			user = u // who approves: the test says, as the person at the browser would
		}
		s.codes[k] = &code{client: c.id, redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), resource: q.Get("resource"), user: user, scopes: strings.Fields(q.Get("scope"))}
		v.Set("code", k)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (s *server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("token_requests")
	s.count("token_" + f.Get("grant_type"))
	fail := func(e, d string) { writeJSON(w, 400, map[string]string{"error": e, "error_description": d}) }
	if f.Get("resource") != s.base+"/mcp" {
		fail("invalid_target", "resource must be "+s.base+"/mcp")
		return
	}
	var g *grant
	switch f.Get("grant_type") {
	case "authorization_code":
		c := s.codes[f.Get("code")]
		delete(s.codes, f.Get("code"))
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		switch {
		case c == nil:
			fail("invalid_grant", "unknown code")
			return
		case c.client != f.Get("client_id") || c.redirect != f.Get("redirect_uri"):
			fail("invalid_grant", "client or redirect_uri differs")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			fail("invalid_grant", "PKCE verifier does not match")
			return
		}
		g = &grant{client: c.client, resource: c.resource, user: c.user, scopes: c.scopes}
	case "refresh_token":
		rt := f.Get("refresh_token")
		if old := s.spent[rt]; old != nil {
			old.revoked = true // reuse of a rotated token: revoke the grant
			fail("invalid_grant", "refresh token reused")
			return
		}
		g = s.refresh[rt]
		if g == nil || g.revoked || g.client != f.Get("client_id") {
			fail("invalid_grant", "refresh token unknown or revoked")
			return
		}
		delete(s.refresh, rt)
		s.spent[rt] = g
	default:
		fail("unsupported_grant_type", "")
		return
	}
	at, rt := rand.Text(), rand.Text()
	s.tokens[at] = &access{g: g, exp: time.Now().Add(s.ttl)}
	s.refresh[rt] = g
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 200, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(s.ttl.Seconds()),
		"refresh_token": rt, "scope": strings.Join(g.scopes, " ")})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
