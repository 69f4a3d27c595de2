package clientconfig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var linuxEnv = Env{GOOS: "linux", Home: "/home/ann", Workspace: "/home/ann/proj"}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestLocations(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client Client
		env    Env
		want   []string
	}{
		{"claude macOS", Claude, Env{GOOS: "darwin", Home: "/Users/ann"},
			[]string{"/Users/ann/Library/Application Support/Claude/claude_desktop_config.json"}},
		{"claude Windows", Claude, Env{GOOS: "windows", Home: `C:\Users\ann`, AppData: `C:\Users\ann\AppData\Roaming`},
			[]string{`C:\Users\ann\AppData\Roaming\Claude\claude_desktop_config.json`}},
		{"claude Windows without APPDATA", Claude, Env{GOOS: "windows", Home: `C:\Users\ann`},
			[]string{`C:\Users\ann\AppData\Roaming\Claude\claude_desktop_config.json`}},
		{"claude Linux", Claude, Env{GOOS: "linux", Home: "/home/ann"},
			[]string{"/home/ann/.config/Claude/claude_desktop_config.json"}},
		{"claude Linux XDG", Claude, Env{GOOS: "linux", Home: "/home/ann", ConfigHome: "/xdg"},
			[]string{"/xdg/Claude/claude_desktop_config.json"}},
		{"cursor macOS with workspace", Cursor, Env{GOOS: "darwin", Home: "/Users/ann", Workspace: "/Users/ann/p"},
			[]string{"/Users/ann/.cursor/mcp.json", "/Users/ann/p/.cursor/mcp.json"}},
		{"cursor Windows", Cursor, Env{GOOS: "windows", Home: `C:\Users\ann`},
			[]string{`C:\Users\ann\.cursor\mcp.json`}},
		{"vscode macOS", VSCode, Env{GOOS: "darwin", Home: "/Users/ann", Workspace: "/w"},
			[]string{"/Users/ann/Library/Application Support/Code/User/mcp.json", "/Users/ann/Library/Application Support/Code/User/settings.json", "/w/.vscode/mcp.json"}},
		{"vscode Windows", VSCode, Env{GOOS: "windows", Home: `C:\Users\ann`, AppData: `D:\Roaming`},
			[]string{`D:\Roaming\Code\User\mcp.json`, `D:\Roaming\Code\User\settings.json`}},
		{"vscode Linux", VSCode, Env{GOOS: "linux", Home: "/home/ann"},
			[]string{"/home/ann/.config/Code/User/mcp.json", "/home/ann/.config/Code/User/settings.json"}},
		{"windsurf Linux", Windsurf, Env{GOOS: "linux", Home: "/home/ann"},
			[]string{"/home/ann/.codeium/windsurf/mcp_config.json"}},
		{"windsurf Windows", Windsurf, Env{GOOS: "windows", Home: `C:\Users\ann`},
			[]string{`C:\Users\ann\.codeium\windsurf\mcp_config.json`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, l := range Locations(tc.client, tc.env) {
				got = append(got, l.Path)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// entries returns the gateway entries of src by name, as JSON.
func entries(t *testing.T, src *Source) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range src.Servers {
		switch {
		case s.Skipped != "":
			out[s.Name] = "skipped: " + s.Skipped
		default:
			out[s.Name] = string(marshal(s.Entry))
		}
	}
	return out
}

func TestParseClientFiles(t *testing.T) {
	for _, tc := range []struct {
		file    string
		loc     Location
		want    map[string]string
		dropped map[string][]string
		disable map[string]string
		inputs  []string
	}{
		{file: "claude_desktop_config.json", loc: Location{Client: Claude, Shape: ShapeMCPServers},
			want: map[string]string{
				"filesystem": `{"command":"npx","args":["-y","@modelcontextprotocol/server-filesystem","/Users/ann/Desktop"]}`,
				"github":     `{"command":"docker","args":["run","-i","--rm","-e","GITHUB_PERSONAL_ACCESS_TOKEN","ghcr.io/github/github-mcp-server"],"env":{"GITHUB_PERSONAL_ACCESS_TOKEN":"ghp_literal","PRICE":"$$$5"}}`,
				"broken":     "skipped: args[2] is not a string",
			}},
		{file: "cursor_mcp.json", loc: Location{Client: Cursor, Shape: ShapeMCPServers},
			want: map[string]string{
				"filesystem": `{"command":"npx","args":["-y","@modelcontextprotocol/server-filesystem","/Users/ann/Desktop"]}`,
				"notion":     `{"url":"https://mcp.notion.com/mcp","headers":{"Authorization":"Bearer ${NOTION_TOKEN}"}}`,
				"local-tool": `{"command":"/home/ann/bin/tool"}`,
			},
			dropped: map[string][]string{"local-tool": {"autoApprove", "envFile"}}},
		{file: "vscode_mcp.json", loc: Location{Client: VSCode, Shape: ShapeServers, Workspace: "/home/ann/proj"},
			want: map[string]string{
				"github":     `{"url":"https://api.githubcopilot.com/mcp/","headers":{"Authorization":"Bearer ${MCP_INPUT_GITHUB_TOKEN}"}}`,
				"playwright": `{"command":"npx","args":["@playwright/mcp@latest","--output-dir","/home/ann/proj/out"]}`,
				"legacy":     `{"url":"http://127.0.0.1:9000/sse","transport":"sse"}`,
				"ask":        `{"command":"tool","args":["$${command:pickFile}"],"disabled":true}`,
			},
			dropped: map[string][]string{"playwright": {"gallery"}},
			disable: map[string]string{"ask": "${command:pickFile} has no meaning outside the client"},
			inputs:  []string{"github-token=MCP_INPUT_GITHUB_TOKEN:GitHub Personal Access Token"}},
		{file: "vscode_mcp.json", loc: Location{Client: VSCode, Shape: ShapeServers},
			want: map[string]string{
				"github":     `{"url":"https://api.githubcopilot.com/mcp/","headers":{"Authorization":"Bearer ${MCP_INPUT_GITHUB_TOKEN}"}}`,
				"playwright": `{"command":"npx","args":["@playwright/mcp@latest","--output-dir","$${workspaceFolder}/out"],"disabled":true}`,
				"legacy":     `{"url":"http://127.0.0.1:9000/sse","transport":"sse"}`,
				"ask":        `{"command":"tool","args":["$${command:pickFile}"],"disabled":true}`,
			},
			dropped: map[string][]string{"playwright": {"gallery"}},
			disable: map[string]string{"playwright": "${workspaceFolder} has no meaning outside the client", "ask": "${command:pickFile} has no meaning outside the client"},
			inputs:  []string{"github-token=MCP_INPUT_GITHUB_TOKEN:GitHub Personal Access Token"}},
		{file: "vscode_settings.json", loc: Location{Client: VSCode, Shape: ShapeSettings},
			want: map[string]string{"time": `{"command":"uvx","args":["mcp-server-time","--local-timezone=Europe/Paris"]}`}},
		{file: "windsurf_mcp_config.json", loc: Location{Client: Windsurf, Shape: ShapeMCPServers},
			want: map[string]string{
				"notion":    `{"url":"https://mcp.notion.com/mcp","headers":{"Authorization":"Bearer ${NOTION_TOKEN}"}}`,
				"git":       `{"command":"uvx","args":["mcp-server-git"],"disabled":true}`,
				"my-server": `{"command":"theirs"}`,
			},
			dropped: map[string][]string{"git": {"disabledTools"}}},
		{file: "vscode_mcp.json", loc: Location{}, // shape detected
			want: map[string]string{
				"github":     `{"url":"https://api.githubcopilot.com/mcp/","headers":{"Authorization":"Bearer ${MCP_INPUT_GITHUB_TOKEN}"}}`,
				"playwright": `{"command":"npx","args":["@playwright/mcp@latest","--output-dir","$${workspaceFolder}/out"],"disabled":true}`,
				"legacy":     `{"url":"http://127.0.0.1:9000/sse","transport":"sse"}`,
				"ask":        `{"command":"tool","args":["$${command:pickFile}"],"disabled":true}`,
			},
			inputs: []string{"github-token=MCP_INPUT_GITHUB_TOKEN:GitHub Personal Access Token"}},
	} {
		t.Run(tc.file+"/"+string(tc.loc.Shape)+"/"+tc.loc.Workspace, func(t *testing.T) {
			src, err := Parse(tc.loc, fixture(t, tc.file), linuxEnv)
			require.NoError(t, err)
			assert.Equal(t, tc.want, entries(t, src))
			var order []string
			for _, s := range src.Servers {
				order = append(order, s.Name)
				if tc.dropped != nil {
					assert.Equal(t, tc.dropped[s.Name], s.Dropped, s.Name)
				}
				if tc.disable != nil {
					assert.Equal(t, tc.disable[s.Name], s.Disabled, s.Name)
				}
			}
			var inputs []string
			for _, in := range src.Inputs {
				inputs = append(inputs, in.ID+"="+in.Env+":"+in.Description)
			}
			assert.Equal(t, tc.inputs, inputs)
		})
	}
}

func TestParseOrderAndErrors(t *testing.T) {
	src, err := Parse(Location{Shape: ShapeMCPServers}, []byte(`{"mcpServers": {"z": {"command": "z"}, "a": {"command": "a"}, "m": {"url": "http://x"}}}`), linuxEnv)
	require.NoError(t, err)
	var names []string
	for _, s := range src.Servers {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"z", "a", "m"}, names, "file order")

	for _, tc := range []struct{ name, in, err string }{
		{"not JSON", `{"mcpServers": `, "syntax error"},
		{"unterminated comment", `{} /* x`, "unterminated /* comment"},
		{"array", `[]`, "not a JSON object"},
		{"servers not object", `{"mcpServers": []}`, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(Location{Shape: ShapeMCPServers}, []byte(tc.in), linuxEnv)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
	for _, tc := range []struct{ name, entry, skipped string }{
		{"both", `{"command": "x", "url": "http://y"}`, `both "command" and a URL`},
		{"neither", `{"args": ["x"]}`, `neither "command" nor a URL`},
		{"bad type", `{"command": "x", "type": "carrier-pigeon"}`, `unknown transport "carrier-pigeon"`},
		{"type mismatch", `{"command": "x", "type": "http"}`, `transport "http" does not fit`},
		{"env not string", `{"command": "x", "env": {"A": ["1"]}}`, `env.A is not a string`},
		{"not object", `"npx"`, "not a JSON object"},
		{"wrong type", `{"command": 7}`, "malformed entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := Parse(Location{Shape: ShapeMCPServers}, []byte(`{"mcpServers": {"s": `+tc.entry+`}}`), linuxEnv)
			require.NoError(t, err)
			require.Len(t, src.Servers, 1)
			assert.Contains(t, src.Servers[0].Skipped, tc.skipped)
		})
	}
}

func TestConvertVariables(t *testing.T) {
	vc := &varContext{env: Env{GOOS: "windows", Home: `C:\Users\ann`}, workspace: `C:\src\proj`, inputs: map[string]*Input{}, used: map[string]*Input{}}
	for _, tc := range []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "${env:TOKEN}", want: "${TOKEN}"},
		{in: "a ${env:A} b ${env:B_2}", want: "a ${A} b ${B_2}"},
		{in: "${input:api-key}", want: "${MCP_INPUT_API_KEY}"},
		{in: "${HOME}/x", want: "${HOME}/x"},
		{in: "${PORT:-8080}", want: "${PORT:-8080}"},
		{in: "${userHome}${pathSeparator}x", want: `C:\Users\ann\x`},
		{in: "${workspaceFolder}", want: `C:\src\proj`},
		{in: "${workspaceFolderBasename}", want: "proj"},
		{in: "cost $5", want: "cost $5"},
		{in: "$$", want: "$$$"},
		{in: "${env:not valid}", want: "$${env:not valid}", err: "has no meaning"},
		{in: "a ${config:editor.x} b", want: "a $${config:editor.x} b", err: "has no meaning"},
		{in: "${unterminated", want: "$${unterminated", err: "unterminated"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := vc.convert(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, got)
		})
	}
	assert.Equal(t, "MCP_INPUT_PATH", inputEnv("path"), "an input cannot read the gateway's own variables")
}

func parseAll(t *testing.T, files ...string) []*Source {
	var out []*Source
	for _, f := range files {
		client := map[string]Client{"claude_desktop_config.json": Claude, "cursor_mcp.json": Cursor, "vscode_mcp.json": VSCode,
			"vscode_settings.json": VSCode, "windsurf_mcp_config.json": Windsurf}[f]
		src, err := Parse(Location{Client: client, Workspace: linuxEnv.Workspace}, fixture(t, f), linuxEnv)
		require.NoError(t, err)
		out = append(out, src)
	}
	return out
}

func TestMerge(t *testing.T) {
	sources := parseAll(t, "claude_desktop_config.json", "cursor_mcp.json", "vscode_mcp.json", "vscode_settings.json", "windsurf_mcp_config.json")
	res, err := Merge(fixture(t, "gateway.json"), sources)
	require.NoError(t, err)
	require.True(t, res.Changed)
	var report []string
	for _, a := range res.Actions {
		report = append(report, string(a.Server.From.Client)+"/"+a.Server.Name+" "+string(a.Kind)+" "+a.Name+" "+a.Reason)
	}
	assert.Equal(t, []string{
		"claude/filesystem added filesystem ",
		"claude/github renamed github-claude " + `"github" is taken by a different server`,
		"claude/broken skipped  args[2] is not a string",
		"cursor/filesystem duplicate filesystem " + `the same server as "filesystem"`,
		"cursor/notion added notion ",
		"cursor/local-tool added local-tool ",
		"vscode/github renamed github-vscode " + `"github" is taken by a different server`,
		"vscode/playwright added playwright ",
		"vscode/legacy added legacy ",
		"vscode/ask added ask ",
		"vscode/time added time ",
		"windsurf/notion duplicate notion " + `the same server as "notion"`,
		"windsurf/git added git ",
		"windsurf/my-server renamed my-server-windsurf " + `its tool prefix "my-server" is taken by "my server"`,
	}, report)
	require.Len(t, res.Inputs, 1)
	assert.Equal(t, "MCP_INPUT_GITHUB_TOKEN", res.Inputs[0].Env)

	// The target's own members, their order and the gateway settings stay.
	var got struct {
		MCPServers map[string]json.RawMessage `json:"mcpServers"`
		Gateway    map[string]any             `json:"gateway"`
	}
	require.NoError(t, json.Unmarshal(res.Config, &got))
	assert.Equal(t, map[string]any{"listen": "127.0.0.1:8080"}, got.Gateway)
	assert.JSONEq(t, `{"url": "https://example.com/other-github/mcp"}`, string(got.MCPServers["github"]))
	assert.JSONEq(t, `{"url":"https://api.githubcopilot.com/mcp/","headers":{"Authorization":"Bearer ${MCP_INPUT_GITHUB_TOKEN}"}}`, string(got.MCPServers["github-vscode"]))
	assert.Less(t, strings.Index(string(res.Config), `"my server"`), strings.Index(string(res.Config), `"filesystem"`))
	assert.Len(t, got.MCPServers, 13)

	// Merging again adds nothing: every server is a duplicate.
	again, err := Merge(res.Config, sources)
	require.NoError(t, err)
	assert.False(t, again.Changed)
	assert.Equal(t, string(res.Config), string(again.Config))
	for _, a := range again.Actions {
		assert.Contains(t, []ActionKind{Duplicate, Skipped}, a.Kind, a.Server.Name)
	}

	// Deterministic: the same inputs give the same bytes.
	res2, err := Merge(fixture(t, "gateway.json"), parseAll(t, "claude_desktop_config.json", "cursor_mcp.json", "vscode_mcp.json", "vscode_settings.json", "windsurf_mcp_config.json"))
	require.NoError(t, err)
	assert.Equal(t, string(res.Config), string(res2.Config))
}

func TestMergeNewConfig(t *testing.T) {
	res, err := Merge(nil, parseAll(t, "claude_desktop_config.json"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"mcpServers": {
		"filesystem": {"command":"npx","args":["-y","@modelcontextprotocol/server-filesystem","/Users/ann/Desktop"]},
		"github": {"command":"docker","args":["run","-i","--rm","-e","GITHUB_PERSONAL_ACCESS_TOKEN","ghcr.io/github/github-mcp-server"],"env":{"GITHUB_PERSONAL_ACCESS_TOKEN":"ghp_literal","PRICE":"$$$5"}}}}`, string(res.Config))
	assert.Contains(t, string(res.Config), "\n    \"filesystem\": {\n      \"command\": \"npx\",", "indented like the file")

	// Renames never collide, however many servers share a name.
	var sources []*Source
	for range 3 {
		src, err := Parse(Location{Client: Cursor}, []byte(`{"mcpServers": {"a": {"command": "x`+strings.Repeat("y", len(sources))+`"}}}`), linuxEnv)
		require.NoError(t, err)
		sources = append(sources, src)
	}
	res, err = Merge([]byte(`{"mcpServers": {"a-cursor": {"command": "other"}}}`), sources)
	require.NoError(t, err)
	var names []string
	for _, a := range res.Actions {
		names = append(names, a.Name)
	}
	assert.Equal(t, []string{"a", "a-cursor-2", "a-cursor-3"}, names)
}

func TestMergeRefusesInvalidResult(t *testing.T) {
	_, err := Merge([]byte(`{"mcpServers": {}, "gateway": {"lisen": "x"}}`), parseAll(t, "claude_desktop_config.json"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gateway.lisen")
	_, err = Merge([]byte(`{"mcpServers": [}`), nil)
	require.Error(t, err)
}

func TestPlanInstall(t *testing.T) {
	e := Entry{Command: "/opt/mcp-gateway", Args: []string{"serve", "--config", "/home/ann/gw.json"}}
	for _, tc := range []struct {
		name     string
		client   Client
		in       string
		want     string
		replaced bool
		others   []string
	}{
		{name: "new claude file", client: Claude, in: "",
			want: "{\n  \"mcpServers\": {\n    \"mcp-gateway\": {\n      \"command\": \"/opt/mcp-gateway\",\n      \"args\": [\n        \"serve\",\n        \"--config\",\n        \"/home/ann/gw.json\"\n      ]\n    }\n  }\n}\n"},
		{name: "new vscode file", client: VSCode, in: "",
			want: "{\n  \"servers\": {\n    \"mcp-gateway\": {\n      \"type\": \"stdio\",\n      \"command\": \"/opt/mcp-gateway\",\n      \"args\": [\n        \"serve\",\n        \"--config\",\n        \"/home/ann/gw.json\"\n      ]\n    }\n  }\n}\n"},
		{name: "claude with others and unknown keys", client: Claude,
			in:     "{\n  \"globalShortcut\": \"Ctrl+Space\",\n  \"mcpServers\": {\n    \"z\": {\"command\": \"z\"},\n    \"a\": {\"command\": \"a\"}\n  },\n  \"zzz\": 1\n}\n",
			want:   "{\n  \"globalShortcut\": \"Ctrl+Space\",\n  \"mcpServers\": {\n    \"z\": {\"command\": \"z\"},\n    \"a\": {\"command\": \"a\"},\n    \"mcp-gateway\": {\n      \"command\": \"/opt/mcp-gateway\",\n      \"args\": [\n        \"serve\",\n        \"--config\",\n        \"/home/ann/gw.json\"\n      ]\n    }\n  },\n  \"zzz\": 1\n}\n",
			others: []string{"z", "a"}},
		{name: "no servers key yet, tabs", client: Cursor, in: "{\n\t\"other\": true\n}",
			want: "{\n\t\"other\": true,\n\t\"mcpServers\": {\n\t\t\"mcp-gateway\": {\n\t\t\t\"command\": \"/opt/mcp-gateway\",\n\t\t\t\"args\": [\n\t\t\t\t\"serve\",\n\t\t\t\t\"--config\",\n\t\t\t\t\"/home/ann/gw.json\"\n\t\t\t]\n\t\t}\n\t}\n}"},
		{name: "empty servers object", client: Cursor, in: `{"mcpServers": {}}`,
			want: "{\"mcpServers\": {\n  \"mcp-gateway\": {\n    \"command\": \"/opt/mcp-gateway\",\n    \"args\": [\n      \"serve\",\n      \"--config\",\n      \"/home/ann/gw.json\"\n    ]\n  }\n}}"},
		{name: "one-line object", client: Cursor, in: `{"mcpServers": {"a": {"command": "a"}}}`,
			want:   `{"mcpServers": {"a": {"command": "a"}, "mcp-gateway": {"command":"/opt/mcp-gateway","args":["serve","--config","/home/ann/gw.json"]}}}`,
			others: []string{"a"}},
		{name: "vscode JSONC: comments and trailing comma kept", client: VSCode,
			in:     "// mine\n{\n  \"servers\": {\n    \"a\": { \"command\": \"a\" }, // keep me\n  },\n  /* inputs */ \"inputs\": [],\n}\n",
			want:   "// mine\n{\n  \"servers\": {\n    \"a\": { \"command\": \"a\" }, // keep me\n    \"mcp-gateway\": {\n      \"type\": \"stdio\",\n      \"command\": \"/opt/mcp-gateway\",\n      \"args\": [\n        \"serve\",\n        \"--config\",\n        \"/home/ann/gw.json\"\n      ]\n    }\n  },\n  /* inputs */ \"inputs\": [],\n}\n",
			others: []string{"a"}},
		{name: "comment after the last member", client: Claude,
			in:     "{\"mcpServers\": {\n  \"a\": {\"command\": \"a\"} // note, with a comma\n}}",
			want:   "{\"mcpServers\": {\n  \"a\": {\"command\": \"a\"}, // note, with a comma\n  \"mcp-gateway\": {\n    \"command\": \"/opt/mcp-gateway\",\n    \"args\": [\n      \"serve\",\n      \"--config\",\n      \"/home/ann/gw.json\"\n    ]\n  }\n}}",
			others: []string{"a"}},
		{name: "CRLF", client: Claude, in: "{\r\n  \"mcpServers\": {\r\n    \"a\": {}\r\n  }\r\n}\r\n",
			want:   "{\r\n  \"mcpServers\": {\r\n    \"a\": {},\r\n    \"mcp-gateway\": {\n      \"command\": \"/opt/mcp-gateway\",\n      \"args\": [\n        \"serve\",\n        \"--config\",\n        \"/home/ann/gw.json\"\n      ]\n    }\r\n  }\r\n}\r\n",
			others: []string{"a"}},
		{name: "an older entry of the gateway is replaced in place", client: Claude,
			in:       "{\"mcpServers\": {\n  \"mcp-gateway\": {\"command\": \"/old\"},\n  \"b\": {}\n}}",
			want:     "{\"mcpServers\": {\n  \"mcp-gateway\": {\n    \"command\": \"/opt/mcp-gateway\",\n    \"args\": [\n      \"serve\",\n      \"--config\",\n      \"/home/ann/gw.json\"\n    ]\n  },\n  \"b\": {}\n}}",
			replaced: true, others: []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in []byte
			if tc.in != "" {
				in = []byte(tc.in)
			}
			out, changed, replaced, others, err := PlanInstall(tc.client, in, e)
			require.NoError(t, err)
			assert.True(t, changed)
			assert.Equal(t, tc.want, string(out))
			assert.Equal(t, tc.replaced, replaced)
			assert.Equal(t, tc.others, others)
			src, err := Parse(Location{Client: tc.client}, out, linuxEnv)
			require.NoError(t, err, "the result is still a readable client file")
			assert.Contains(t, entries(t, src), DefaultEntryName)

			again, changed, _, _, err := PlanInstall(tc.client, out, e)
			require.NoError(t, err)
			assert.False(t, changed, "a second install changes nothing")
			assert.Equal(t, string(out), string(again))
		})
	}
	_, _, _, _, err := PlanInstall(Claude, []byte(`{"mcpServers": 3}`), e)
	assert.Error(t, err)
	_, _, _, _, err = PlanInstall(Claude, []byte(`{"mcpServers": {`), e)
	assert.ErrorIs(t, err, ErrSyntax)
}

func TestInstallBackupAndIdempotence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Claude", "claude_desktop_config.json")
	e := Entry{Command: "/bin/gw", Args: []string{"serve", "--config", "/c.json"}}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

	res, err := Install(Claude, path, e, now)
	require.NoError(t, err)
	assert.True(t, res.Created)
	assert.True(t, res.Changed)
	assert.Empty(t, res.Backup, "nothing to back up")

	require.NoError(t, os.WriteFile(path, []byte(`{"mcpServers": {"other": {"command": "o"}}, "globalShortcut": "x"}`), 0o640))
	require.NoError(t, os.Chmod(path, 0o640))
	res, err = Install(Claude, path, e, now)
	require.NoError(t, err)
	assert.True(t, res.Changed)
	assert.Equal(t, path+".bak-20260304-050607", res.Backup)
	backup, err := os.ReadFile(res.Backup)
	require.NoError(t, err)
	assert.Equal(t, `{"mcpServers": {"other": {"command": "o"}}, "globalShortcut": "x"}`, string(backup))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "permissions kept")
	written, err := os.ReadFile(path)
	require.NoError(t, err)

	res, err = Install(Claude, path, e, now)
	require.NoError(t, err)
	assert.False(t, res.Changed)
	assert.Empty(t, res.Backup)
	again, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(written), string(again))
	matches, err := filepath.Glob(path + ".bak-*")
	require.NoError(t, err)
	assert.Len(t, matches, 1, "an unchanged file gets no backup")

	// A second change in the same second gets its own backup.
	e.Args = []string{"serve", "--config", "/other.json"}
	res, err = Install(Claude, path, e, now)
	require.NoError(t, err)
	assert.Equal(t, path+".bak-20260304-050607-2", res.Backup)
}

func TestInstallFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "mcp.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(target), 0o755))
	require.NoError(t, os.WriteFile(target, []byte(`{"mcpServers": {}}`), 0o600))
	link := filepath.Join(dir, "mcp.json")
	require.NoError(t, os.Symlink(target, link))
	_, err := Install(Cursor, link, Entry{Command: "/gw", Args: []string{"serve"}}, time.Now())
	require.NoError(t, err)
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSymlink, "the link stays a link")
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"mcp-gateway"`)
}

func TestStandardize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a": 1,}`, `{"a": 1 }`},
		{`[1, 2, ]`, `[1, 2  ]`},
		{"{\"a\": \"// not a comment\"} // one", "{\"a\": \"// not a comment\"}       "},
		{"/* a\nb */{}", "    \n    {}"},
		{`{"a": "\"/*"}`, `{"a": "\"/*"}`},
		{"{\"a\": 1, // x\n}", "{\"a\": 1      \n}"},
		{"\xef\xbb\xbf{}", "   {}"},
	} {
		got, _, err := standardize([]byte(tc.in))
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, string(got), tc.in)
		assert.True(t, json.Valid(got), tc.in)
	}
}
