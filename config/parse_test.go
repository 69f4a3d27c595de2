package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseString(s string, env map[string]string) (*Config, error) {
	return ParseEnv(strings.NewReader(s), lookupIn(env))
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "command infers stdio and defaults",
			in:   `{"mcpServers": {"everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]}}}`,
			check: func(t *testing.T, c *Config) {
				u := c.MCPServers["everything"]
				require.NotNil(t, u)
				assert.Equal(t, &Upstream{
					Name: "everything", Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-everything"},
					Transport: "stdio", Timeout: Duration(60 * time.Second), Isolation: "shared",
					InitTimeout: Duration(DefaultInitTimeout),
				}, u)
				assert.Equal(t, "everything", u.ExposedPrefix())
				assert.Equal(t, Default().Gateway, c.Gateway)
			},
		},
		{
			name: "url infers http",
			in:   `{"mcpServers": {"n": {"url": "https://mcp.notion.com/mcp"}}}`,
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, "http", c.MCPServers["n"].Transport)
			},
		},
		{
			name: "transport aliases",
			in: `{"mcpServers": {
				"a": {"url": "https://x.example", "transport": "streamable-http"},
				"b": {"url": "https://x.example", "transport": "streamableHttp"},
				"c": {"url": "https://x.example", "transport": "streamable_http"},
				"d": {"url": "https://x.example", "type": "HTTP"},
				"e": {"url": "https://x.example", "type": "sse"},
				"f": {"command": "x", "type": "stdio"},
				"g": {"url": "https://x.example", "type": "http", "transport": "streamable-http"}}}`,
			check: func(t *testing.T, c *Config) {
				want := map[string]string{"a": "http", "b": "http", "c": "http", "d": "http", "e": "sse", "f": "stdio", "g": "http"}
				for name, tr := range want {
					assert.Equal(t, tr, c.MCPServers[name].Transport, name)
					assert.Empty(t, c.MCPServers[name].Ignored, name)
				}
			},
		},
		{
			name: "unknown keys in an entry are ignored, sorted and not expanded",
			in:   `{"mcpServers": {"a": {"command": "x", "zeta": 1, "autoApprove": [], "envFile": "${UNSET}/.env", "alwaysAllow": ["t"]}}}`,
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, []string{"alwaysAllow", "autoApprove", "envFile", "zeta"}, c.MCPServers["a"].Ignored)
			},
		},
		{
			name: "client top-level keys are ignored",
			in:   `{"globalShortcut": "Alt+Space", "inputs": [{"id": "${input:x}"}], "preferences": {"a": 1}, "mcpServers": {}}`,
			check: func(t *testing.T, c *Config) {
				assert.Empty(t, c.MCPServers)
			},
		},
		{
			name: "env and header keys are kept as written",
			in:   `{"mcpServers": {"a": {"url": "https://x.example", "headers": {"x-api-key": "k", "AUTHORIZATION": "b"}}, "b": {"command": "x", "env": {"lower_key": "v", "Mixed": "w"}}}}`,
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, map[string]string{"x-api-key": "k", "AUTHORIZATION": "b"}, c.MCPServers["a"].Headers)
				assert.Equal(t, map[string]string{"lower_key": "v", "Mixed": "w"}, c.MCPServers["b"].Env)
			},
		},
		{
			name:  "byte order mark",
			in:    "\ufeff{\"mcpServers\": {\"a\": {\"command\": \"x\"}}}",
			check: func(t *testing.T, c *Config) { assert.Contains(t, c.MCPServers, "a") },
		},
		{
			name:  "empty object",
			in:    `{}`,
			check: func(t *testing.T, c *Config) { assert.Equal(t, Default(), c) },
		},
		{
			name:  "empty and null mcpServers",
			in:    `{"mcpServers": null, "gateway": {}}`,
			check: func(t *testing.T, c *Config) { assert.Equal(t, Default(), c) },
		},
		{
			name: "null fields are unset, empty strings take defaults",
			in:   `{"mcpServers": {"a": {"command": "x", "prefix": null, "timeout": null, "isolation": ""}}, "gateway": {"listen": "", "log": {"level": null}}}`,
			check: func(t *testing.T, c *Config) {
				u := c.MCPServers["a"]
				assert.Nil(t, u.Prefix)
				assert.Equal(t, DefaultTimeout, u.Timeout.D())
				assert.Equal(t, "shared", u.Isolation)
				assert.Equal(t, Default().Gateway, c.Gateway)
			},
		},
		{
			name: "prefixes",
			in: `{"mcpServers": {"my server": {"command": "x"}, "u": {"command": "x", "prefix": ""},
				"p": {"command": "x", "prefix": "a_b-c_D9"}, "l": {"command": "x", "prefix": "abcdefghijklmnopqrstuvwxyz012345"}}}`,
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, "my-server", c.MCPServers["my server"].ExposedPrefix())
				assert.Equal(t, ptr(""), c.MCPServers["u"].Prefix)
				assert.Equal(t, "a_b-c_D9", c.MCPServers["p"].ExposedPrefix())
				assert.Len(t, c.MCPServers["l"].ExposedPrefix(), MaxPrefixLen)
			},
		},
		{
			name: "disabled entries need nothing and do not collide",
			in:   `{"mcpServers": {"a": {"command": "x", "prefix": "p"}, "b": {"disabled": true, "prefix": "p"}, "c": {"disabled": true, "command": "x", "url": "https://x.example"}}}`,
			check: func(t *testing.T, c *Config) {
				require.Len(t, c.Enabled(), 1)
				assert.Equal(t, "a", c.Enabled()[0].Name)
			},
		},
		{
			name: "variables expand in every string value",
			env:  map[string]string{"TOKEN": "t0k", "EMPTY": "", "HOST": "mcp.example.com", "T": "45s"},
			in: `{"mcpServers": {"a": {
				"url": "https://${HOST}/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}, "timeout": "${T}",
				"prefix": "${P:-pre}", "tags": ["${EMPTY:-none}"], "tools": {"allow": ["${GLOB:-get*}"]}},
				"b": {"command": "${CMD:-npx}", "args": ["$$1", "$HOME", "a$", "${EMPTY}", "${TOKEN}${TOKEN}"], "env": {"K": "${MISSING:-}"}}},
				"gateway": {"listen": "${LISTEN:-127.0.0.1:9999}"}}`,
			check: func(t *testing.T, c *Config) {
				a, b := c.MCPServers["a"], c.MCPServers["b"]
				assert.Equal(t, "https://mcp.example.com/mcp", a.URL)
				assert.Equal(t, "Bearer t0k", a.Headers["Authorization"])
				assert.Equal(t, 45*time.Second, a.Timeout.D())
				assert.Equal(t, "pre", a.ExposedPrefix())
				assert.Equal(t, []string{"none"}, a.Tags)
				assert.Equal(t, []string{"get*"}, a.Tools.Allow)
				assert.Equal(t, "npx", b.Command)
				assert.Equal(t, []string{"$1", "$HOME", "a$", "", "t0kt0k"}, b.Args)
				assert.Equal(t, "", b.Env["K"])
				assert.Equal(t, "127.0.0.1:9999", c.Gateway.Listen)
			},
		},
		{
			name: "gateway settings",
			in: `{"gateway": {"listen": ":8081", "allowed_origins": ["https://claude.ai", "http://[::1]:3000", "vscode-webview://x"],
				"session_idle_timeout": "1h", "shutdown_grace": "1s", "max_body_bytes": 1024, "log": {"level": "warn", "format": "json"}}}`,
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, Gateway{
					Listen: ":8081", AllowedOrigins: []string{"https://claude.ai", "http://[::1]:3000", "vscode-webview://x"},
					SessionIdleTimeout: Duration(time.Hour), ShutdownGrace: Duration(time.Second), MaxBodyBytes: 1024,
					Log: Log{Level: "warn", Format: "json"}, Limits: defaultLimits,
				}, c.Gateway)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseString(tc.in, tc.env)
			require.NoError(t, err)
			tc.check(t, c)
			for name, u := range c.MCPServers {
				assert.Equal(t, name, u.Name)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		env  map[string]string
		want []string
		is   error
	}{
		{"empty input", ``, nil, []string{"line 1, column 1: unexpected end of JSON input"}, ErrSyntax},
		{"syntax error position", "{\n  \"mcpServers\": {\n    \"a\": {\"command\" \"x\"}\n}}", nil,
			[]string{"line 3, column 21: invalid character '\"' after object key"}, ErrSyntax},
		{"trailing data", `{} {}`, nil, []string{"line 1, column 4: invalid character '{' after top-level value"}, ErrSyntax},
		{"root is a string", `"x"`, nil, []string{"the config must be a JSON object, got a string"}, ErrType},
		{"root is null", `null`, nil, []string{"the config must be a JSON object, got null"}, ErrType},
		{"mcpServers not an object", `{"mcpServers": [], "gateway": true}`, nil,
			[]string{"gateway: must be an object, got a boolean", "mcpServers: must be an object, got an array"}, ErrType},
		{"unknown top-level key", `{"mcpServer": {}}`, nil, []string{`mcpServer: unknown key, did you mean "mcpServers"?`}, ErrUnknownKey},
		{"unknown key without suggestion", `{"zzz": 1}`, nil, []string{"zzz: unknown key"}, ErrUnknownKey},
		{"unknown key differing in style", `{"gateway": {"allowedOrigins": []}}`, nil,
			[]string{`gateway.allowedOrigins: unknown key, did you mean "allowed_origins"?`}, ErrUnknownKey},
		{"unknown nested key", `{"gateway": {"log": {"levle": "info"}}}`, nil,
			[]string{`gateway.log.levle: unknown key, did you mean "level"?`}, ErrUnknownKey},
		{"unknown key under an entry's tools", `{"mcpServers": {"a": {"command": "x", "tools": {"alow": []}}}}`, nil,
			[]string{`mcpServers.a.tools.alow: unknown key, did you mean "allow"?`}, ErrUnknownKey},
		{"quoted path", `{"mcpServers": {"my server": {"url": "mcp.example.com"}}}`, nil,
			[]string{`mcpServers["my server"].url: must be an absolute http or https URL`}, ErrInvalidValue},
		{"quoted path with quote", `{"mcpServers": {"a\"b": {"url": "/mcp"}}}`, nil,
			[]string{`mcpServers["a\"b"].url: must be an absolute http or https URL`}, ErrInvalidValue},
		{"unset variable", `{"mcpServers": {"notion": {"url": "https://x.example", "headers": {"Authorization": "Bearer ${NOTION_TOKEN}"}}}}`, nil,
			[]string{"mcpServers.notion.headers.Authorization: environment variable NOTION_TOKEN is not set"}, ErrUnsetVariable},
		{"unset variable leaves no second error", `{"mcpServers": {"a": {"url": "${URL}"}}}`, nil,
			[]string{"mcpServers.a.url: environment variable URL is not set"}, ErrUnsetVariable},
		{"malformed reference", `{"gateway": {"listen": "${LISTEN"}}`, nil,
			[]string{`gateway.listen: unterminated "${": write "$$" for a literal "$"`}, ErrInvalidValue},
		{"duration as number", `{"gateway": {"shutdown_grace": 10}}`, nil,
			[]string{`gateway.shutdown_grace: durations are strings like "30s"`}, ErrType},
		{"zero duration", `{"mcpServers": {"a": {"command": "x", "timeout": "0s"}}}`, nil,
			[]string{"mcpServers.a.timeout: must be greater than zero"}, ErrInvalidValue},
		{"negative duration", `{"gateway": {"session_idle_timeout": "-1m"}}`, nil,
			[]string{"gateway.session_idle_timeout: must not be negative"}, ErrInvalidValue},
		{"negative body cap", `{"gateway": {"max_body_bytes": -1}}`, nil,
			[]string{"gateway.max_body_bytes: must be greater than zero"}, ErrInvalidValue},
		{"fractional body cap", `{"gateway": {"max_body_bytes": 1.5}}`, nil,
			[]string{"gateway.max_body_bytes: must be a whole number"}, ErrInvalidValue},
		{"duplicate key", `{"mcpServers": {"a": {"command": "x", "command": "y"}}}`, nil,
			[]string{"mcpServers.a.command: duplicate key"}, ErrDuplicateKey},
		{"type disagrees with transport", `{"mcpServers": {"a": {"url": "https://x.example", "type": "sse", "transport": "http"}}}`, nil,
			[]string{`mcpServers.a.type: disagrees with "transport"; set only one of them`}, ErrConflict},
		{"unknown transport", `{"mcpServers": {"a": {"url": "https://x.example", "transport": "websocket"}}}`, nil,
			[]string{`mcpServers.a.transport: must be "stdio", "http" or "sse"`}, ErrInvalidValue},
		{"sse needs url", `{"mcpServers": {"a": {"command": "x", "transport": "sse"}}}`, nil,
			[]string{`mcpServers.a.transport: "sse" needs "url", not "command"`}, ErrConflict},
		{"neither command nor url", `{"mcpServers": {"a": {"args": ["x"]}}}`, nil,
			[]string{`mcpServers.a: needs "command" (stdio) or "url" (http, sse)`}, ErrRequired},
		{"hint at a misspelled url", `{"mcpServers": {"a": {"serverUrl": "https://x.example"}}}`, nil,
			[]string{`mcpServers.a: needs "command" (stdio) or "url" (http, sse) (the ignored key "serverUrl" looks like "url")`}, ErrRequired},
		{"required and disabled", `{"mcpServers": {"a": {"command": "x", "required": true, "disabled": true}}}`, nil,
			[]string{`mcpServers.a: "required" and "disabled" are both true`}, ErrConflict},
		{"url without host", `{"mcpServers": {"a": {"url": "https://"}}}`, nil,
			[]string{"mcpServers.a.url: must be an absolute http or https URL"}, ErrInvalidValue},
		{"listen without port", `{"gateway": {"listen": "localhost"}}`, nil,
			[]string{`gateway.listen: must be host:port, like "127.0.0.1:8080"`}, ErrInvalidValue},
		{"listen with named port", `{"gateway": {"listen": "localhost:http"}}`, nil,
			[]string{`gateway.listen: must be host:port, like "127.0.0.1:8080"`}, ErrInvalidValue},
		{"listen port out of range", `{"gateway": {"listen": "127.0.0.1:65536"}}`, nil,
			[]string{`gateway.listen: must be host:port, like "127.0.0.1:8080"`}, ErrInvalidValue},
		{"origins", `{"gateway": {"allowed_origins": ["https://ok.example", "https://x.example/", "x.example", "https://u@x.example", "*", "http://x:"]}}`, nil,
			[]string{
				`gateway.allowed_origins[1]: must be "scheme://host[:port]" with no path`,
				`gateway.allowed_origins[2]: must be "scheme://host[:port]" with no path`,
				`gateway.allowed_origins[3]: must be "scheme://host[:port]" with no path`,
				`gateway.allowed_origins[4]: must be "scheme://host[:port]" with no path`,
				`gateway.allowed_origins[5]: must be "scheme://host[:port]" with no path`,
			}, ErrInvalidValue},
		{"header injection", `{"mcpServers": {"a": {"url": "https://x.example", "headers": {"X-A": "${V}", "Bad Name": "v"}}}}`,
			map[string]string{"V": "v\r\nX-Evil: 1"},
			[]string{`mcpServers.a.headers["Bad Name"]: invalid header name`, `mcpServers.a.headers["X-A"]: must not contain line breaks or NUL`}, ErrInvalidValue},
		{"env names", `{"mcpServers": {"a": {"command": "x", "env": {"A=B": "v", "": "w", "C": "\u0000"}}}}`, nil,
			[]string{
				`mcpServers.a.env.C: must not contain NUL`,
				`mcpServers.a.env[""]: invalid variable name: must be non-empty, without "=" or NUL`,
				`mcpServers.a.env["A=B"]: invalid variable name: must be non-empty, without "=" or NUL`,
			}, ErrInvalidValue},
		{"prefix syntax", `{"mcpServers": {"a": {"command": "x", "prefix": "a__b"}, "b": {"command": "x", "prefix": "b_"}, "c": {"command": "x", "prefix": "c.d"}}}`, nil,
			[]string{
				`mcpServers.a.prefix: must be letters, digits and "-", in groups joined by single "_"`,
				`mcpServers.b.prefix: must be letters, digits and "-", in groups joined by single "_"`,
				`mcpServers.c.prefix: must be letters, digits and "-", in groups joined by single "_"`,
			}, ErrInvalidValue},
		{"prefix too long", `{"mcpServers": {"a": {"command": "x", "prefix": "abcdefghijklmnopqrstuvwxyz0123456"}}}`, nil,
			[]string{"mcpServers.a.prefix: must be at most 32 characters"}, ErrInvalidValue},
		{"explicit prefix collides with a default one", `{"mcpServers": {"github": {"command": "x"}, "gh": {"command": "x", "prefix": "github"}}}`, nil,
			[]string{`mcpServers.github: mcpServers.gh has the same exposed prefix: set a distinct "prefix" on one of them`}, ErrConflict},
		{"bad glob", `{"mcpServers": {"a": {"command": "x", "tools": {"deny": ["ok*", "[z"]}}}}`, nil,
			[]string{"mcpServers.a.tools.deny[1]: invalid glob pattern (see Go's path.Match)"}, ErrInvalidValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseString(tc.in, tc.env)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Equal(t, tc.want, errLines(err))
			assert.ErrorIs(t, err, tc.is)
			if !errors.Is(err, ErrSyntax) && c == nil {
				var fe *FieldError
				assert.ErrorAs(t, err, &fe)
			}
		})
	}
}

// TestSecretsStayOutOfErrors feeds a canary value through every checked string and checks that
// no error message repeats it.
func TestSecretsStayOutOfErrors(t *testing.T) {
	const canary = "CANARY-sk-9f8e7d"
	env := map[string]string{
		"S":      canary,
		"SNL":    canary + "\n",
		"SPATH":  "https://" + canary + ".example/mcp/\x00",
		"SPRE":   "sk" + canary,
		"SGLOB":  "[" + canary,
		"SSPACE": canary + " x",
	}
	inputs := map[string]string{
		"every field": `{"mcpServers": {
			"a": {"url": "${S}", "timeout": "${S}", "transport": "${S}", "isolation": "${S}", "prefix": "${SSPACE}",
				"headers": {"H": "${SNL}"}, "tools": {"allow": ["${SGLOB}"]}, "type": "${SPRE}"},
			"b": {"command": "${SPATH}", "args": ["${SPATH}"], "env": {"E": "${SPATH}"}, "cwd": "${SPATH}", "prefix": "${SPRE}"},
			"c": {"command": "x", "prefix": "${SPRE}"}},
			"gateway": {"listen": "${S}", "allowed_origins": ["${SPATH}"], "session_idle_timeout": "${S}",
				"log": {"level": "${S}", "format": "${S}"}}}`,
		"literal values": `{"mcpServers": {"a": {"url": "CANARY-sk-9f8e7d", "timeout": "CANARY-sk-9f8e7d", "required": "CANARY-sk-9f8e7d",
			"args": ["${CANARY-sk-9f8e7d}", "${CANARY-sk-9f8e7d"], "env": {"A": "${X:CANARY-sk-9f8e7d}"}}},
			"gateway": {"max_body_bytes": "CANARY-sk-9f8e7d", "listen": "CANARY-sk-9f8e7d"}}`,
		"syntax error inside a value": `{"mcpServers": {"a": {"url": "CANARY-sk-9f8e7d`,
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			_, err := parseString(in, env)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "CANARY")
		})
	}
}
