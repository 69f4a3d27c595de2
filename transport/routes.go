package transport

import (
	"net/http"
)

// Access says who may use an extra route.
type Access int

// Access levels of a [Route].
const (
	// AccessPublic routes are served to anyone who passes the Origin check.
	AccessPublic Access = iota
	// AccessAuthenticated routes need a credential (any identity when no
	// authentication is configured: then every request is Anonymous).
	AccessAuthenticated
	// AccessAdmin routes need an admin identity; others get 403. Without
	// authentication configured the anonymous identity is an admin, so they
	// are open on a loopback listener.
	AccessAdmin
)

// Route is an endpoint served beside the built-in ones (the status page, the
// API docs). Routes are registered before serving, like every other.
type Route struct {
	// Pattern is an http.ServeMux pattern, such as "GET /ui".
	Pattern string
	// Access says who may use it.
	Access Access
	// Handler serves it.
	Handler http.Handler
	// CredentialCookie, if set, names a cookie whose value is taken as an
	// X-Api-Key credential when the request carries no credential header:
	// a browser cannot add headers to a page load or an EventSource.
	CredentialCookie string
	// Unauthenticated, if set, answers a request without a valid credential
	// in place of the plain 401 (a sign-in page). WWW-Authenticate is set
	// already; it should answer 401 too.
	Unauthenticated http.Handler
}

// extraRoute wraps a route's handler with the access check it asks for.
func (o *AuthOptions) extraRoute(rt Route) http.Handler {
	h := rt.Handler
	if rt.Access == AccessPublic {
		return h
	}
	if rt.Access == AccessAdmin {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !identityFrom(r.Context()).Admin {
				http.Error(w, "forbidden: "+r.URL.Path+" is for admin identities", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	authed := o.authenticate(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.CredentialCookie != "" && r.Header.Get("X-Api-Key") == "" && r.Header.Get("X-Agent-Token") == "" && r.Header.Get("Authorization") == "" {
			if c, err := r.Cookie(rt.CredentialCookie); err == nil && c.Value != "" {
				r = r.Clone(r.Context())
				r.Header.Set("X-Api-Key", c.Value)
			}
		}
		if rt.Unauthenticated == nil {
			authed.ServeHTTP(w, r)
			return
		}
		iw := &unauthorizedInterceptor{ResponseWriter: w}
		authed.ServeHTTP(iw, r)
		if iw.intercepted {
			rt.Unauthenticated.ServeHTTP(w, r)
		}
	})
}

// unauthorizedInterceptor swallows a 401 and its body so another handler
// can answer instead; every other answer passes through.
type unauthorizedInterceptor struct {
	http.ResponseWriter
	intercepted bool
	wrote       bool
}

func (u *unauthorizedInterceptor) WriteHeader(code int) {
	if !u.wrote && code == http.StatusUnauthorized {
		u.intercepted = true
	}
	u.wrote = true
	if !u.intercepted {
		u.ResponseWriter.WriteHeader(code)
	}
}

func (u *unauthorizedInterceptor) Write(b []byte) (int, error) {
	if !u.wrote {
		u.WriteHeader(http.StatusOK)
	}
	if u.intercepted {
		return len(b), nil
	}
	return u.ResponseWriter.Write(b)
}

func (u *unauthorizedInterceptor) Flush() {
	if f, ok := u.ResponseWriter.(http.Flusher); ok && !u.intercepted {
		f.Flush()
	}
}

func (u *unauthorizedInterceptor) Unwrap() http.ResponseWriter { return u.ResponseWriter }
