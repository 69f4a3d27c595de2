package main

import (
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runGateway runs the binary to the end with extra environment.
func runGateway(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bins.gateway, args...)
	cmd.Env = append(os.Environ(), append([]string{envAPIKey + "=", "MCP_GATEWAY_CONFIG="}, env...)...)
	cmd.Dir = t.TempDir() // no ./mcp-gateway.json
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), code
}

// TestStatusCommand: status prints a running gateway's upstreams and
// sessions as tables, found by --addr or by the config's listen address,
// with a key from the flag or the environment.
func TestStatusCommand(t *testing.T) {
	needBins(t)
	adminKey := "mgw_status_" + aeCanary("k")
	servers := map[string]any{
		"good":   echoUpstream("good"),
		"broken": map[string]any{"command": "/nonexistent/mcp-server"},
	}
	cfg := writeConfig(t, map[string]any{"mcpServers": servers, "gateway": map[string]any{"auth": map[string]any{
		"api_keys": []map[string]any{{"key": auth.HashKey(adminKey), "owner": "ops", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "admin": true}},
	}}})
	g := startHTTP(t, cfg)
	addr := strings.TrimPrefix(g.url, "http://")
	aeConnect(t, g.url+"/mcp", map[string]string{"X-Api-Key": adminKey})
	aeConnect(t, g.url+"/mcp/good", map[string]string{"X-Api-Key": adminKey})

	stdout, stderr, code := runGateway(t, nil, "status", "--addr", addr, "--api-key", adminKey)
	require.Equal(t, 0, code, stderr)
	t.Logf("status:\n%s", stdout)
	assert.Contains(t, stdout, g.url+": 2 upstreams")
	assert.Regexp(t, `(?m)^UPSTREAM\s+TRANSPORT\s+STATE\s+SINCE\s+TOOLS\s+PROMPTS\s+RESOURCES\s+BREAKER\s+RESTARTS\s+QUARANTINED\s+LAST ERROR$`, stdout)
	assert.Regexp(t, `(?m)^good\s+stdio\s+up\s+\S.*?\s+16\s+1\s+2\s+closed\s+0\s+0\s+-$`, stdout)
	assert.Regexp(t, `(?m)^broken\s+stdio\s+(down|connecting)\s+.*initialize: command "/nonexistent/mcp-server"`, stdout)
	assert.Contains(t, stdout, "2 sessions")
	assert.Regexp(t, `(?m)^SESSION\s+ENDPOINT\s+IDENTITY\s+AGENT\s+PROTOCOL\s+CREATED\s+LAST SEEN$`, stdout)
	assert.Regexp(t, `(?m)^\S+\s+/mcp\s+api_key:ops\s+-\s+\d{4}-\d\d-\d\d\s`, stdout)
	assert.Regexp(t, `(?m)^\S+\s+/mcp/good\s+api_key:ops\s`, stdout)

	// The key from the environment, the address from the config.
	withListen := writeConfig(t, map[string]any{"mcpServers": servers, "gateway": map[string]any{"listen": addr}})
	stdout, stderr, code = runGateway(t, []string{envAPIKey + "=" + adminKey}, "status", "--config", withListen)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, g.url+": 2 upstreams")
	stdout, stderr, code = runGateway(t, []string{envAPIKey + "=" + adminKey}, "status", "--addr", g.url+"/")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, g.url+": 2 upstreams")

	// Plain errors.
	_, stderr, code = runGateway(t, nil, "status", "--addr", addr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, g.url+"/upstreams needs an API key: pass --api-key or set $"+envAPIKey)
	_, stderr, code = runGateway(t, nil, "status", "--addr", addr, "--api-key", "mgw_wrong")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "refused the API key (401)")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	l.Close()
	_, stderr, code = runGateway(t, nil, "status", "--addr", closed)
	assert.Equal(t, 1, code)
	assert.Regexp(t, regexp.QuoteMeta("no gateway answers at http://"+closed+"/upstreams")+`.*connection refused`, stderr)
	_, stderr, code = runGateway(t, nil, "status", "--addr", "nonsense")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `--addr "nonsense": want host:port or a URL`)
}
