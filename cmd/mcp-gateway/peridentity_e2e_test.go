package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
