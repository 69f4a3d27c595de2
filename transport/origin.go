package transport

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// originGuard rejects cross-origin and DNS-rebinding requests before anything
// else runs (MCP transports spec: servers MUST validate Origin and answer an
// invalid one with 403).
//
// A request with no Origin header is a non-browser client and passes. A
// request with an Origin passes only if the origin is a loopback origin
// (http(s)://localhost, 127.0.0.0/8, [::1], any port) or in the allow-list.
// "null" never passes. On a loopback listener the Host header must also name
// a loopback host: a page on evil.example whose DNS points at 127.0.0.1 sends
// Host: evil.example.
type originGuard struct {
	allowed   map[string]bool
	checkHost bool
}

func (g *originGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !g.originAllowed(origin) {
			http.Error(w, "Forbidden: origin not allowed", http.StatusForbidden)
			return
		}
		if g.checkHost && !isLoopbackHost(r.Host) {
			http.Error(w, "Forbidden: host not allowed", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *originGuard) originAllowed(origin string) bool {
	if g.allowed[origin] {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
		return false
	}
	return isLoopbackHost(u.Host)
}

// isLoopbackHost reports whether host (with optional port) names a loopback
// address. Only literal IPs and "localhost" count: resolving names here
// would reopen the rebinding hole.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func isLoopbackAddr(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
