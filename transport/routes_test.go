package transport

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
)

func TestExtraRoutes(t *testing.T) {
	ok := func(body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	}
	routes := []Route{
		{Pattern: "GET /x/public", Handler: ok("public")},
		{Pattern: "GET /x/auth", Access: AccessAuthenticated, Handler: ok("auth")},
		{Pattern: "GET /x/admin", Access: AccessAdmin, Handler: ok("admin"), CredentialCookie: "k",
			Unauthenticated: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, "sign in")
			})},
	}
	authn := func(_ context.Context, h http.Header) (*policy.Identity, error) {
		switch h.Get("X-Api-Key") {
		case "admin":
			return policy.New(policy.Identity{Kind: policy.KindAPIKey, Owner: "a", Upstreams: []string{policy.AllUpstreams}, Admin: true}), nil
		case "user":
			return policy.New(policy.Identity{Kind: policy.KindAPIKey, Owner: "u", Upstreams: []string{policy.AllUpstreams}}), nil
		}
		return nil, ErrUnauthenticated
	}
	base := HTTPOptions{Merged: mcp.NewServer(&mcp.Implementation{Name: "t"}, nil), Status: func() any { return nil }, Ready: func() bool { return true }, Extra: routes}
	withAuth := base
	withAuth.Auth.Authenticate = authn

	for _, tc := range []struct {
		name   string
		o      HTTPOptions
		path   string
		header string
		cookie string
		code   int
		body   string
	}{
		{name: "public", o: withAuth, path: "/x/public", code: 200, body: "public"},
		{name: "auth without credential", o: withAuth, path: "/x/auth", code: 401},
		{name: "auth with user", o: withAuth, path: "/x/auth", header: "user", code: 200, body: "auth"},
		{name: "admin as user", o: withAuth, path: "/x/admin", header: "user", code: 403},
		{name: "admin as admin", o: withAuth, path: "/x/admin", header: "admin", code: 200, body: "admin"},
		{name: "admin by cookie", o: withAuth, path: "/x/admin", cookie: "admin", code: 200, body: "admin"},
		{name: "bad cookie gets the sign-in page", o: withAuth, path: "/x/admin", cookie: "wrong", code: 401, body: "sign in"},
		{name: "no credential gets the sign-in page", o: withAuth, path: "/x/admin", code: 401, body: "sign in"},
		{name: "the cookie does not count for other routes", o: withAuth, path: "/x/auth", cookie: "admin", code: 401},
		{name: "no auth configured: anonymous admin", o: base, path: "/x/admin", code: 200, body: "admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandler(tc.o, true)
			r := httptest.NewRequest("GET", "http://127.0.0.1"+tc.path, nil)
			if tc.header != "" {
				r.Header.Set("X-Api-Key", tc.header)
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "k", Value: tc.cookie})
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, tc.code, w.Code, w.Body.String())
			if tc.body != "" {
				assert.Equal(t, tc.body, w.Body.String())
			}
			if tc.code == http.StatusUnauthorized {
				assert.NotEmpty(t, w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}
