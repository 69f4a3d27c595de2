package deploy

// The client configs in ../clients.

import (
	"encoding/json"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkGatewayURL requires u to be the gateway's default HTTP endpoint.
func checkGatewayURL(t *testing.T, what, u string) {
	t.Helper()
	pu, err := url.Parse(u)
	require.NoError(t, err, what)
	assert.Equal(t, "http", pu.Scheme, what)
	assert.Equal(t, config.DefaultListen, pu.Host, "%s: the gateway's default listen address", what)
	assert.Equal(t, "/mcp", pu.Path, "%s: the merged endpoint", what)
}

func TestDeployClientConfigs(t *testing.T) {
	t.Run("claude_desktop", func(t *testing.T) {
		var c struct {
			MCPServers map[string]struct {
				Command string   `json:"command"`
				Args    []string `json:"args"`
			} `json:"mcpServers"`
		}
		decodeJSONFile(t, filepath.Join(clientsDir, "claude_desktop_config.json"), &c)
		require.Len(t, c.MCPServers, 1)
		gw, ok := c.MCPServers["gateway"]
		require.True(t, ok)
		assert.Equal(t, "mcp-gateway", path.Base(gw.Command))
		s := requireServeLine(t, "claude_desktop_config.json", gw.Args)
		assert.True(t, s.stdio, "Claude Desktop talks stdio")
		assert.Empty(t, s.addr, "no HTTP listener from a desktop client")
		assert.True(t, path.IsAbs(s.configPath), "--config is an absolute path (the client's working directory is unknown)")

		// What Claude Desktop does: start the gateway with these args (the
		// config a test one) and initialize over stdin/stdout.
		t.Run("runs", func(t *testing.T) {
			needBinaries(t)
			cfgPath := writeEchoConfig(t, nil)
			g := startGateway(t, withServeArgs(gw.Args, "", cfgPath), nil, false)
			_, err := io.WriteString(g.stdin, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"deploy-test","version":"0"}}}`+"\n")
			require.NoError(t, err)
			var resp struct {
				ID     int `json:"id"`
				Result struct {
					ServerInfo struct{ Name string } `json:"serverInfo"`
				} `json:"result"`
			}
			require.NoError(t, json.Unmarshal(g.readLine(t, 30*time.Second), &resp))
			assert.Equal(t, 1, resp.ID)
			assert.NotEmpty(t, resp.Result.ServerInfo.Name, "the answer to initialize")
			// A desktop client quits by closing stdin: exit status 0.
			require.NoError(t, g.stdin.Close())
			assert.NoError(t, g.wait(t, 20*time.Second), "log:\n%s", g.stderr)
		})
	})

	t.Run("cursor", func(t *testing.T) {
		var c struct {
			MCPServers map[string]struct {
				URL     string            `json:"url"`
				Command string            `json:"command"`
				Headers map[string]string `json:"headers"`
			} `json:"mcpServers"`
		}
		decodeJSONFile(t, filepath.Join(clientsDir, "cursor-mcp.json"), &c)
		gw, ok := c.MCPServers["gateway"]
		require.True(t, ok)
		assert.Empty(t, gw.Command)
		checkGatewayURL(t, "cursor-mcp.json", gw.URL)
		require.Len(t, gw.Headers, 1)
		assert.Regexp(t, `^\$\{env:[A-Z_]+\}$`, gw.Headers[apiKeyHeader], "the key comes from the environment")
	})

	t.Run("vscode", func(t *testing.T) {
		var c struct {
			Inputs []struct {
				Type     string `json:"type"`
				ID       string `json:"id"`
				Password bool   `json:"password"`
			} `json:"inputs"`
			Servers map[string]struct {
				Type    string            `json:"type"`
				URL     string            `json:"url"`
				Headers map[string]string `json:"headers"`
			} `json:"servers"`
		}
		decodeJSONFile(t, filepath.Join(clientsDir, "vscode-mcp.json"), &c)
		gw, ok := c.Servers["gateway"]
		require.True(t, ok)
		assert.Equal(t, "http", gw.Type)
		checkGatewayURL(t, "vscode-mcp.json", gw.URL)
		require.Len(t, gw.Headers, 1)
		m := regexp.MustCompile(`^\$\{input:([\w-]+)\}$`).FindStringSubmatch(gw.Headers[apiKeyHeader])
		require.NotNil(t, m, "the key comes from an input")
		i := slices.IndexFunc(c.Inputs, func(in struct {
			Type     string `json:"type"`
			ID       string `json:"id"`
			Password bool   `json:"password"`
		}) bool {
			return in.ID == m[1]
		})
		require.GreaterOrEqual(t, i, 0, "input %s is declared", m[1])
		assert.Equal(t, "promptString", c.Inputs[i].Type)
		assert.True(t, c.Inputs[i].Password, "the key input is a password")
	})
}
