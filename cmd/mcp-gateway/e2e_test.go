package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type whoami struct {
	Name          string `json:"name"`
	PID           int    `json:"pid"`
	EchoSecretSet bool   `json:"echo_secret_set"`
	EchoGreeting  string `json:"echo_greeting"`
	Cwd           string `json:"cwd"`
}

func callWhoami(t *testing.T, cs *mcp.ClientSession, tool string) whoami {
	t.Helper()
	var w whoami
	require.NoError(t, json.Unmarshal([]byte(callText(t, cs, tool, nil)), &w))
	return w
}

// TestStdioMergedCatalog is what a Claude Desktop user does: the gateway as
// the one stdio server in front of several upstreams.
func TestStdioMergedCatalog(t *testing.T) {
	needBins(t)
	dir := t.TempDir()
	t.Setenv("E2E_GREETING", "hello from the environment")
	t.Setenv("ECHO_SECRET", "gateway-secret-not-for-children")
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"one": map[string]any{"command": bins.echo, "args": []string{"--name", "one"},
			"env": map[string]string{"ECHO_GREETING": "${E2E_GREETING}"}, "cwd": dir},
		"two":     echoUpstream("two"),
		"Foo Bar": map[string]any{"command": bins.echo, "args": []string{"--name", "foobar"}, "prefix": "", "tools": map[string]any{"allow": []string{"whoami"}}},
		"off":     map[string]any{"command": "/nonexistent", "disabled": true},
		"claude":  map[string]any{"command": bins.echo, "args": []string{"--name", "claude"}, "autoApprove": []string{"echo"}, "tools": map[string]any{"deny": []string{"*"}}},
	}})
	cs, stderr := connectStdio(t, cfg, nil)
	ctx := context.Background()

	names := listToolNames(t, cs)
	assert.Contains(t, names, "one__echo")
	assert.Contains(t, names, "two__echo")
	assert.Contains(t, names, "whoami", "prefix \"\" exposes names unchanged")
	assert.NotContains(t, names, "Foo-Bar__echo", "allow list")
	for _, n := range names {
		assert.False(t, strings.HasPrefix(n, "claude__"), "deny * hides every tool: %s", n)
		assert.False(t, strings.HasPrefix(n, "off__"), "disabled upstream: %s", n)
	}

	assert.Equal(t, "hi", callText(t, cs, "one__echo", map[string]any{"text": "hi"}))
	w := callWhoami(t, cs, "one__whoami")
	assert.Equal(t, "one", w.Name)
	assert.Equal(t, "hello from the environment", w.EchoGreeting, "env with ${VAR} expansion")
	assert.Equal(t, dir, w.Cwd, "cwd")
	assert.False(t, w.EchoSecretSet, "gateway env is not inherited beyond the allow-list")
	assert.Equal(t, "foobar", callWhoami(t, cs, "whoami").Name)

	// Structured content and output schema pass through.
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "two__add", Arguments: map[string]any{"a": 2, "b": 3}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"sum":5}`, mustMarshal(t, res.StructuredContent))

	// Errors: JSON-RPC errors keep code and message; isError stays a result.
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "two__rpc_error", Arguments: map[string]any{"code": -32050, "message": "upstream says no"}})
	var rpcErr *jsonrpc.Error
	require.True(t, errors.As(err, &rpcErr), "%v", err)
	assert.Equal(t, int64(-32050), rpcErr.Code)
	assert.Equal(t, "upstream says no", rpcErr.Message)
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "two__fail", Arguments: map[string]any{"message": "tool failed"}})
	require.NoError(t, err)
	assert.True(t, res.IsError)
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "nope__echo"})
	require.True(t, errors.As(err, &rpcErr), "%v", err)
	assert.Contains(t, rpcErr.Message, `unknown tool "nope__echo"`)

	// Resources keep their URIs; the first upstream by name serves a clash
	// (every echo serves echo://static), and templates route.
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "echo://static"})
	require.NoError(t, err)
	assert.Contains(t, rr.Contents[0].Text, "static resource of")
	rr, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "echo://item/7"})
	require.NoError(t, err)
	assert.Contains(t, rr.Contents[0].Text, "item 7")
	tr, err := cs.ListResourceTemplates(ctx, nil)
	require.NoError(t, err)
	require.NotEmpty(t, tr.ResourceTemplates)

	// Prompts are prefixed like tools.
	pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "two__greet", Arguments: map[string]string{"name": "Ann"}})
	require.NoError(t, err)
	assert.Contains(t, pr.Messages[0].Content.(*mcp.TextContent).Text, "Hello, Ann! (from two)")

	// Upstream stderr reaches the log with the upstream's name; stdout carried
	// nothing but protocol (the client would have failed to parse it).
	assert.Contains(t, stderr.String(), `"upstream":"one"`)
	assert.NotContains(t, stderr.String(), "gateway-secret-not-for-children")
}

// TestStdioShutdownLeavesNoProcesses: closing the client's stdin ends the
// gateway, which ends every upstream process group.
func TestStdioShutdownLeavesNoProcesses(t *testing.T) {
	needBins(t)
	// The upstream is a shell that leaves a grandchild behind in its group.
	script := `sleep 1000 & echo $! > "$1"; exec "$2" --name grand`
	pidFile := t.TempDir() + "/grandchild.pid"
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"grand": map[string]any{"command": "sh", "args": []string{"-c", script, "sh", pidFile, bins.echo}},
	}})
	stderr := &syncBuffer{}
	cmd := exec.Command(bins.gateway, "serve", "--config", cfg)
	cmd.Stderr = stderr
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e"}, nil).Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
	require.NoError(t, err)
	up := callWhoami(t, cs, "grand__whoami")
	pidBytes, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	var grandchild int
	_, err = fmt.Sscan(strings.TrimSpace(string(pidBytes)), &grandchild)
	require.NoError(t, err)
	require.True(t, processAlive(up.PID))
	require.True(t, processAlive(grandchild))

	require.NoError(t, cs.Close()) // closes the gateway's stdin, waits for it to exit
	assert.Equal(t, 0, cmd.ProcessState.ExitCode(), "stderr: %s", stderr)
	assert.False(t, processAlive(up.PID), "upstream %d still running", up.PID)
	assert.False(t, processAlive(grandchild), "grandchild %d still running", grandchild)
}

func TestHTTPServe(t *testing.T) {
	needBins(t)
	remote := startEchoHTTP(t, "http", "remote")
	legacy := startEchoHTTP(t, "sse", "legacy")
	cfg := writeConfig(t, map[string]any{
		"mcpServers": map[string]any{
			"local":  echoUpstream("local"),
			"remote": map[string]any{"url": remote + "/mcp", "headers": map[string]string{"X-Upstream-Token": "${E2E_UPSTREAM_TOKEN}"}},
			"legacy": map[string]any{"url": legacy + "/sse", "transport": "sse"},
			"dead":   map[string]any{"command": "/nonexistent/server"},
		},
		"gateway": map[string]any{"session_idle_timeout": "2s"},
	})
	t.Setenv("E2E_UPSTREAM_TOKEN", "upstream-credential")
	g := startHTTP(t, cfg)
	cs := connectHTTP(t, g.url+"/mcp", nil)
	names := listToolNames(t, cs)
	for _, want := range []string{"local__echo", "remote__echo", "legacy__echo"} {
		assert.Contains(t, names, want)
	}
	assert.Equal(t, "via http", callText(t, cs, "remote__echo", map[string]any{"text": "via http"}))
	assert.Equal(t, "via sse", callText(t, cs, "legacy__echo", map[string]any{"text": "via sse"}))
	var hdr map[string][]string
	require.NoError(t, json.Unmarshal([]byte(callText(t, cs, "remote__headers", nil)), &hdr))
	assert.Equal(t, []string{"upstream-credential"}, hdr["X-Upstream-Token"], "configured headers reach the upstream")

	// One upstream under its own names.
	single := connectHTTP(t, g.url+"/mcp/remote", nil)
	assert.Contains(t, listToolNames(t, single), "echo")
	assert.Equal(t, "plain", callText(t, single, "echo", map[string]any{"text": "plain"}))

	// Health, readiness, status.
	body, code := httpGet(t, g.url+"/health", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"ok","version":"dev"}`, string(body), "an unstamped build is version dev")
	body, code = httpGet(t, g.url+"/readyz", nil)
	assert.Equal(t, http.StatusOK, code, "no required upstream: ready")
	var ready struct {
		Ready     bool `json:"ready"`
		Upstreams []struct {
			Name, State, Transport string
			Tools                  int
		} `json:"upstreams"`
	}
	require.NoError(t, json.Unmarshal(body, &ready))
	states := map[string]string{}
	for _, u := range ready.Upstreams {
		states[u.Name] = u.State
	}
	assert.Equal(t, map[string]string{"dead": "down", "legacy": "up", "local": "up", "remote": "up"}, states)
	body, code = httpGet(t, g.url+"/upstreams", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), `"transport": "sse"`)
	assert.NotContains(t, string(body), "upstream-credential")
	_, code = httpGet(t, g.url+"/mcp/nosuch", nil)
	assert.Equal(t, http.StatusNotFound, code)

	// A foreign Origin is refused before anything runs; loopback origins pass.
	_, code = httpPost(t, g.url+"/mcp", map[string]string{"Origin": "http://evil.example"}, initializeBody)
	assert.Equal(t, http.StatusForbidden, code)
	_, code = httpPost(t, g.url+"/mcp", map[string]string{"Origin": "null"}, initializeBody)
	assert.Equal(t, http.StatusForbidden, code)
	_, code = httpPost(t, g.url+"/mcp", map[string]string{"Host": "evil.example"}, initializeBody)
	assert.Equal(t, http.StatusForbidden, code, "DNS rebinding: foreign Host on a loopback listener")
	_, code = httpPost(t, g.url+"/mcp", map[string]string{"Origin": "http://localhost:3000"}, initializeBody)
	assert.Equal(t, http.StatusOK, code)

	pid := callWhoami(t, cs, "local__whoami").PID
	cs.Close()
	single.Close()

	// Unknown session → 404; an idle session expires → 404.
	_, code = httpPost(t, g.url+"/mcp", map[string]string{"Mcp-Session-Id": "no-such-session"}, listToolsBody)
	assert.Equal(t, http.StatusNotFound, code)
	resp, sid := initializeRaw(t, g.url+"/mcp")
	require.Equal(t, http.StatusOK, resp)
	_, code = httpPost(t, g.url+"/mcp", map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}, initializedBody)
	require.Equal(t, http.StatusAccepted, code)
	// session_idle_timeout is 2s, on the clock of the gateway process. The
	// test cannot poll for the expiry: any request on the session would
	// reset its idle timer.
	time.Sleep(3 * time.Second)
	_, code = httpPost(t, g.url+"/mcp", map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}, listToolsBody)
	assert.Equal(t, http.StatusNotFound, code, "idle session expired")

	// SIGTERM: graceful exit 0, the stdio upstream's process is gone.
	require.NoError(t, g.stop(t), "stderr: %s", g.stderr)
	assert.False(t, processAlive(pid))
}

func TestRequiredUpstreamStopsStartup(t *testing.T) {
	needBins(t)
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"ok":   echoUpstream("ok"),
		"must": map[string]any{"command": "/nonexistent/server", "required": true},
	}})
	var stderr bytes.Buffer
	cmd := exec.Command(bins.gateway, "serve", "--http", "127.0.0.1:0", "--config", cfg)
	cmd.Stderr = &stderr
	err := cmd.Run()
	require.Error(t, err)
	assert.Contains(t, stderr.String(), `required upstream "must" failed to start`)
}

func TestRefusesPublicListenWithoutAuth(t *testing.T) {
	needBins(t)
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{}})
	out, err := exec.Command(bins.gateway, "serve", "--http", "0.0.0.0:0", "--config", cfg).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "refusing to listen on 0.0.0.0:0 without authentication")
}

// TestCLI drives the one-shot commands through the real cobra tree.
func TestCLI(t *testing.T) {
	needBins(t)
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{"a": echoUpstream("a"), "b": echoUpstream("b")}})
	bad := writeConfig(t, map[string]any{
		"mcpServers": map[string]any{"x": map[string]any{"command": "c", "timeout": 5, "isolation": "weird"}},
		"gateway":    map[string]any{"lisen": "127.0.0.1:1"},
		"extra":      true,
	})
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		jsonList bool
	}{
		{name: "tools table", args: []string{"tools", "--config", cfg}, stdout: []string{"NAME", "a__echo", "b__whoami"}},
		{name: "tools json", args: []string{"tools", "--json", "--config", cfg}, jsonList: true},
		{name: "call", args: []string{"call", "b__echo", "--args", `{"text":"x y"}`, "--config", cfg}, stdout: []string{`"text": "x y"`}},
		{name: "call isError", args: []string{"call", "a__fail", "--args", `{"message":"m"}`, "--config", cfg}, code: 2, stdout: []string{`"isError": true`}},
		{name: "call unknown", args: []string{"call", "zz", "--config", cfg}, code: 1, stderr: []string{`unknown tool "zz"`}},
		{name: "call bad args", args: []string{"call", "a__echo", "--args", `[1]`, "--config", cfg}, code: 1, stderr: []string{"--args: want a JSON object"}},
		{name: "validate ok", args: []string{"validate", "--config", cfg}, stdout: []string{"valid"}},
		{name: "validate bad", args: []string{"validate", "--config", bad}, code: 1,
			stderr: []string{"mcpServers.x.timeout", "mcpServers.x.isolation", "gateway.lisen", `did you mean "listen"`, "extra"}},
		{name: "version", args: []string{"version"}, stdout: []string{"mcp-gateway", "go-sdk: v1.8.0", "2025-11-25"}},
		{name: "no config", args: []string{"tools", "--config", "/nonexistent.json"}, code: 1, stderr: []string{"/nonexistent.json"}},
		{name: "keys new", args: []string{"keys", "new"}, stdout: []string{"key:    mcpgw_", "digest: sha256:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, io.NopCloser(strings.NewReader("")), &stdout, &stderr)
			assert.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", &stdout, &stderr)
			for _, s := range tc.stdout {
				assert.Contains(t, stdout.String(), s)
			}
			for _, s := range tc.stderr {
				assert.Contains(t, stderr.String(), s)
			}
			if tc.jsonList {
				var tools []struct{ Name, Upstream string }
				require.NoError(t, json.Unmarshal(stdout.Bytes(), &tools))
				assert.Greater(t, len(tools), 20)
				assert.Equal(t, "a__add", tools[0].Name)
				assert.Equal(t, "a", tools[0].Upstream)
			}
		})
	}
}

const (
	initializeBody  = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	initializedBody = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	listToolsBody   = `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
)

func initializeRaw(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(initializeBody))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id")
}

func httpPost(t *testing.T, url string, headers map[string]string, body string) ([]byte, int) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b, resp.StatusCode
}

func httpGet(t *testing.T, url string, headers map[string]string) ([]byte, int) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b, resp.StatusCode
}

func mustMarshal(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestRelativeCommandPaths: a relative command path and cwd in the config
// are taken relative to the config file, wherever the gateway is started
// (Claude Desktop starts it in a directory of its own).
func TestRelativeCommandPaths(t *testing.T) {
	needBins(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(dir+"/bin", 0o755))
	require.NoError(t, os.Symlink(bins.echo, dir+"/bin/echo"))
	require.NoError(t, os.MkdirAll(dir+"/work", 0o755))
	cfg := dir + "/gateway.json"
	require.NoError(t, os.WriteFile(cfg, []byte(`{"mcpServers": {"rel": {"command": "./bin/echo", "cwd": "work"}}}`), 0o600))
	t.Chdir(t.TempDir())
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"call", "rel__whoami", "--config", cfg}, io.NopCloser(strings.NewReader("")), &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s", &stderr)
	assert.Contains(t, stdout.String(), `\"cwd\":\"`+dir+`/work\"`)
}

// TestCLIAdvertisesNoClientCapabilities runs `tools` against an upstream
// that asks for roots as soon as it is initialized, as server-filesystem
// does: the CLI has no client that could answer, so the upstream is not told
// the gateway could, never asks, and nothing is refused.
func TestCLIAdvertisesNoClientCapabilities(t *testing.T) {
	needBins(t)
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{"fs": echoUpstream("fs", "--roots-on-init")}})
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"tools", "--config", cfg, "--log-level", "info"}, io.NopCloser(strings.NewReader("")), &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s", &stderr)
	assert.Contains(t, stdout.String(), "fs__echo")
	assert.Contains(t, stderr.String(), "client declared no roots", "the upstream saw no roots capability")
	assert.NotContains(t, stderr.String(), "refused a server-to-client request")
}
