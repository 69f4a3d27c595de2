package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	t.Run("valid", func(t *testing.T) {
		c, err := Load(write("ok.json", `{"mcpServers": {"a": {"command": "x"}}}`))
		require.NoError(t, err)
		assert.Equal(t, "stdio", c.MCPServers["a"].Transport)
	})
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(dir, "nope.json")
		_, err := Load(p)
		require.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), p)
	})
	t.Run("directory", func(t *testing.T) {
		_, err := Load(dir)
		require.Error(t, err)
		assert.Contains(t, err.Error(), dir)
	})
	t.Run("syntax error", func(t *testing.T) {
		p := write("syntax.json", "{\n  \"a\": ,\n}")
		_, err := Load(p)
		require.ErrorIs(t, err, ErrSyntax)
		assert.EqualError(t, err, p+": line 2, column 8: invalid character ',' looking for beginning of value")
	})
	t.Run("every line names the file", func(t *testing.T) {
		p := write("bad.json", `{"gatway": {}, "mcpServers": {"a": {}}}`)
		_, err := Load(p)
		require.ErrorIs(t, err, ErrUnknownKey)
		require.ErrorIs(t, err, ErrRequired)
		assert.Equal(t, []string{
			p + `: gatway: unknown key, did you mean "gateway"?`,
			p + `: mcpServers.a: needs "command" (stdio) or "url" (http, sse)`,
		}, errLines(err))
		var fe *FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "gatway", fe.Path)
	})
	t.Run("reads the environment", func(t *testing.T) {
		t.Setenv("MCP_GATEWAY_TEST_URL", "https://env.example/mcp")
		c, err := Load(write("env.json", `{"mcpServers": {"a": {"url": "${MCP_GATEWAY_TEST_URL}"}}}`))
		require.NoError(t, err)
		assert.Equal(t, "https://env.example/mcp", c.MCPServers["a"].URL)
	})
}

func TestFind(t *testing.T) {
	tests := []struct {
		name    string
		files   []string // created in the working directory; a trailing "/" makes a directory
		flag    string
		env     string
		want    string
		wantErr []string // substrings of the error
	}{
		{name: "flag wins", files: []string{"a.json", "b.json", "mcp-gateway.json"}, flag: "a.json", env: "b.json", want: "a.json"},
		{name: "then the variable", files: []string{"b.json", "mcp-gateway.json"}, env: "b.json", want: "b.json"},
		{name: "then the working directory", files: []string{"mcp-gateway.json"}, want: "mcp-gateway.json"},
		{name: "a missing flag file does not fall back", files: []string{"mcp-gateway.json"}, flag: "a.json",
			wantErr: []string{"--config", "a.json"}},
		{name: "a missing variable file does not fall back", files: []string{"mcp-gateway.json"}, env: "b.json",
			wantErr: []string{"$MCP_GATEWAY_CONFIG", "b.json"}},
		{name: "a directory", files: []string{"d/"}, flag: "d", wantErr: []string{"--config", "d is a directory"}},
		{name: "nothing", wantErr: []string{"--config (not given)", "$MCP_GATEWAY_CONFIG (not set)", "./mcp-gateway.json (does not exist)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			t.Setenv(EnvConfig, tc.env)
			for _, f := range tc.files {
				if d, ok := strings.CutSuffix(f, "/"); ok {
					require.NoError(t, os.Mkdir(d, 0o700))
					continue
				}
				require.NoError(t, os.WriteFile(f, []byte("{}"), 0o600))
			}
			got, err := Find(tc.flag)
			if tc.wantErr != nil {
				require.Error(t, err)
				for _, s := range tc.wantErr {
					assert.Contains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	t.Run("nothing is ErrNotExist", func(t *testing.T) {
		t.Chdir(t.TempDir())
		t.Setenv(EnvConfig, "")
		_, err := Find("")
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
}
