package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeHome is a home directory holding the client configs of
// clientconfig/testdata at their Linux paths, and a workspace.
type fakeHome struct {
	home, workspace string
}

func newFakeHome(t *testing.T) *fakeHome {
	t.Helper()
	h := &fakeHome{home: t.TempDir()}
	h.workspace = filepath.Join(h.home, "proj")
	for from, to := range map[string]string{
		"claude_desktop_config.json": ".config/Claude/claude_desktop_config.json",
		"cursor_mcp.json":            ".cursor/mcp.json",
		"vscode_mcp.json":            ".config/Code/User/mcp.json",
		"vscode_settings.json":       ".config/Code/User/settings.json",
		"windsurf_mcp_config.json":   ".codeium/windsurf/mcp_config.json",
	} {
		b, err := os.ReadFile(filepath.Join("..", "..", "clientconfig", "testdata", from))
		require.NoError(t, err)
		p := filepath.Join(h.home, to)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, b, 0o600))
	}
	require.NoError(t, os.MkdirAll(h.workspace, 0o700))
	return h
}

// run runs the real binary with HOME set to the fake home, in the workspace.
func (h *fakeHome) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bins.gateway, args...)
	cmd.Dir = h.workspace
	cmd.Env = append(os.Environ(), "HOME="+h.home, "XDG_CONFIG_HOME=", "APPDATA=", "MCP_GATEWAY_CONFIG=")
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

func TestImportE2E(t *testing.T) {
	needBins(t)
	h := newFakeHome(t)

	// Without --write: the new config on stdout, the report on stderr.
	stdout, stderr, code := h.run(t, "import", "--from", "cursor")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "read Cursor user mcp.json: "+h.home+"/.cursor/mcp.json (3 servers)")
	var cfg struct {
		MCPServers map[string]map[string]any `json:"mcpServers"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &cfg), stdout)
	assert.Equal(t, "Bearer ${NOTION_TOKEN}", cfg.MCPServers["notion"]["headers"].(map[string]any)["Authorization"])
	assert.Equal(t, h.home+"/bin/tool", cfg.MCPServers["local-tool"]["command"])
	assert.Contains(t, stderr, "left out autoApprove, envFile")

	// --write into an existing gateway config: every client, merged.
	gw := filepath.Join(h.workspace, "mcp-gateway.json")
	require.NoError(t, os.WriteFile(gw, []byte("{\n  \"mcpServers\": {\n    \"github\": { \"url\": \"https://example.com/gh/mcp\" }\n  },\n  \"gateway\": { \"listen\": \"127.0.0.1:8099\" }\n}\n"), 0o600))
	stdout, stderr, code = h.run(t, "import", "--write", gw)
	require.Equal(t, 0, code, stdout+stderr)
	for _, want := range []string{
		"read Claude Desktop claude_desktop_config.json: " + h.home + "/.config/Claude/claude_desktop_config.json (3 servers)",
		"read VS Code user settings.json",
		"read Windsurf mcp_config.json",
		`github-claude  from Claude Desktop claude_desktop_config.json "github", renamed: "github" is taken by a different server`,
		`same     filesystem`,
		`skipped  broken`,
		"imported disabled: ${workspaceFolder} has no meaning outside the client",
		"MCP_INPUT_GITHUB_TOKEN  GitHub Personal Access Token (input \"github-token\")",
		"the previous version is in " + gw + ".bak-",
	} {
		assert.Contains(t, stdout, want)
	}
	b, err := os.ReadFile(gw)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "{\n  \"mcpServers\": {\n    \"github\": { \"url\": \"https://example.com/gh/mcp\" },\n"), "the existing entry stays as written:\n%s", b)
	assert.Contains(t, string(b), "\"gateway\": { \"listen\": \"127.0.0.1:8099\" }")
	backups, err := filepath.Glob(gw + ".bak-*")
	require.NoError(t, err)
	require.Len(t, backups, 1)

	// The result is a valid gateway config.
	vcmd := exec.Command(bins.gateway, "validate", "--config", gw)
	vcmd.Env = append(os.Environ(), "NOTION_TOKEN=n", "MCP_INPUT_GITHUB_TOKEN=g")
	out, err := vcmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	// Again: nothing new, nothing written.
	stdout, _, code = h.run(t, "import", "--write", gw)
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "nothing new: "+gw+" already has every server")
	backups, err = filepath.Glob(gw + ".bak-*")
	require.NoError(t, err)
	assert.Len(t, backups, 1)

	// Errors are plain.
	_, stderr, code = h.run(t, "import", "--from", "nosuch")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `--from "nosuch": not a client`)
	empty := &fakeHome{home: t.TempDir(), workspace: t.TempDir()}
	_, stderr, code = empty.run(t, "import", "--from", "claude")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no config of claude found; looked for:\n  "+empty.home+"/.config/Claude/claude_desktop_config.json")
	bad := filepath.Join(h.workspace, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"mcpServers": {`), 0o600))
	_, stderr, code = h.run(t, "import", "--from", bad, "--write", gw)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, bad+": syntax error")
}

func TestInstallE2E(t *testing.T) {
	needBins(t)
	h := newFakeHome(t)
	gw := writeConfig(t, map[string]any{"mcpServers": map[string]any{"echo": echoUpstream("echo")}})
	claude := filepath.Join(h.home, ".config/Claude/claude_desktop_config.json")
	before, err := os.ReadFile(claude)
	require.NoError(t, err)

	stdout, stderr, code := h.run(t, "install", "--client", "claude", "--config", gw)
	require.Equal(t, 0, code, stdout+stderr)
	assert.Contains(t, stdout, `added "mcp-gateway" in Claude Desktop's config: `+claude)
	assert.Contains(t, stdout, "the file still lists 3 other servers (filesystem, github, broken)")
	backups, err := filepath.Glob(claude + ".bak-*")
	require.NoError(t, err)
	require.Len(t, backups, 1)
	saved, err := os.ReadFile(backups[0])
	require.NoError(t, err)
	assert.Equal(t, string(before), string(saved))

	var file struct {
		GlobalShortcut string                     `json:"globalShortcut"`
		MCPServers     map[string]json.RawMessage `json:"mcpServers"`
	}
	after, err := os.ReadFile(claude)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(after, &file))
	assert.Equal(t, "Ctrl+Space", file.GlobalShortcut, "other keys kept")
	assert.Len(t, file.MCPServers, 4)
	var entry struct {
		Command string   `json:"command"`
		Args    []string `json:"args"`
	}
	require.NoError(t, json.Unmarshal(file.MCPServers["mcp-gateway"], &entry))
	assert.Equal(t, bins.gateway, entry.Command)
	assert.Equal(t, []string{"serve", "--config", gw}, entry.Args)
	assert.True(t, strings.HasPrefix(string(after), string(before[:strings.Index(string(before), `"broken"`)])), "the file's text before the new entry is unchanged")

	// What the client would run works: the entry starts the gateway over stdio.
	cmd := exec.Command(entry.Command, entry.Args...)
	cmd.Dir = t.TempDir() // clients start servers in a directory of their own
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "claude-ish"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	require.NoError(t, err)
	assert.Equal(t, "hi", callText(t, cs, "echo__echo", map[string]any{"text": "hi"}))
	require.NoError(t, cs.Close())

	// Idempotent.
	stdout, _, code = h.run(t, "install", "--client", "claude", "--config", gw)
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, `Claude Desktop already runs the gateway as "mcp-gateway": nothing changed`)
	again, err := os.ReadFile(claude)
	require.NoError(t, err)
	assert.Equal(t, string(after), string(again))
	backups, err = filepath.Glob(claude + ".bak-*")
	require.NoError(t, err)
	assert.Len(t, backups, 1)

	// VS Code: its mcp.json shape, comments kept.
	vscode := filepath.Join(h.home, ".config/Code/User/mcp.json")
	stdout, stderr, code = h.run(t, "install", "--client", "vscode", "--config", gw)
	require.Equal(t, 0, code, stdout+stderr)
	b, err := os.ReadFile(vscode)
	require.NoError(t, err)
	assert.Contains(t, string(b), "// VS Code user mcp.json: comments and trailing commas are allowed.")
	assert.Contains(t, string(b), "\"mcp-gateway\": {\n      \"type\": \"stdio\",\n      \"command\": \""+bins.gateway+"\"")

	// A client with no file yet: created.
	empty := &fakeHome{home: t.TempDir(), workspace: t.TempDir()}
	stdout, stderr, code = empty.run(t, "install", "--client", "cursor", "--config", gw)
	require.Equal(t, 0, code, stdout+stderr)
	b, err = os.ReadFile(filepath.Join(empty.home, ".cursor", "mcp.json"))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"mcp-gateway"`)

	_, stderr, code = h.run(t, "install", "--client", "emacs", "--config", gw)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `--client: unknown client "emacs"`)
	_, stderr, code = h.run(t, "install", "--client", "claude", "--config", "/nonexistent.json")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "/nonexistent.json")
}

// TestImportInstallXDG: on Linux the Electron clients' files are under
// $XDG_CONFIG_HOME when it is set, and --from takes a file of any shape.
func TestImportInstallXDG(t *testing.T) {
	needBins(t)
	home, xdg := t.TempDir(), t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "clientconfig", "testdata", "claude_desktop_config.json"))
	require.NoError(t, err)
	claude := filepath.Join(xdg, "Claude", "claude_desktop_config.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(claude), 0o700))
	require.NoError(t, os.WriteFile(claude, src, 0o600))
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bins.gateway, args...)
		cmd.Dir = home
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+xdg, "APPDATA=", "MCP_GATEWAY_CONFIG=")
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

	stdout, stderr, code := run("import", "--from", "claude")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "read Claude Desktop claude_desktop_config.json: "+claude)
	assert.Contains(t, stdout, `"filesystem"`)

	// A VS Code mcp.json named by path: servers and inputs.
	vs := filepath.Join(home, "team-mcp.json")
	b, err := os.ReadFile(filepath.Join("..", "..", "clientconfig", "testdata", "vscode_mcp.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(vs, b, 0o600))
	stdout, stderr, code = run("import", "--from", vs)
	require.Equal(t, 0, code, stderr)
	var cfg struct {
		MCPServers map[string]map[string]any `json:"mcpServers"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &cfg), stdout)
	assert.Equal(t, "Bearer ${MCP_INPUT_GITHUB_TOKEN}", cfg.MCPServers["github"]["headers"].(map[string]any)["Authorization"])
	assert.Contains(t, stderr, "MCP_INPUT_GITHUB_TOKEN")

	gw := writeConfig(t, map[string]any{"mcpServers": map[string]any{"echo": echoUpstream("echo")}})
	stdout, stderr, code = run("install", "--client", "vscode", "--config", gw)
	require.Equal(t, 0, code, stdout+stderr)
	b, err = os.ReadFile(filepath.Join(xdg, "Code", "User", "mcp.json"))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"mcp-gateway"`)
	assert.Contains(t, string(b), `"servers"`)
}
