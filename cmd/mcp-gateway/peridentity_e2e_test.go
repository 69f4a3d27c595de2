package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPerIdentityUpstreams: two identities of one HTTP gateway reach a
// hosted OAuth upstream and an API-key upstream each as themselves. The
// OAuth upstream says whose token it got (whoami); the API-key upstream
// records the headers of each call. Alice's calls carry only Alice's
// credentials, Bob's only Bob's, neither carries the gateway's own (used to
// read the lists), and Carol, who has none, gets errors that say what to do
// instead of anyone else's credentials. The per-identity tokens are
// encrypted at rest.
func TestPerIdentityUpstreams(t *testing.T) {
	needBins(t)
	base := startOAuthUpstream(t)
	echo := startEchoHTTP(t, "http", "linear")
	stateDir := filepath.Join(t.TempDir(), "state")
	t.Setenv("MCP_GATEWAY_STATE_DIR", stateDir)
	key := make([]byte, 32)
	rand.Read(key)
	t.Setenv("MCP_GATEWAY_TOKEN_KEY", base64.StdEncoding.EncodeToString(key))
	t.Setenv("LINEAR_KEY_GATEWAY", "linear-key-of-the-gateway")
	t.Setenv("LINEAR_KEY_ALICE", "linear-key-of-alice")
	t.Setenv("LINEAR_KEY_BOB", "linear-key-of-bob")

	keys := map[string]string{"alice": "mgw_alice_0123456789abcdef0123456789", "bob": "mgw_bob_0123456789abcdef0123456789ab", "carol": "mgw_carol_0123456789abcdef0123456789"}
	var apiKeys []map[string]any
	for _, owner := range []string{"alice", "bob", "carol"} {
		apiKeys = append(apiKeys, map[string]any{"key": auth.HashKey(keys[owner]), "owner": owner, "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "rate_limit_rpm": -1})
	}
	cfg := writeConfig(t, map[string]any{
		"mcpServers": map[string]any{
			"notion": map[string]any{"url": base + "/mcp", "per_identity": true},
			"linear": map[string]any{"url": echo + "/mcp", "per_identity": true,
				"headers": map[string]string{"X-Api-Key": "${LINEAR_KEY_GATEWAY}", "X-Team": "eng"},
				"identity_headers": map[string]any{
					"api_key:alice": map[string]string{"X-Api-Key": "${LINEAR_KEY_ALICE}"},
					"api_key:bob":   map[string]string{"X-Api-Key": "${LINEAR_KEY_BOB}"},
				}},
		},
		"gateway": map[string]any{"auth": map[string]any{"api_keys": apiKeys}},
	})

	// The gateway's own login reads the lists; each identity's login is
	// approved by that identity's user at the authorization server.
	for _, who := range []struct{ identity, user string }{{"", "gateway-operator"}, {"api_key:alice", "alice"}, {"api_key:bob", "bob"}} {
		var args []string
		if who.identity != "" {
			args = []string{"--identity", who.identity}
		}
		p := startLogin(t, cfg, "notion", args...)
		approve(t, p.authURL+"&test_user="+who.user)
		p.wait(t)
	}
	out, stderr, code := gatewayCmd(t, "auth", "status", "--json", "--identity", "api_key:alice", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, `"logged_in"`)

	// Tokens stored for identities are sealed: no token in the clear.
	files, err := filepath.Glob(filepath.Join(stateDir, "idtokens", "*.json"))
	require.NoError(t, err)
	sealed := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		if strings.Contains(string(data), `"alg":"A256GCM"`) {
			sealed++
			assert.NotContains(t, string(data), "access_token", f)
		}
	}
	assert.Equal(t, 2, sealed, "alice's and bob's token records are sealed")

	g := startHTTP(t, cfg)
	whoami := func(cs *mcp.ClientSession) string { return callText(t, cs, "notion__whoami", nil) }
	headers := func(cs *mcp.ClientSession) string { return callText(t, cs, "linear__headers", nil) }
	alice := aeConnect(t, g.url+"/mcp", aeAPIKey(keys["alice"]))
	bob := aeConnect(t, g.url+"/mcp", aeAPIKey(keys["bob"]))
	for range 2 { // interleaved, on connections made at the same time
		assert.Contains(t, whoami(alice), `"user":"alice"`)
		assert.Contains(t, whoami(bob), `"user":"bob"`)
		ha, hb := headers(alice), headers(bob)
		assert.Contains(t, ha, "linear-key-of-alice")
		assert.Contains(t, hb, "linear-key-of-bob")
		for _, h := range []string{ha, hb} {
			assert.NotContains(t, h, "linear-key-of-the-gateway")
			assert.Contains(t, h, "eng", "configured headers that are not credentials are kept")
		}
		assert.NotContains(t, ha, "linear-key-of-bob")
		assert.NotContains(t, hb, "linear-key-of-alice")
	}

	carol := aeConnect(t, g.url+"/mcp", aeAPIKey(keys["carol"]))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = carol.CallTool(ctx, &mcp.CallToolParams{Name: "notion__whoami"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mcp-gateway login notion --identity api_key:carol")
	res, err := carol.CallTool(ctx, &mcp.CallToolParams{Name: "linear__headers"})
	require.Error(t, err, "carol's call reached the upstream: %v", res)
	assert.Contains(t, err.Error(), "identity_headers has no entry")
	assert.NotContains(t, err.Error(), "linear-key")
	assert.NotContains(t, g.stderr.String(), "linear-key-of-", "no header value in the logs")
}

// TestWebConnectPerIdentity: identities log in to a per-identity OAuth
// upstream themselves, through the gateway's GET /oauth/connect/NAME (with
// their gateway credentials) and the browser's return to /oauth/callback.
// The login's state is bound to the identity that started it and is good
// once; the tokens land under that identity only; the web flow's client
// registration is made once and reused.
func TestWebConnectPerIdentity(t *testing.T) {
	needBins(t)
	base := startOAuthUpstream(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	t.Setenv("MCP_GATEWAY_STATE_DIR", stateDir)
	key := make([]byte, 32)
	rand.Read(key)
	t.Setenv("MCP_GATEWAY_TOKEN_KEY", base64.StdEncoding.EncodeToString(key))
	keys := map[string]string{"alice": "mgw_alice_0123456789abcdef0123456789", "bob": "mgw_bob_0123456789abcdef0123456789ab"}
	var apiKeys []map[string]any
	for _, owner := range []string{"alice", "bob"} {
		apiKeys = append(apiKeys, map[string]any{"key": auth.HashKey(keys[owner]), "owner": owner, "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "rate_limit_rpm": -1})
	}
	cfg := writeConfig(t, map[string]any{
		"mcpServers": map[string]any{"notion": map[string]any{"url": base + "/mcp", "per_identity": true}},
		"gateway":    map[string]any{"auth": map[string]any{"api_keys": apiKeys}},
	})
	p := startLogin(t, cfg, "notion") // the gateway's own, to read the lists
	approve(t, p.authURL+"&test_user=gateway-operator")
	p.wait(t)
	g := startHTTP(t, cfg)

	start := func(owner string) string {
		t.Helper()
		body, code := httpGet(t, g.url+"/oauth/connect/notion", map[string]string{"X-Api-Key": keys[owner], "Accept": "application/json"})
		require.Equal(t, 200, code, "%s", body)
		var r struct {
			AuthorizationURL string `json:"authorization_url"`
			Identity         string `json:"identity"`
		}
		require.NoError(t, json.Unmarshal(body, &r))
		assert.Equal(t, "api_key:"+owner, r.Identity)
		assert.Contains(t, r.AuthorizationURL, "redirect_uri="+url.QueryEscape(g.url+"/oauth/callback"))
		return r.AuthorizationURL
	}
	// The user's browser: the authorization server approves (as the user
	// named) and sends it to the gateway's callback, whose page it returns.
	browse := func(authURL, user string) (string, int) {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(authURL + "&test_user=" + user)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusFound, resp.StatusCode)
		callback := resp.Header.Get("Location")
		require.True(t, strings.HasPrefix(callback, g.url+"/oauth/callback?"), callback)
		body, code := httpGet(t, callback, nil)
		return string(body) + "\n" + callback, code
	}

	_, code := httpGet(t, g.url+"/oauth/connect/notion", nil)
	assert.Equal(t, http.StatusUnauthorized, code, "only an identity of the gateway may start one")
	body, code := httpGet(t, g.url+"/oauth/callback?state=forged&code=x", nil)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, string(body), "unknown or has expired")

	alice := aeConnect(t, g.url+"/mcp", aeAPIKey(keys["alice"]))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "notion__whoami"})
	require.Error(t, err, "no login of her own yet")
	assert.Contains(t, err.Error(), "--identity api_key:alice")

	page, code := browse(start("alice"), "alice")
	require.Equal(t, 200, code, page)
	assert.Contains(t, page, "Connected api_key:alice to notion")
	callback := page[strings.LastIndex(page, "\n")+1:]
	body, code = httpGet(t, callback, nil)
	assert.Equal(t, http.StatusBadRequest, code, "a state is good once")
	assert.Contains(t, string(body), "unknown or has expired")
	assert.Contains(t, callText(t, alice, "notion__whoami", nil), `"user":"alice"`)

	bob := aeConnect(t, g.url+"/mcp", aeAPIKey(keys["bob"]))
	_, err = bob.CallTool(ctx, &mcp.CallToolParams{Name: "notion__whoami"})
	require.Error(t, err, "alice's login is not bob's")
	page, code = browse(start("bob"), "bob")
	require.Equal(t, 200, code, page)
	assert.Contains(t, callText(t, bob, "notion__whoami", nil), `"user":"bob"`)
	assert.Contains(t, callText(t, alice, "notion__whoami", nil), `"user":"alice"`)
	assert.Equal(t, 2, oauthCount(t, base, "registrations"), "one for `mcp-gateway login`, one for the web flow, reused by bob")
}
