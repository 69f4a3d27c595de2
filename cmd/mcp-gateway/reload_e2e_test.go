//go:build !windows

package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReloadWithoutRestart changes overrides and pins under load by editing
// the config, writing the lockfile, SIGHUP and POST /admin/reload; a broken
// config is refused with its errors and the running one kept. Calls run
// throughout, and none may fail.
func TestReloadWithoutRestart(t *testing.T) {
	needBins(t)
	admin, _, err := auth.NewKey()
	require.NoError(t, err)
	user, _, err := auth.NewKey()
	require.NoError(t, err)
	keys := []any{
		map[string]any{"key": auth.HashKey(admin), "owner": "admin", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "rate_limit_rpm": -1, "admin": true},
		map[string]any{"key": auth.HashKey(user), "owner": "user", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "rate_limit_rpm": -1},
	}
	cfg := func(overrides map[string]any) map[string]any {
		e := echoUpstream("e")
		if overrides != nil {
			e["overrides"] = overrides
		}
		return map[string]any{"mcpServers": map[string]any{"e": e}, "gateway": map[string]any{"auth": map[string]any{"api_keys": keys}}}
	}
	cfgPath := writeConfig(t, cfg(nil))
	g := startHTTP(t, cfgPath)
	reloads := func() int {
		return strings.Count(g.stderr.String(), `"msg":"config reloaded"`)
	}
	waitReloads := func(n int) {
		t.Helper()
		require.Eventually(t, func() bool { return reloads() >= n }, 20*time.Second, 20*time.Millisecond, "want %d reloads\n%s", n, g.stderr)
	}

	changed := make(chan struct{}, 100)
	cs := aeConnectOpts(t, g.url+"/mcp", aeAPIKey(user), &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
		changed <- struct{}{}
	}})
	require.Contains(t, listToolNames(t, cs), "e__add")

	// Load: calls to a tool no reload touches, until the test is done.
	var calls, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "e__echo", Arguments: map[string]any{"text": "x"}})
				calls.Add(1)
				if err != nil {
					failed.Add(1)
					t.Logf("call failed: %v", err)
				}
			}
		})
	}

	// An edit to the config: the override is in effect without a restart,
	// and clients are told the list changed.
	rewriteConfig(t, cfgPath, cfg(map[string]any{"tools": map[string]any{"add": map[string]any{"name": "plus"}}}))
	waitReloads(1)
	select {
	case <-changed:
	case <-time.After(20 * time.Second):
		t.Fatal("no list_changed after the override was reloaded")
	}
	names := listToolNames(t, cs)
	assert.Contains(t, names, "e__plus")
	assert.NotContains(t, names, "e__add")
	assert.Equal(t, `{"sum":3}`, callText(t, cs, "e__plus", map[string]any{"a": 1, "b": 2}))

	// A broken config is refused, with every error, and the running one kept.
	require.NoError(t, os.WriteFile(cfgPath, []byte(`{"mcpServers": {"e": {"command": "x", "timeout": "soon", "overrides": {"tools": {"add": {"name": "has space"}}}}}}`), 0o600))
	require.Eventually(t, func() bool {
		return strings.Contains(g.stderr.String(), `"msg":"config reload refused; the running config is kept"`)
	},
		20*time.Second, 20*time.Millisecond, "%s", g.stderr)
	log := g.stderr.String()
	assert.Contains(t, log, "mcpServers.e.timeout")
	assert.Contains(t, log, "mcpServers.e.overrides.tools.add.name")
	resp, body := aeDo(t, http.MethodPost, g.url+"/admin/reload", aeAPIKey(admin), "")
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, body)
	assert.Contains(t, body, "mcpServers.e.timeout")
	assert.Contains(t, listToolNames(t, cs), "e__plus", "the running config is kept")

	// Pins: lock while the gateway runs; the new lockfile is in effect for
	// the next listing, so a tool added now is quarantined.
	rewriteConfig(t, cfgPath, cfg(map[string]any{"tools": map[string]any{"add": map[string]any{"name": "plus"}}}))
	n := reloads()
	code, _, errOut := gw(t, "lock", "--config", cfgPath)
	require.Equal(t, 0, code, errOut)
	waitReloads(n + 1)
	// Reload by signal, then by the admin endpoint; both pick the lockfile up.
	n = reloads()
	require.NoError(t, g.cmd.Process.Signal(syscall.SIGHUP))
	waitReloads(n + 1)
	assert.Contains(t, g.stderr.String(), `"reason":"SIGHUP"`)
	resp, body = aeDo(t, http.MethodPost, g.url+"/admin/reload", aeAPIKey(admin), "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.JSONEq(t, `{"reloaded": true}`, body)
	resp, _ = aeDo(t, http.MethodPost, g.url+"/admin/reload", aeAPIKey(user), "")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = aeDo(t, http.MethodPost, g.url+"/admin/reload", nil, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	callText(t, cs, "e__add_tool", map[string]any{"name": "extra"})
	require.Eventually(t, func() bool {
		return strings.Contains(g.stderr.String(), `"msg":"definition quarantined","upstream":"e","kind":"tool","name":"extra","status":"new"`)
	}, 20*time.Second, 20*time.Millisecond, "%s", g.stderr)

	// What a reload cannot apply is reported, not silently dropped.
	more := cfg(map[string]any{"tools": map[string]any{"add": map[string]any{"name": "plus"}}})
	more["gateway"].(map[string]any)["listen"] = "127.0.0.1:1"
	rewriteConfig(t, cfgPath, more)
	require.Eventually(t, func() bool {
		return strings.Contains(g.stderr.String(), `"msg":"config changes that take effect only at a restart","changed":"gateway.listen"`)
	}, 20*time.Second, 20*time.Millisecond, "%s", g.stderr)
	resp, body = aeDo(t, http.MethodPost, g.url+"/admin/reload", aeAPIKey(admin), "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.JSONEq(t, `{"reloaded": true, "need_restart": ["gateway.listen"]}`, body, "still pending: the running config keeps the old address")

	close(stop)
	wg.Wait()
	assert.Positive(t, calls.Load())
	assert.Zero(t, failed.Load(), "of %d calls during reloads", calls.Load())
	t.Logf("%d calls during reloads, %d failed", calls.Load(), failed.Load())
}
