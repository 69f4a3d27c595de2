package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustParse(t *testing.T, s string) *Config {
	t.Helper()
	c, err := Parse(strings.NewReader(s))
	require.NoError(t, err)
	return c
}

func TestDiffUpstreams(t *testing.T) {
	const base = `{"mcpServers": {
		"a": {"command": "a"},
		"b": {"command": "b", "args": ["1"]},
		"c": {"url": "http://127.0.0.1:1/mcp"}}}`
	tests := []struct {
		name, loaded string
		want         UpstreamChanges
	}{
		{"same", base, UpstreamChanges{}},
		{"reordered and reformatted", `{"mcpServers": {"c": {"url": "http://127.0.0.1:1/mcp"}, "b": {"args": ["1"], "command": "b"}, "a": {"command": "a"}}}`, UpstreamChanges{}},
		{"added, removed, changed", `{"mcpServers": {
			"a": {"command": "a"},
			"b": {"command": "b", "args": ["2"]},
			"d": {"command": "d"}}}`, UpstreamChanges{Added: []string{"d"}, Removed: []string{"c"}, Changed: []string{"b"}}},
		{"disabled is removed", `{"mcpServers": {
			"a": {"command": "a", "disabled": true},
			"b": {"command": "b", "args": ["1"]},
			"c": {"url": "http://127.0.0.1:1/mcp"}}}`, UpstreamChanges{Removed: []string{"a"}}},
		{"overrides need no restart", `{"mcpServers": {
			"a": {"command": "a", "overrides": {"tools": {"x": {"name": "y"}}}},
			"b": {"command": "b", "args": ["1"]},
			"c": {"url": "http://127.0.0.1:1/mcp"}}}`, UpstreamChanges{}},
		{"a default spelled out is no change", `{"mcpServers": {
			"a": {"command": "a", "timeout": "60s"},
			"b": {"command": "b", "args": ["1"]},
			"c": {"url": "http://127.0.0.1:1/mcp"}}}`, UpstreamChanges{}},
		{"limits every connection uses change them all", `{"mcpServers": {
			"a": {"command": "a"},
			"b": {"command": "b", "args": ["1"]},
			"c": {"url": "http://127.0.0.1:1/mcp"}},
			"gateway": {"limits": {"breaker": {"failures": 9}}}}`, UpstreamChanges{Changed: []string{"a", "b", "c"}}},
		{"other gateway settings change none", `{"mcpServers": {
			"a": {"command": "a"},
			"b": {"command": "b", "args": ["1"]},
			"c": {"url": "http://127.0.0.1:1/mcp"}},
			"gateway": {"limits": {"rate_limit_rpm": 5}, "listen": "127.0.0.1:9"}}`, UpstreamChanges{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DiffUpstreams(mustParse(t, base), mustParse(t, tt.loaded))
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want.Empty(), got.Empty())
		})
	}
}

func TestKeepRestartOnly(t *testing.T) {
	running := mustParse(t, `{"gateway": {"listen": "127.0.0.1:1", "log": {"level": "info"}, "auth": {"api_keys": [{"key": "k1", "owner": "a", "allowed_upstreams": ["*"], "scopes": ["read"]}]}}}`)
	tests := []struct {
		name, loaded string
		want         []string
	}{
		{"nothing", `{"gateway": {"listen": "127.0.0.1:1", "log": {"level": "info"}, "auth": {"api_keys": [{"key": "k1", "owner": "a", "allowed_upstreams": ["*"], "scopes": ["read"]}]}}}`, nil},
		{"keys reload", `{"gateway": {"listen": "127.0.0.1:1", "log": {"level": "info"}, "auth": {"api_keys": [{"key": "k2", "owner": "b", "allowed_upstreams": ["*"], "scopes": ["read"]}]}}}`, nil},
		{"listen and log", `{"gateway": {"listen": "127.0.0.1:2", "log": {"level": "debug"}, "auth": {"api_keys": [{"key": "k1", "owner": "a", "allowed_upstreams": ["*"], "scopes": ["read"]}]}}}`,
			[]string{"gateway.listen", "gateway.log"}},
		{"local identity reloads", `{"gateway": {"listen": "127.0.0.1:1", "log": {"level": "info"}, "auth": {"api_keys": [{"key": "k1", "owner": "a", "allowed_upstreams": ["*"], "scopes": ["read"]}], "local": {"owner": "me"}}}}`,
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loaded := mustParse(t, tt.loaded)
			keys := loaded.Gateway.Auth.APIKeys
			assert.Equal(t, tt.want, KeepRestartOnly(running, loaded))
			assert.Equal(t, running.Gateway.Listen, loaded.Gateway.Listen, "the running value is kept")
			assert.Equal(t, running.Gateway.Log, loaded.Gateway.Log)
			assert.Equal(t, keys, loaded.Gateway.Auth.APIKeys, "what reloads is left as loaded")
		})
	}
}
