package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/html"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Hostile strings an upstream or a client controls.
const (
	hostileScript = `<script>window.__pwned=1</script>`
	hostileImg    = `"><img src=x onerror=alert(1)>`
	hostileBidi   = "safe\u202Egnp.exe\u200B\u2066x\u2069\U000E0041"
	hostileAttr   = `x" onmouseover="alert(1)`
)

// fakeSource is a Source with fixed content; it is safe for concurrent use.
type fakeSource struct {
	mu        sync.Mutex
	upstreams []Upstream
	tools     []Tool
	sessions  []Session
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) Upstreams() []Upstream {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Upstream(nil), f.upstreams...)
}
func (f *fakeSource) Tools() []Tool       { return f.tools }
func (f *fakeSource) Sessions() []Session { return f.sessions }

func hostileSource() *fakeSource {
	return &fakeSource{
		upstreams: []Upstream{
			{Name: hostileAttr, Transport: "stdio", State: "down", Since: time.Now().Add(-time.Minute), LastError: hostileImg, Breaker: "closed",
				NeedsLogin: true, Quarantined: []Quarantined{{Kind: "tool", Name: hostileScript, Reason: hostileBidi}}},
			{Name: "ok", Transport: "http", State: "up", Tools: 1, Breaker: "closed"},
		},
		tools: []Tool{{Name: hostileScript, Upstream: "ok", Description: hostileImg + hostileBidi}},
		sessions: []Session{{ID: "0123456789abcdef", Endpoint: "/mcp", Identity: hostileImg, Client: hostileScript, ClientVersion: hostileBidi,
			Protocol: "2025-11-25", Created: time.Now(), LastSeen: time.Now()}},
	}
}

// doc parses an HTML page and returns its root.
func doc(t *testing.T, body string) *html.Node {
	t.Helper()
	n, err := html.Parse(strings.NewReader(body))
	require.NoError(t, err)
	return n
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

// checkInert fails if the page holds anything a hostile string could have
// made: a script other than the page's own, an image, an inline handler,
// or a hidden character in its text.
func checkInert(t *testing.T, root *html.Node) {
	t.Helper()
	walk(root, func(n *html.Node) {
		if n.Type != html.ElementNode {
			if n.Type == html.TextNode {
				assert.False(t, strings.ContainsFunc(n.Data, hidden), "hidden character in text %q", n.Data)
			}
			return
		}
		switch n.Data {
		case "script":
			require.Len(t, n.Attr, 2, "only the page's own script")
			assert.Equal(t, "/ui/assets/app.js", attr(n, "src"))
			assert.Nil(t, n.FirstChild, "no inline script")
		case "img", "iframe", "object", "embed":
			t.Errorf("unexpected <%s>", n.Data)
		}
		for _, a := range n.Attr {
			assert.False(t, strings.HasPrefix(strings.ToLower(a.Key), "on"), "inline handler %s=%q on <%s>", a.Key, a.Val, n.Data)
		}
	})
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func find(root *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	walk(root, func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
	})
	return out
}

func hasClass(n *html.Node, c string) bool {
	return strings.Contains(" "+attr(n, "class")+" ", " "+c+" ")
}

func TestPageEscapesHostileStrings(t *testing.T) {
	feed := NewFeed(0)
	feed.ToolCall(Call{Time: time.Now(), Tool: hostileScript, Identity: hostileBidi, Upstream: "ok", Outcome: hostileImg, DurationMS: 1.5})
	feed.RateLimited(hostileImg, time.Now())
	feed.UpstreamTransition(Transition{Time: time.Now(), Upstream: hostileAttr, State: "down", Error: hostileScript})
	u := New(hostileSource(), feed, nil)
	w := httptest.NewRecorder()
	u.Page().ServeHTTP(w, httptest.NewRequest("GET", "/ui", nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Header().Get("Content-Security-Policy"), "script-src 'self'")
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	root := doc(t, w.Body.String())
	checkInert(t, root)

	// Each hostile string is there, as text, where it belongs.
	rows := find(root, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-upstream") != "" })
	require.Len(t, rows, 2)
	assert.Equal(t, hostileAttr, attr(rows[0], "data-upstream"), "an attribute value stays one value")
	errCell := find(rows[0], func(n *html.Node) bool { return n.Data == "td" && hasClass(n, "error") })
	require.Len(t, errCell, 1)
	assert.Equal(t, hostileImg, text(errCell[0]))
	state := find(rows[0], func(n *html.Node) bool { return n.Data == "td" && hasClass(n, "state") })
	require.Len(t, state, 1)
	assert.Contains(t, attr(state[0], "class"), "state-down")
	assert.Contains(t, text(state[0]), "needs login")
	assert.Contains(t, text(state[0]), "1 quarantined")
	body := text(root)
	for _, want := range []string{
		hostileScript,
		"safe⟨U+202E⟩gnp.exe⟨U+200B⟩⟨U+2066⟩x⟨U+2069⟩⟨U+E0041⟩", // the bidi override cannot reverse the text
		"ok: 1 tools",
	} {
		assert.Contains(t, body, want)
	}
	client := find(root, func(n *html.Node) bool { return n.Data == "td" && hasClass(n, "client") })
	require.Len(t, client, 1)
	assert.Equal(t, hostileScript+" "+Visible(hostileBidi), text(client[0]))
	assert.Contains(t, body, "01234567…", "session ids are shortened")
	assert.NotContains(t, body, "0123456789abcdef")
}

func TestVisible(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          "plain",
		"a\u200Bb":       "a⟨U+200B⟩b",
		"\u202Eevil":     "⟨U+202E⟩evil",
		"tab\tnew\nline": "tab\tnew\nline",
		"bell\x07":       "bell⟨U+0007⟩",
		"\uFEFFbom":      "⟨U+FEFF⟩bom",
		"tag\U000E0049":  "tag⟨U+E0049⟩",
		"日本語 émoji 🙂":    "日本語 émoji 🙂",
	} {
		assert.Equal(t, want, Visible(in), "%q", in)
	}
}

func TestStateClassIsFixed(t *testing.T) {
	assert.Equal(t, "state-up", stateClass("up"))
	assert.Equal(t, "state-other", stateClass(`x" onclick="y`))
}

func TestFeed(t *testing.T) {
	f := NewFeed(3)
	for i := range 5 {
		f.ToolCall(Call{Tool: string(rune('a' + i))})
	}
	calls, limits, transitions := f.Recent()
	var names []string
	for _, c := range calls {
		names = append(names, c.Tool)
	}
	assert.Equal(t, []string{"e", "d", "c"}, names, "the last 3, newest first")
	assert.Empty(t, limits)
	assert.Empty(t, transitions)

	// A subscriber that does not read loses events, never blocks the
	// publisher, and is told it lagged.
	events, lagged, cancel := f.Subscribe()
	for range subscriberBuffer + 10 {
		f.RateLimited("x", time.Now())
	}
	assert.Len(t, events, subscriberBuffer)
	assert.True(t, lagged())
	assert.False(t, lagged(), "reading clears it")
	cancel()
	f.Changed() // no subscriber: nothing to do

	var nilFeed *Feed
	nilFeed.ToolCall(Call{})
	nilFeed.RateLimited("x", time.Now())
	nilFeed.UpstreamTransition(Transition{})
	nilFeed.Changed()
	c, l, tr := nilFeed.Recent()
	assert.Nil(t, c)
	assert.Nil(t, l)
	assert.Nil(t, tr)
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data string
}

func readEvents(r io.Reader) <-chan sseEvent {
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

func next(t *testing.T, events <-chan sseEvent, name string) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "stream ended while waiting for %q", name)
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event", name)
		}
	}
}

func TestEvents(t *testing.T) {
	src := hostileSource()
	feed := NewFeed(0)
	u := New(src, feed, &Options{Refresh: time.Hour})
	ts := httptest.NewServer(u.Events())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL, nil)
	require.NoError(t, err)
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := readEvents(resp.Body)

	var snap Snapshot
	require.NoError(t, json.Unmarshal([]byte(next(t, events, "snapshot").data), &snap))
	require.Len(t, snap.Upstreams, 2)
	assert.Equal(t, hostileImg, snap.Upstreams[0].LastError)
	assert.Equal(t, hostileScript, snap.Sessions[0].Client)

	feed.ToolCall(Call{Tool: "t", Identity: "alice", Outcome: "ok", DurationMS: 2})
	var c Call
	require.NoError(t, json.Unmarshal([]byte(next(t, events, "call").data), &c))
	assert.Equal(t, "alice", c.Identity)

	feed.RateLimited("bob", time.Now())
	assert.Contains(t, next(t, events, "ratelimit").data, `"identity":"bob"`)

	src.mu.Lock()
	src.upstreams[1].State = "down"
	src.mu.Unlock()
	feed.UpstreamTransition(Transition{Upstream: "ok", State: "down", Error: "connection lost"})
	assert.Contains(t, next(t, events, "transition").data, `"state":"down"`)
	assert.Contains(t, next(t, events, "upstreams").data, `"name":"ok"`)

	feed.Changed()
	feed.Changed()
	next(t, events, "upstreams") // coalesced

	cancel()
	for range events { // the handler ends with the request
	}
}

func TestSignInAndAssets(t *testing.T) {
	u := New(&fakeSource{}, nil, nil)
	w := httptest.NewRecorder()
	u.SignIn().ServeHTTP(w, httptest.NewRequest("GET", "/ui", nil))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	root := doc(t, w.Body.String())
	assert.Len(t, find(root, func(n *html.Node) bool { return n.Data == "form" && attr(n, "action") == "/ui/login" }), 1)
	assert.NotContains(t, w.Body.String(), "not accepted")
	r := httptest.NewRequest("GET", "/ui", nil)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: "wrong"})
	w = httptest.NewRecorder()
	u.SignIn().ServeHTTP(w, r)
	assert.Contains(t, w.Body.String(), "That key was not accepted.")

	r = httptest.NewRequest("POST", "/ui/login", strings.NewReader("key=mcpgw_secret"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	u.Login().ServeHTTP(w, r)
	assert.Equal(t, http.StatusSeeOther, w.Code)
	assert.Equal(t, "/ui", w.Header().Get("Location"))
	cookie := w.Result().Cookies()
	require.Len(t, cookie, 1)
	assert.Equal(t, "mcpgw_secret", cookie[0].Value)
	assert.True(t, cookie[0].HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookie[0].SameSite)
	assert.Equal(t, "/ui", cookie[0].Path)

	r = httptest.NewRequest("POST", "/ui/login", strings.NewReader("key=a%0d%0aSet-Cookie:+x"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	u.Login().ServeHTTP(w, r)
	assert.Equal(t, http.StatusBadRequest, w.Code)

	w = httptest.NewRecorder()
	u.Logout().ServeHTTP(w, httptest.NewRequest("POST", "/ui/logout", nil))
	assert.Equal(t, http.StatusSeeOther, w.Code)
	require.Len(t, w.Result().Cookies(), 1)
	assert.Equal(t, -1, w.Result().Cookies()[0].MaxAge)

	for path, code := range map[string]int{"/ui/assets/app.js": 200, "/ui/assets/style.css": 200, "/ui/assets/page.html": 404, "/ui/assets/../ui.go": 404} {
		w = httptest.NewRecorder()
		u.Assets().ServeHTTP(w, httptest.NewRequest("GET", "http://x"+path, nil))
		assert.Equal(t, code, w.Code, path)
	}
	w = httptest.NewRecorder()
	u.Assets().ServeHTTP(w, httptest.NewRequest("GET", "/ui/assets/app.js", nil))
	assert.Contains(t, w.Header().Get("Content-Type"), "javascript")
	assert.NotContains(t, w.Body.String(), "innerHTML =", "the script never parses data as HTML")
}
