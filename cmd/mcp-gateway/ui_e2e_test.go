package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

// Strings an upstream's config, its errors or a client control, which the
// status page must show as text and never run.
const (
	uiHostileScript = `<script>window.__pwned=1</script>`
	uiHostileImg    = `"><img src=x onerror="window.__pwned=2">`
	uiHostileBidi   = "rtl\u202Eexe.txt\u200B"
)

// uiHostileConfig has a healthy upstream "good", and one whose name and
// (missing) command are hostile, so its name and its last error are too.
func uiHostileConfig(t *testing.T, extra map[string]any) string {
	cfg := map[string]any{"mcpServers": map[string]any{
		"good":                echoUpstream("good"),
		"evil" + uiHostileImg: map[string]any{"command": "/nonexistent/" + uiHostileScript + uiHostileBidi},
	}}
	for k, v := range extra {
		cfg[k] = v
	}
	return writeConfig(t, cfg)
}

// uiGet fetches path with the headers and cookie given.
func uiGet(t *testing.T, base, path string, header map[string]string, cookie string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "mcp_gateway_ui_key", Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// uiInert fails if the page holds an element or handler a hostile string
// could have made, and returns its text.
func uiInert(t *testing.T, page string) string {
	t.Helper()
	root, err := html.Parse(strings.NewReader(page))
	require.NoError(t, err)
	var text strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			text.WriteString(n.Data)
		case html.ElementNode:
			switch n.Data {
			case "script":
				assert.Nil(t, n.FirstChild, "no inline script")
				for _, a := range n.Attr {
					if a.Key == "src" {
						assert.Equal(t, "/ui/assets/app.js", a.Val)
					}
				}
			case "img", "iframe", "object", "embed":
				t.Errorf("unexpected <%s> on the page", n.Data)
			}
			for _, a := range n.Attr {
				assert.False(t, strings.HasPrefix(a.Key, "on"), "inline handler %s on <%s>", a.Key, n.Data)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return text.String()
}

// TestStatusPageThroughBinary: the page of a running gateway, behind the
// admin check, showing upstreams, sessions and calls with every hostile
// string as inert text, and its event stream.
func TestStatusPageThroughBinary(t *testing.T) {
	needBins(t)
	cfg := uiHostileConfig(t, map[string]any{"gateway": map[string]any{"auth": map[string]any{"api_keys": []map[string]any{
		{"key": "admin-key-0123456789abcdef", "owner": "root", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "admin": true},
		{"key": "user-key-0123456789abcdefgh", "owner": "ann", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}},
	}}}})
	g := startHTTP(t, cfg)
	admin := map[string]string{"X-Api-Key": "admin-key-0123456789abcdef"}

	// A client with a hostile name makes a session and a call.
	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: uiHostileScript, Version: uiHostileBidi}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.url + "/mcp",
		HTTPClient: &http.Client{Transport: obHeaders{"X-Api-Key": "user-key-0123456789abcdefgh"}}}, nil)
	require.NoError(t, err)
	defer cs.Close()
	assert.Equal(t, "hi", callText(t, cs, "good__echo", map[string]any{"text": "hi"}))

	t.Run("access", func(t *testing.T) {
		resp, body := uiGet(t, g.url, "/ui", nil, "")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, body, `action="/ui/login"`, "the sign-in form")
		resp, _ = uiGet(t, g.url, "/ui", map[string]string{"X-Api-Key": "user-key-0123456789abcdefgh"}, "")
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "not an admin")
		resp, body = uiGet(t, g.url, "/ui", nil, "wrong-key")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, body, "not accepted")
		resp, _ = uiGet(t, g.url, "/ui/events", nil, "")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		resp, body = uiGet(t, g.url, "/ui/assets/app.js", nil, "")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "the script is public")
		assert.Contains(t, body, "EventSource")
		resp, _ = uiGet(t, g.url, "/ui/assets/../ui.go", nil, "")
		assert.NotEqual(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("sign in", func(t *testing.T) {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.PostForm(g.url+"/ui/login", url.Values{"key": {"admin-key-0123456789abcdef"}})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
		var key string
		for _, ck := range resp.Cookies() {
			if ck.Name == "mcp_gateway_ui_key" {
				key = ck.Value
				assert.True(t, ck.HttpOnly)
				assert.Equal(t, "/ui", ck.Path)
			}
		}
		require.NotEmpty(t, key)
		resp, body := uiGet(t, g.url, "/ui", nil, key)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, body, "Upstreams")
	})

	t.Run("page", func(t *testing.T) {
		var page string
		// The hostile upstream's first attempt fails soon after start.
		eventually(t, 20*time.Second, "the hostile upstream's error on the page", func() error {
			resp, body := uiGet(t, g.url, "/ui", admin, "")
			if resp.StatusCode != http.StatusOK {
				return assert.AnError
			}
			page = body
			if !strings.Contains(body, "nonexistent") {
				return assert.AnError
			}
			return nil
		})
		resp, _ := uiGet(t, g.url, "/ui", admin, "")
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
		text := uiInert(t, page)
		for _, s := range []string{
			"good", "evil" + uiHostileImg, // both upstreams, the hostile name as text
			uiHostileScript,              // in the error and the client name
			"rtl⟨U+202E⟩exe.txt⟨U+200B⟩", // hidden characters made visible
			"good__echo", "api_key:ann",  // the call, the session's identity
		} {
			assert.Contains(t, text, s)
		}
		assert.NotContains(t, text, "\u202E")
	})

	t.Run("events", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", g.url+"/ui/events", nil)
		require.NoError(t, err)
		req.Header.Set("X-Api-Key", admin["X-Api-Key"])
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var event string
		var snap struct {
			Upstreams []struct{ Name, State string }
			Sessions  []struct {
				Identity, Client, Endpoint string
				ClientVersion              string `json:"client_version"`
			}
			Calls []struct{ Tool, Identity, Outcome string }
		}
		for sc.Scan() {
			if e, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				event = e
			}
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && event == "snapshot" {
				require.NoError(t, json.Unmarshal([]byte(d), &snap))
				break
			}
		}
		require.Len(t, snap.Upstreams, 2)
		require.Len(t, snap.Sessions, 1)
		assert.Equal(t, "api_key:ann", snap.Sessions[0].Identity)
		assert.Equal(t, uiHostileScript, snap.Sessions[0].Client, "the client's name from its initialize")
		assert.Equal(t, uiHostileBidi, snap.Sessions[0].ClientVersion)
		require.NotEmpty(t, snap.Calls)
		assert.Equal(t, "good__echo", snap.Calls[0].Tool)
		assert.Equal(t, "api_key:ann", snap.Calls[0].Identity)
		assert.Equal(t, "ok", snap.Calls[0].Outcome)

		// A call made now arrives as a "call" event.
		assert.Equal(t, "again", callText(t, cs, "good__echo", map[string]any{"text": "again"}))
		for sc.Scan() {
			if e, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				event = e
			}
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && event == "call" {
				assert.Contains(t, d, `"tool":"good__echo"`)
				return
			}
		}
		t.Fatalf("no call event: %v", sc.Err())
	})
}

// TestStatusPageLoopbackWithoutAuth: with no authentication configured, a
// loopback listener serves the page to anyone who reaches it.
func TestStatusPageLoopbackWithoutAuth(t *testing.T) {
	needBins(t)
	g := startHTTP(t, writeConfig(t, map[string]any{"mcpServers": map[string]any{"good": echoUpstream("good")}}))
	resp, body := uiGet(t, g.url, "/ui", nil, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, uiInert(t, body), "good")
}

// TestStatusPageShowsQuarantine: a definition the lockfile quarantined (a
// description changed since it was pinned, with markup in it) is shown on
// the page and in its event stream's snapshot, as text.
func TestStatusPageShowsQuarantine(t *testing.T) {
	needBins(t)
	cfgPath := writeConfig(t, map[string]any{"mcpServers": map[string]any{"e": echoUpstream("e")}})
	code, _, errOut := gw(t, "lock", "--config", cfgPath)
	require.Equal(t, 0, code, "stderr: %s", errOut)
	rewriteConfig(t, cfgPath, map[string]any{"mcpServers": map[string]any{"e": echoUpstream("e", "--echo-description", "Echo. "+uiHostileImg)}})
	g := startHTTP(t, cfgPath)

	var page string
	eventually(t, 20*time.Second, "the quarantined tool on the page", func() error {
		resp, body := uiGet(t, g.url, "/ui", nil, "")
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		if !strings.Contains(body, "1 quarantined") {
			return errors.New("no quarantine shown yet")
		}
		page = body
		return nil
	})
	text := uiInert(t, page)
	assert.Contains(t, text, "1 quarantined")
	assert.Contains(t, text, `tool "e__echo" changed since it was pinned (description)`)
	assert.NotContains(t, page, uiHostileImg, "the new description is not on the page raw")
}
