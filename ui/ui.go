// Package ui serves the gateway's status page: every upstream, the open
// sessions, the last tool calls and rate-limit refusals, kept up to date
// with server-sent events. Everything it serves is embedded; the page loads
// nothing from the network.
//
// Everything shown comes from upstreams and clients (tool names and
// descriptions, error text, client names) and is treated as hostile: the
// server renders it with html/template, the script inserts it with
// textContent only, invisible and bidirectional-control characters are shown
// as ⟨U+XXXX⟩, and a Content-Security-Policy allows only the page's own
// script and style.
//
// It knows nothing of the aggregator or the transport: cmd feeds it through
// [Source] and [Feed] and mounts its handlers behind the gateway's access
// checks.
package ui

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// Upstream is one upstream as the page shows it. Its JSON form is that of
// the gateway's /upstreams, so cmd can pass the aggregator's status through;
// fields a status lacks are left out of the page.
type Upstream struct {
	Name      string    `json:"name"`
	Transport string    `json:"transport"`
	Required  bool      `json:"required"`
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	Tools     int       `json:"tools"`
	Prompts   int       `json:"prompts"`
	Resources int       `json:"resources"`
	Templates int       `json:"resource_templates"`
	Restarts  int       `json:"restarts"`
	Breaker   string    `json:"breaker"`
	LastError string    `json:"last_error,omitempty"`
	Server    string    `json:"server,omitempty"`
	Protocol  string    `json:"protocol_version,omitempty"`
	// NeedsLogin marks a hosted upstream that waits for an OAuth login.
	NeedsLogin bool `json:"needs_login,omitempty"`
	// Quarantined lists definitions held back until an operator approves
	// them.
	Quarantined []Quarantined `json:"quarantined,omitempty"`
}

// Quarantined is one held-back tool, prompt or resource definition.
type Quarantined struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Reason string `json:"reason,omitempty"`
}

// Tool is one tool of the merged catalog.
type Tool struct {
	Name        string `json:"name"`
	Upstream    string `json:"upstream"`
	Description string `json:"description,omitempty"`
}

// Session is one downstream session.
type Session struct {
	ID            string    `json:"id"`
	Endpoint      string    `json:"endpoint"`
	Identity      string    `json:"identity"`
	Agent         string    `json:"agent,omitempty"`
	Client        string    `json:"client,omitempty"`
	ClientVersion string    `json:"client_version,omitempty"`
	Protocol      string    `json:"protocol_version,omitempty"`
	Created       time.Time `json:"created,omitzero"`
	LastSeen      time.Time `json:"last_seen,omitzero"`
}

// Source is what the page shows besides events. Implementations must be
// safe for concurrent use and cheap: the page reads them on every refresh.
type Source interface {
	Upstreams() []Upstream
	Tools() []Tool
	Sessions() []Session
}

// Options configures a UI. The zero value is usable.
type Options struct {
	// Logger receives the UI's logs; nil discards them.
	Logger *slog.Logger
	// Refresh is how often an open page gets a full snapshot (sessions'
	// last-seen times move without events). Zero means 5s.
	Refresh time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// CookieName is the cookie that carries the API key of a signed-in browser.
const CookieName = "mcp_gateway_ui_key"

//go:embed assets
var assets embed.FS

// UI serves the status page. Its handlers are safe for concurrent use.
type UI struct {
	src   Source
	feed  *Feed
	opts  Options
	page  *template.Template
	login *template.Template
}

// New returns the status page for src and feed (nil: a feed of its own,
// which then never has events).
func New(src Source, feed *Feed, opts *Options) *UI {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Refresh <= 0 {
		o.Refresh = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if feed == nil {
		feed = NewFeed(0)
	}
	u := &UI{src: src, feed: feed, opts: o}
	funcs := template.FuncMap{
		"visible":    Visible,
		"stateClass": stateClass,
		"since":      func(t time.Time) string { return since(o.Now(), t) },
		"clock":      func(t time.Time) string { return t.Local().Format("15:04:05") },
		"ms":         func(f float64) string { return fmt.Sprintf("%.1f ms", f) },
		"short":      shortID,
		"join":       strings.Join,
	}
	u.page = template.Must(template.New("page.html").Funcs(funcs).ParseFS(assets, "assets/page.html"))
	u.login = template.Must(template.New("signin.html").Funcs(funcs).ParseFS(assets, "assets/signin.html"))
	return u
}

// Snapshot is everything the page shows at one moment.
type Snapshot struct {
	Generated   time.Time    `json:"generated"`
	Upstreams   []Upstream   `json:"upstreams"`
	Tools       []Tool       `json:"tools"`
	Sessions    []Session    `json:"sessions"`
	Calls       []Call       `json:"calls"`
	RateLimits  []RateLimit  `json:"rate_limits"`
	Transitions []Transition `json:"transitions"`
}

// ToolsOf returns the snapshot's tools of one upstream (for the template).
func (s *Snapshot) ToolsOf(upstream string) []Tool {
	var out []Tool
	for _, t := range s.Tools {
		if t.Upstream == upstream {
			out = append(out, t)
		}
	}
	return out
}

func (u *UI) snapshot() *Snapshot {
	s := &Snapshot{Generated: u.opts.Now(), Upstreams: u.src.Upstreams(), Tools: u.src.Tools(), Sessions: u.src.Sessions()}
	s.Calls, s.RateLimits, s.Transitions = u.feed.Recent()
	return s
}

// securityHeaders forbid everything the page does not need: only its own
// script, style and event stream, no framing, no referrer.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// Page serves GET /ui: the whole page, rendered on the server (readable
// without JavaScript; the script keeps it live).
func (u *UI) Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := u.page.Execute(w, u.snapshot()); err != nil {
			u.opts.Logger.Debug("status page not written", "err", err)
		}
	})
}

// SignIn answers a request to the page without a valid credential: 401 with
// a form that asks for an API key.
func (u *UI) SignIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, tried := r.Cookie(CookieName)
		if err := u.login.Execute(w, map[string]bool{"Tried": tried == nil}); err != nil {
			u.opts.Logger.Debug("sign-in page not written", "err", err)
		}
	})
}

// Login serves POST /ui/login: it keeps the key from the form in an HttpOnly
// cookie for /ui and sends the browser back to the page, which checks it.
func (u *UI) Login() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		key := strings.TrimSpace(r.PostFormValue("key"))
		if key == "" || strings.ContainsAny(key, "\r\n;\x00 ") {
			http.Error(w, "no usable key in the form", http.StatusBadRequest)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: key, Path: "/ui", HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/ui", http.StatusSeeOther)
	})
}

// Logout serves POST /ui/logout: it forgets the cookie.
func (u *UI) Logout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: CookieName, Path: "/ui", MaxAge: -1, HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/ui", http.StatusSeeOther)
	})
}

// Assets serves GET /ui/assets/{file}: the script and the style sheet.
func (u *UI) Assets() http.Handler {
	sub, _ := fs.Sub(assets, "assets") // the directory is embedded
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/ui/assets/")
		if name != "app.js" && name != "style.css" {
			http.NotFound(w, r)
			return
		}
		securityHeaders(w.Header())
		w.Header().Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		files.ServeHTTP(w, r2)
	})
}

// Events serves GET /ui/events, a stream of server-sent events: "snapshot"
// (everything, at once and every Refresh, and after the stream fell
// behind), "upstreams" (the upstreams and tools after a change), "call",
// "ratelimit" and "transition".
func (u *UI) Events() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flusher, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming not supported", http.StatusInternalServerError)
			return
		}
		securityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Accel-Buffering", "no")
		events, lagged, cancel := u.feed.Subscribe()
		defer cancel()
		send := func(event string, v any) bool {
			b, err := json.Marshal(v)
			if err != nil {
				u.opts.Logger.Debug("status event not encoded", "err", err)
				return true
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
				return false // the browser went away
			}
			flusher.Flush()
			return true
		}
		if !send("snapshot", u.snapshot()) {
			return
		}
		tick := time.NewTicker(u.opts.Refresh)
		defer tick.Stop()
		var changed <-chan time.Time // coalesces bursts of changes into one "upstreams"
		for {
			ok := true
			select {
			case <-r.Context().Done():
				return
			case ev := <-events:
				switch ev.Kind {
				case EventCall:
					ok = send("call", ev.Call)
				case EventRateLimit:
					ok = send("ratelimit", ev.RateLimit)
				case EventTransition:
					ok = send("transition", ev.Transition) && send("upstreams", u.upstreams())
				case EventChanged:
					if changed == nil {
						changed = time.After(100 * time.Millisecond)
					}
				}
				if lagged() {
					ok = ok && send("snapshot", u.snapshot())
				}
			case <-changed:
				changed = nil
				ok = send("upstreams", u.upstreams())
			case <-tick.C:
				ok = send("snapshot", u.snapshot())
			}
			if !ok {
				return
			}
		}
	})
}

type upstreamsEvent struct {
	Upstreams []Upstream `json:"upstreams"`
	Tools     []Tool     `json:"tools"`
}

func (u *UI) upstreams() upstreamsEvent {
	return upstreamsEvent{Upstreams: u.src.Upstreams(), Tools: u.src.Tools()}
}

// Visible returns s with every invisible or direction-changing character
// (Unicode control and format characters: zero-width spaces and joiners,
// bidirectional overrides and isolates, tag characters, the BOM) written as
// ⟨U+XXXX⟩, so text cannot hide or reorder itself on the page. app.js does
// the same in the browser.
func Visible(s string) string {
	if !strings.ContainsFunc(s, hidden) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if hidden(r) {
			fmt.Fprintf(&b, "⟨U+%04X⟩", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hidden reports whether r is a control or format character other than a
// line break or tab (which only break or space the text).
func hidden(r rune) bool {
	return r != '\n' && r != '\t' && (unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r))
}

// stateClass maps a state to one of a fixed set of CSS classes: a state
// string never reaches an attribute unchecked.
func stateClass(state string) string {
	switch state {
	case "up", "down", "connecting", "needs_login":
		return "state-" + state
	}
	return "state-other"
}

// shortID is the start of a session id: enough to tell sessions apart
// without printing the whole id.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

func since(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
