package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidate covers configs built in code: Validate takes unset fields as unset, and never
// needs Parse's defaults.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		c    *Config
		want []string
	}{
		{name: "zero config", c: &Config{}},
		{name: "no defaults needed", c: &Config{MCPServers: map[string]*Upstream{"a": {Command: "x"}, "b": {URL: "https://x.example", Transport: "streamable-http"}}}},
		{name: "nil upstream", c: &Config{MCPServers: map[string]*Upstream{"a": nil}}, want: []string{"mcpServers.a: must be an object, got null"}},
		{name: "negative durations", c: &Config{
			MCPServers: map[string]*Upstream{"a": {Command: "x", Timeout: Duration(-time.Second)}},
			Gateway:    Gateway{SessionIdleTimeout: -1, ShutdownGrace: -1, MaxBodyBytes: -1},
		}, want: []string{
			"gateway.max_body_bytes: must be greater than zero",
			"gateway.session_idle_timeout: must not be negative",
			"gateway.shutdown_grace: must not be negative",
			"mcpServers.a.timeout: must not be negative",
		}},
		{name: "prefix collision uses the key when Name is unset", c: &Config{MCPServers: map[string]*Upstream{
			"a": {Command: "x"}, "b": {Command: "x", Prefix: ptr("a")},
		}}, want: []string{`mcpServers.b.prefix: mcpServers.a has the same exposed prefix: set a distinct "prefix" on one of them`}},
		{name: "three unprefixed", c: &Config{MCPServers: map[string]*Upstream{
			"a": {Command: "x", Prefix: ptr("")}, "b": {Command: "x", Prefix: ptr("")}, "c": {Command: "x", Prefix: ptr("")},
		}}, want: []string{
			`mcpServers.b.prefix: mcpServers.a also has prefix "": only one upstream may expose its names unprefixed`,
			`mcpServers.c.prefix: mcpServers.a also has prefix "": only one upstream may expose its names unprefixed`,
		}},
		{name: "invalid prefixes do not also collide", c: &Config{MCPServers: map[string]*Upstream{
			"a": {Command: "x", Prefix: ptr("p__q")}, "b": {Command: "x", Prefix: ptr("p__q")},
		}}, want: []string{
			`mcpServers.a.prefix: must be letters, digits and "-", in groups joined by single "_"`,
			`mcpServers.b.prefix: must be letters, digits and "-", in groups joined by single "_"`,
		}},
		{name: "stdio with url", c: &Config{MCPServers: map[string]*Upstream{"a": {URL: "https://x.example", Transport: "stdio"}}},
			want: []string{`mcpServers.a.transport: "stdio" needs "command", not "url"`}},
		{name: "unknown enums", c: &Config{
			MCPServers: map[string]*Upstream{"a": {Command: "x", Transport: "ws", Isolation: "tenant"}},
			Gateway:    Gateway{Log: Log{Level: "trace", Format: "yaml"}},
		}, want: []string{
			`gateway.log.format: must be "text" or "json"`,
			`gateway.log.level: must be "debug", "info", "warn" or "error"`,
			`mcpServers.a.isolation: must be "shared" or "session"`,
			`mcpServers.a.transport: must be "stdio", "http" or "sse"`,
		}},
		{name: "NUL in process settings", c: &Config{MCPServers: map[string]*Upstream{"a": {Command: "x\x00", Args: []string{"ok", "\x00"}, Cwd: "\x00"}}},
			want: []string{
				"mcpServers.a.args[1]: must not contain NUL",
				"mcpServers.a.command: must not contain NUL",
				"mcpServers.a.cwd: must not contain NUL",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, tc.want, errLines(err))
		})
	}
}

func TestValidateDoesNotModify(t *testing.T) {
	c := &Config{MCPServers: map[string]*Upstream{"a": {Command: "x", Transport: "streamableHttp"}}}
	require.Error(t, c.Validate())
	assert.Equal(t, &Config{MCPServers: map[string]*Upstream{"a": {Command: "x", Transport: "streamableHttp"}}}, c)
}
