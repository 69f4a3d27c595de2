package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connectAs connects a streamable-HTTP client that sends clientInfo.name
// name and the headers.
func connectAs(t *testing.T, url, name string, headers map[string]string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1, HTTPClient: &http.Client{
		Transport: &aeHeaderTransport{headers: headers, base: http.DefaultTransport},
	}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: name, Version: "test"}, nil).Connect(ctx, tr, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	return cs
}

// TestToolBudgets: a client over its budget is listed its pinned and most
// used tools and three meta-tools that search, describe and call the rest,
// under the same policy as a direct call; built-in budgets apply to known
// clients; other clients see everything.
func TestToolBudgets(t *testing.T) {
	needBins(t)
	all, _, err := auth.NewKey()
	require.NoError(t, err)
	limited, _, err := auth.NewKey()
	require.NoError(t, err)
	rw := []string{"read", "write"}
	cfgPath := writeConfig(t, map[string]any{
		"mcpServers": map[string]any{"e": echoUpstream("e", "--tools", "100")},
		"gateway": map[string]any{
			"auth": map[string]any{"api_keys": []any{
				map[string]any{"key": auth.HashKey(all), "owner": "all", "allowed_upstreams": []string{"*"}, "scopes": rw, "rate_limit_rpm": -1},
				map[string]any{"key": auth.HashKey(limited), "owner": "limited", "allowed_upstreams": []string{"*"}, "allowed_tools": []string{"e__tool_*"}, "scopes": rw, "rate_limit_rpm": -1},
			}},
			"budgets": map[string]any{"clients": []any{
				map[string]any{"client": "Budget-*", "max_tools": 10, "pinned": []string{"e__echo", "e__add"}},
				map[string]any{"identity": "limited", "max_tools": 5},
			}},
		},
	})
	g := startHTTP(t, cfgPath)
	url := g.url + "/mcp"
	ctx := context.Background()

	full := listToolNames(t, connectAs(t, url, "plain-client", aeAPIKey(all)))
	assert.Greater(t, len(full), 100, "no budget: every tool")
	assert.NotContains(t, full, "gateway_search_tools")

	cursor := listToolNames(t, connectAs(t, url, "cursor-vscode", aeAPIKey(all)))
	assert.Len(t, cursor, 40, "built-in budget for Cursor")
	assert.Contains(t, cursor, "gateway_search_tools")

	cs := connectAs(t, url, "budget-test", aeAPIKey(all))
	names := listToolNames(t, cs)
	require.Len(t, names, 10)
	assert.Subset(t, names, []string{"e__echo", "e__add", "gateway_search_tools", "gateway_describe_tool", "gateway_call_tool"})
	assert.NotContains(t, names, "e__tool_0042")

	found := callText(t, cs, "gateway_search_tools", map[string]any{"query": "tool 0042", "limit": 3})
	var res struct {
		Tools []struct{ Name, Description string }
	}
	require.NoError(t, json.Unmarshal([]byte(found), &res), found)
	require.NotEmpty(t, res.Tools)
	assert.Equal(t, "e__tool_0042", res.Tools[0].Name)
	assert.LessOrEqual(t, len(res.Tools), 3)

	desc := callText(t, cs, "gateway_describe_tool", map[string]any{"name": "e__tool_0042"})
	var tool mcp.Tool
	require.NoError(t, json.Unmarshal([]byte(desc), &tool))
	assert.Equal(t, "e__tool_0042", tool.Name)
	assert.Contains(t, desc, `"value"`, "the full input schema")

	assert.Equal(t, "tool_0042: hi", callText(t, cs, "gateway_call_tool", map[string]any{"name": "e__tool_0042", "arguments": map[string]any{"value": "hi"}}))
	// Used, so now listed.
	assert.Contains(t, listToolNames(t, connectAs(t, url, "budget-test", aeAPIKey(all))), "e__tool_0042")

	// The same policy as a direct call: the limited identity may not call
	// e__echo, so it neither finds it nor calls it through the meta-tool.
	lc := connectAs(t, url, "plain-client", aeAPIKey(limited))
	assert.Len(t, listToolNames(t, lc), 5)
	found = callText(t, lc, "gateway_search_tools", map[string]any{"query": "echo text"})
	assert.NotContains(t, found, `"e__echo"`)
	_, err = lc.CallTool(ctx, &mcp.CallToolParams{Name: "gateway_call_tool", Arguments: map[string]any{"name": "e__echo", "arguments": map[string]any{"text": "x"}}})
	require.Error(t, err)
	_, direct := lc.CallTool(ctx, &mcp.CallToolParams{Name: "e__echo", Arguments: map[string]any{"text": "x"}})
	require.Error(t, direct)
	assert.Equal(t, direct.Error(), err.Error(), "the meta-tool call is refused as the direct call is")

	// Without a budget the meta-tools are not tools.
	_, err = connectAs(t, url, "plain-client", aeAPIKey(all)).CallTool(ctx, &mcp.CallToolParams{Name: "gateway_search_tools", Arguments: map[string]any{"query": "x"}})
	aeRPCError(t, err, -32602, "unknown tool")
}
