package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVersionStamped builds the gateway with the version stamped as
// `make release` stamps it and checks that every place the version is told
// agrees: `mcp-gateway version`, serverInfo to clients (stdio and HTTP),
// clientInfo to upstreams, and /health.
func TestVersionStamped(t *testing.T) {
	needBins(t)
	const stamped = "v9.9.9-test"
	bin := filepath.Join(t.TempDir(), "mcp-gateway")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+stamped, "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	out, err = exec.Command(bin, "version").Output()
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(out), "\n")
	assert.Equal(t, "mcp-gateway "+stamped, first, "mcp-gateway version")

	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{"up": echoUpstream("up")}})
	check := func(t *testing.T, cs *mcp.ClientSession) {
		t.Helper()
		info := cs.InitializeResult().ServerInfo
		assert.Equal(t, "mcp-gateway", info.Name)
		assert.Equal(t, stamped, info.Version, "serverInfo.version")
		var w struct {
			Client *mcp.Implementation `json:"client"`
		}
		require.NoError(t, json.Unmarshal([]byte(callText(t, cs, "up__whoami", nil)), &w))
		require.NotNil(t, w.Client, "the upstream saw no clientInfo")
		assert.Equal(t, "mcp-gateway", w.Client.Name)
		assert.Equal(t, stamped, w.Client.Version, "the clientInfo an upstream sees")
	}

	t.Run("stdio", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stderr := &syncBuffer{}
		cmd := exec.Command(bin, "serve", "--config", cfg)
		cmd.Stderr = stderr
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "test"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
		require.NoError(t, err, "stderr: %s", stderr)
		defer cs.Close()
		check(t, cs)
	})

	t.Run("http", func(t *testing.T) {
		g := startHTTPBin(t, bin, cfg)
		check(t, connectHTTP(t, g.url+"/mcp", nil))
		body, code := httpGet(t, g.url+"/health", nil)
		assert.Equal(t, http.StatusOK, code)
		assert.JSONEq(t, `{"status":"ok","version":"`+stamped+`"}`, string(body), "/health")
	})
}
