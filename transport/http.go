// Package transport serves the gateway's MCP servers to downstream clients:
// over stdio, and over streamable HTTP with the gateway's HTTP surface
// (/mcp, /mcp/{upstream}, /health, /readyz, /upstreams).
//
// It knows nothing of upstreams or the config file; cmd wires it.
package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/mcp-gateway/mcp-gateway/sessions"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/trace"
)

// Defaults for HTTPOptions fields left zero.
const (
	DefaultAddr              = "127.0.0.1:8080"
	DefaultSessionTimeout    = 30 * time.Minute
	DefaultShutdownGrace     = 10 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
)

// HTTPOptions configures ServeHTTP.
type HTTPOptions struct {
	// Addr is the address to listen on; empty means [DefaultAddr]. Ignored
	// when Listener is set.
	Addr string
	// Listener, if set, is used instead of listening on Addr.
	Listener net.Listener
	// OnListen, if set, is called with the bound address before serving.
	OnListen func(net.Addr)
	// Logger receives access and error logs; nil discards them.
	Logger *slog.Logger
	// Version is the gateway's version, reported by /health.
	Version string
	// Merged serves /mcp.
	Merged *mcp.Server
	// Upstream returns the server of /mcp/{name}, or false for no such
	// upstream. It is asked at every request: upstreams come and go as the
	// config is reloaded.
	Upstream func(name string) (*mcp.Server, bool)
	// Status returns the JSON body of /upstreams; Ready reports readiness for
	// /readyz. Both are required.
	Status func() any
	Ready  func() bool
	// AllowedOrigins are Origin values accepted besides loopback origins.
	AllowedOrigins []string
	// SessionTimeout ends sessions idle this long. Zero means
	// [DefaultSessionTimeout].
	SessionTimeout time.Duration
	// MaxBodyBytes caps a request body. Zero means the SDK's default (4 MiB).
	MaxBodyBytes int64
	// ShutdownGrace is how long in-flight requests may finish after ctx is
	// done. Zero means [DefaultShutdownGrace].
	ShutdownGrace time.Duration
	// Auth configures authentication, rate limits and the auth routes.
	Auth AuthOptions
	// Metrics serves /metrics; nil means 404.
	Metrics http.Handler
	// Sessions is the record of open sessions of Merged and the Upstream
	// servers, kept by a middleware on them (sessions.Book): the front door
	// binds sessions to identities with it and serves /agents/sessions from
	// it. Nil means none is kept: sessions are still bound to their identity
	// by the SDK (403 for another's), and /agents/sessions lists nothing.
	Sessions Sessions
	// Restore, if set, wraps the SDK's handler of each endpoint (view "" for
	// /mcp, the upstream's name for /mcp/{upstream}), inside the front door:
	// it lets a session made by another replica be served here
	// (fleet.State.Handler). Nil means sessions are this process's own.
	Restore func(view string, srv *mcp.Server, sdk http.Handler) http.Handler
	// TracerProvider, if set, traces each request to /mcp and
	// /mcp/{upstream} (trace.go, issue 7); nil means no tracing.
	TracerProvider trace.TracerProvider
	// Extra are further routes (routes.go), each behind the access check it
	// names.
	Extra []Route
	// Relay, if set, is offered each tools/call POST of an established
	// session before go-sdk sees it (the relay lane); nil means go-sdk
	// serves every request.
	Relay Relay
}

// ServeHTTP serves the HTTP surface until ctx is done, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish within
// ShutdownGrace, then ends the rest (including open GET streams).
func ServeHTTP(ctx context.Context, o HTTPOptions) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	ln := o.Listener
	if ln == nil {
		addr := o.Addr
		if addr == "" {
			addr = DefaultAddr
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
	}
	var calls atomic.Int64 // requests other than GET (event streams) in flight
	inner := NewHandler(o, isLoopbackAddr(ln.Addr()))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			calls.Add(1)
			defer calls.Add(-1)
		}
		inner.ServeHTTP(w, r)
	})
	streams, cancelStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStreams()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return streams },
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	if o.OnListen != nil {
		o.OnListen(ln.Addr())
	}
	o.Logger.Info("serving MCP over streamable HTTP", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	o.Logger.Info("shutting down HTTP server", "grace", o.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownGrace)
	defer cancel()
	// Stop accepting and let in-flight calls finish. Open GET event streams
	// never finish by themselves: end them as soon as no call is in flight,
	// so an idle client does not hold shutdown for the whole grace period.
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(sctx) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-shut:
			break wait
		case <-tick.C:
			if calls.Load() == 0 {
				cancelStreams()
			}
		}
	}
	cancelStreams()
	if err != nil {
		o.Logger.Warn("shutdown grace ended with requests in flight; closing them", "grace", o.ShutdownGrace)
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NewHandler returns the gateway's HTTP handler. loopback says whether the
// listener is on a loopback address, which turns on the Host check that
// defeats DNS rebinding.
func NewHandler(o HTTPOptions, loopback bool) http.Handler {
	h, _ := newHandler(o, loopback)
	return h
}

// Routes returns the mux patterns the handler of o serves, in the order
// they are registered: what the API description must cover.
func Routes(o HTTPOptions) []string {
	_, mux := newHandler(o, true)
	return slices.Clone(mux.patterns)
}

// patternMux is a ServeMux that remembers its patterns.
type patternMux struct {
	*http.ServeMux
	patterns []string
}

func (m *patternMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *patternMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

func newHandler(o HTTPOptions, loopback bool) (http.Handler, *patternMux) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	streamOpts := &mcp.StreamableHTTPOptions{
		Logger:              o.Logger,
		SessionTimeout:      o.SessionTimeout,
		MaxRequestBodyBytes: o.MaxBodyBytes,
	}
	mux := &patternMux{ServeMux: http.NewServeMux()}
	auth := &o.Auth
	if auth.Anonymous == nil {
		auth.Anonymous = policy.New(policy.Identity{Kind: policy.KindAnonymous, Owner: "anonymous", Upstreams: []string{policy.AllUpstreams},
			Scopes: []string{policy.ScopeRead, policy.ScopeWrite}, Limit: policy.Limit{RPM: policy.Unlimited}, Admin: true})
	}
	book := o.Sessions
	if book == nil {
		book = sessions.New()
	}
	mcpRoute := func(view string, srv *mcp.Server) http.Handler {
		var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, streamOpts)
		if o.Restore != nil {
			h = o.Restore(view, srv, h)
		}
		var relay *relayRoute
		if o.Relay != nil {
			relay = &relayRoute{relay: o.Relay, view: view, keepAlive: o.SessionTimeout / 2}
		}
		return auth.authenticate(auth.mcpGate(book, o.MaxBodyBytes, relay, h))
	}
	mux.Handle("/mcp", mcpRoute("", o.Merged))
	// One handler (and so one session table) per upstream: a session made
	// at /mcp/a is unknown at /mcp/b, and at an upstream of the same name
	// added again after a removal (a new server, so a new handler). Looked up by map, not by mux
	// pattern, since upstream names come from config keys and may hold any
	// character.
	type route struct {
		srv *mcp.Server
		h   http.Handler
	}
	var singleMu sync.Mutex
	single := map[string]route{} // by name, for the server it has now
	mux.HandleFunc("/mcp/{upstream}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("upstream")
		var srv *mcp.Server
		ok := o.Upstream != nil
		if ok {
			srv, ok = o.Upstream(name)
		}
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no upstream %q", name)})
			return
		}
		singleMu.Lock()
		rt := single[name]
		if rt.srv != srv {
			rt = route{srv, mcpRoute(name, srv)}
			single[name] = rt
		}
		singleMu.Unlock()
		rt.h.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": o.Version})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusOK
		ready := o.Ready()
		if !ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"ready": ready, "upstreams": o.Status()})
	})
	mux.Handle("GET /upstreams", auth.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, o.Status())
	})))
	mux.Handle("GET /agents/sessions", auth.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, visibleSessions(book, identityFrom(r.Context())))
	})))
	if auth.RegisterAgent != nil {
		mux.Handle("POST /agents/register", auth.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth.RegisterAgent(w, r, identityFrom(r.Context()))
		})))
	}
	if auth.Connect != nil {
		mux.Handle("GET /oauth/connect/{name}", auth.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth.Connect(w, r, identityFrom(r.Context()))
		})))
	}
	if auth.Callback != nil {
		mux.Handle("GET /oauth/callback", auth.Callback)
	}
	if auth.Config != nil {
		mux.Handle("GET /config", auth.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !identityFrom(r.Context()).Admin {
				http.Error(w, "forbidden: /config is for admin identities", http.StatusForbidden)
				return
			}
			writeJSON(w, http.StatusOK, auth.Config())
		})))
	}
	if auth.Reload != nil {
		mux.Handle("POST /admin/reload", auth.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !identityFrom(r.Context()).Admin {
				http.Error(w, "forbidden: /admin/reload is for admin identities", http.StatusForbidden)
				return
			}
			res, err := auth.Reload()
			if err != nil {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"reloaded": false, "errors": strings.Split(err.Error(), "\n")})
				return
			}
			writeJSON(w, http.StatusOK, res)
		})))
	}
	if auth.ResourceMetadata != nil {
		mux.Handle("GET /.well-known/oauth-protected-resource", auth.ResourceMetadata)
		mux.Handle("GET /.well-known/oauth-protected-resource/{path...}", auth.ResourceMetadata)
	}
	if o.Metrics != nil {
		h := o.Metrics
		if auth.MetricsRequireAuth {
			h = auth.authenticate(h)
		}
		mux.Handle("GET /metrics", h)
	}
	for _, rt := range o.Extra {
		mux.Handle(rt.Pattern, auth.extraRoute(rt))
	}
	guard := &originGuard{allowed: map[string]bool{}, checkHost: loopback}
	for _, origin := range o.AllowedOrigins {
		guard.allowed[origin] = true
	}
	return traceMCP(o.TracerProvider, accessLog(o.Logger, guard.wrap(mux))), mux // Tracing (issue 7): outermost, so the access log has the trace id
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// statusRecorder remembers the status code for the access log.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) Write(b []byte) (int, error) { return s.ResponseWriter.Write(b) }

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs one line per request: at info, except the probes and
// metrics scrapes (GET /health, /readyz, /metrics) at debug, which would
// drown the rest. It never logs headers: they may carry credentials.
func accessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		level := slog.LevelInfo
		if r.Method == http.MethodGet && (r.URL.Path == "/health" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics") {
			level = slog.LevelDebug
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", code,
			"duration", time.Since(start), "remote", r.RemoteAddr, "session", r.Header.Get("Mcp-Session-Id")}
		logger.Log(r.Context(), level, "http request", append(attrs, traceLogAttrs(r)...)...)
	})
}
