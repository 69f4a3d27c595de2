package main

// Interop tests: the real gateway binary between software we did not write.
// The downstream client is the official TypeScript SDK (testdata/interop/
// client.mjs) and the upstreams are the npm reference servers
// (server-everything over stdio and streamable HTTP, server-memory,
// server-filesystem). See testdata/interop/README.md.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// interopDir is testdata/interop, relative to this package.
const interopDir = "../../testdata/interop"

// interopEnv is what every interop test needs: node, the absolute paths of
// the harness and its servers.
type interopEnv struct {
	node       string
	dir        string // absolute testdata/interop
	client     string // client.mjs
	loopback   string // loopback.cjs
	everything string // server-everything dist/index.js
	memory     string // server-memory dist/index.js
	filesystem string // server-filesystem dist/index.js
}

// needInterop skips under -short and without node, and fails when the npm
// packages are not installed: `make test` installs them, so their absence is
// a broken setup, not a reason to skip.
func needInterop(t *testing.T) *interopEnv {
	t.Helper()
	needBins(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("interop test: node is not on PATH (install Node.js >= 18 to run it)")
	}
	dir, err := filepath.Abs(interopDir)
	require.NoError(t, err)
	mcpDir := filepath.Join(dir, "node_modules", "@modelcontextprotocol")
	e := &interopEnv{
		node:       node,
		dir:        dir,
		client:     filepath.Join(dir, "client.mjs"),
		loopback:   filepath.Join(dir, "loopback.cjs"),
		everything: filepath.Join(mcpDir, "server-everything", "dist", "index.js"),
		memory:     filepath.Join(mcpDir, "server-memory", "dist", "index.js"),
		filesystem: filepath.Join(mcpDir, "server-filesystem", "dist", "index.js"),
	}
	for _, p := range []string{filepath.Join(mcpDir, "sdk", "package.json"), e.everything, e.memory, e.filesystem} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("interop npm packages are missing (%v): run make interop-deps", err)
		}
	}
	return e
}

// interopOutput is the one JSON object client.mjs prints.
type interopOutput struct {
	ServerInfo      *mcp.Implementation        `json:"serverInfo"`
	ProtocolVersion string                     `json:"protocolVersion"`
	Capabilities    map[string]json.RawMessage `json:"capabilities"`
	Tools           []string                   `json:"tools"`
	Resources       []string                   `json:"resources"`
	Templates       []string                   `json:"resourceTemplates"`
	Prompts         []string                   `json:"prompts"`
	Calls           []struct {
		Name   string              `json:"name"`
		Result *mcp.CallToolResult `json:"result"`
		Error  *interopError       `json:"error"`
	} `json:"calls"`
	Reads []struct {
		URI    string                  `json:"uri"`
		Result *mcp.ReadResourceResult `json:"result"`
		Error  *interopError           `json:"error"`
	} `json:"reads"`
	PromptsGot []struct {
		Name   string               `json:"name"`
		Result *mcp.GetPromptResult `json:"result"`
		Error  *interopError        `json:"error"`
	} `json:"prompts_got"`
	ListErrors     map[string]interopError `json:"listErrors"`
	ServerRequests []string                `json:"serverRequests"`
	Notifications  []string                `json:"notifications"`
}

type interopError struct {
	Code    *int            `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// interopSpec is client.mjs's --spec.
type interopSpec struct {
	Call   []interopSpecCall   `json:"call,omitempty"`
	Read   []string            `json:"read,omitempty"`
	Prompt []interopSpecPrompt `json:"prompt,omitempty"`
	Roots  []map[string]string `json:"roots,omitempty"`
}

type interopSpecCall struct {
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}

type interopSpecPrompt struct {
	Name      string            `json:"name"`
	Arguments map[string]string `json:"arguments,omitempty"`
}

// runClientMJS runs client.mjs (scenario basic) with args (--stdio … or
// --http URL) and spec, and returns its stdout (one JSON object) and stderr
// (in stdio mode with the gateway's log, which is logged if t fails).
func runClientMJS(t *testing.T, e *interopEnv, args []string, spec any) ([]byte, string) {
	t.Helper()
	specJSON, err := json.Marshal(spec)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	argv := append([]string{e.client}, args...)
	argv = append(argv, "--scenario", "basic", "--spec", string(specJSON),
		"--timeout-ms", "30000", "--request-timeout-ms", "15000", "--close-grace-ms", "2000")
	cmd := exec.CommandContext(ctx, e.node, argv...)
	cmd.Dir = e.dir
	// The client and, in stdio mode, the gateway it starts share a process
	// group, so a deadline kills both.
	ownGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	start := time.Now()
	err = cmd.Run()
	t.Logf("client.mjs %s: %v in %s", args[0], err, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client.mjs stderr (in stdio mode with the gateway's log):\n%s", stderr)
		}
	})
	require.NoError(t, err, "client.mjs %q failed (exit 1: connect, 3: deadline)\nstdout: %s", args, stdout.String())
	return stdout.Bytes(), stderr.String()
}

// runInteropClient runs client.mjs for an interopSpec and returns its output.
func runInteropClient(t *testing.T, e *interopEnv, args []string, spec interopSpec) *interopOutput {
	t.Helper()
	stdout, stderr := runClientMJS(t, e, args, spec)
	var out interopOutput
	require.NoError(t, json.Unmarshal(stdout, &out), "client.mjs stdout is not its JSON object: %q", stdout)
	// A line on the gateway's stdout that is not JSON-RPC, a malformed
	// message or a broken stream shows up here.
	assert.NotContains(t, stderr, "client.mjs: transport/protocol error")
	assert.Empty(t, out.ListErrors, "list errors")
	assert.NotEmpty(t, out.ProtocolVersion)
	return &out
}

// startEverythingHTTP starts server-everything in streamable-HTTP mode on a
// loopback port and returns its /mcp URL. It is stopped when t ends.
func startEverythingHTTP(t *testing.T, e *interopEnv) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, e.node, "--require", e.loopback, e.everything, "streamableHttp")
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "PORT=0")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	stderr := &syncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(stderr, pw)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); pw.Close(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	re := regexp.MustCompile(`interop-loopback: listening on (\S+):(\d+)`)
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m:
				default:
				}
			}
		}
	}()
	select {
	case m := <-found:
		require.Equal(t, "127.0.0.1", m[1], "server-everything must listen on loopback only")
		return "http://127.0.0.1:" + m[2] + "/mcp"
	case <-done:
		t.Fatalf("server-everything streamableHttp exited before listening\n%s", stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("server-everything streamableHttp did not listen within 20s\n%s", stderr)
	}
	return ""
}

// interopFixture is one gateway config over the four reference upstreams,
// with its own memory store and allowed directory.
type interopFixture struct {
	config     string
	memoryFile string
	allowedDir string
	file       string // a file in allowedDir
	outside    string // a file outside allowedDir
}

const interopFileText = "hello from the mcp-gateway interop test\n"

func newInteropFixture(t *testing.T, e *interopEnv, everythingURL string) *interopFixture {
	t.Helper()
	tmp := t.TempDir()
	f := &interopFixture{
		memoryFile: filepath.Join(tmp, "memory.jsonl"),
		allowedDir: filepath.Join(tmp, "allowed"),
		outside:    filepath.Join(tmp, "outside.txt"),
	}
	f.file = filepath.Join(f.allowedDir, "note.txt")
	require.NoError(t, os.Mkdir(f.allowedDir, 0o755))
	require.NoError(t, os.WriteFile(f.file, []byte(interopFileText), 0o644))
	require.NoError(t, os.WriteFile(f.outside, []byte("secret\n"), 0o644))
	f.config = writeConfig(t, map[string]any{
		"mcpServers": map[string]any{
			"everything": map[string]any{"command": e.node, "args": []string{e.everything}},
			"memory": map[string]any{
				"command": e.node, "args": []string{e.memory},
				"env": map[string]string{"MEMORY_FILE_PATH": f.memoryFile},
			},
			"filesystem": map[string]any{
				"command": e.node, "args": []string{e.filesystem, f.allowedDir},
				"cwd": tmp,
			},
			"everything-http": map[string]any{"url": everythingURL},
		},
	})
	return f
}

// roots answers the filesystem server's roots/list with its own allowed
// directory, so its allowed dirs are the same whether or not the gateway
// forwards that request to the client.
func (f *interopFixture) roots() []map[string]string {
	return []map[string]string{{"uri": (&url.URL{Scheme: "file", Path: f.allowedDir}).String(), "name": "allowed"}}
}

// interopUpstream describes what one upstream must show through the gateway,
// by original names; the merged catalog prefixes them with name + "__".
type interopUpstream struct {
	name      string // the mcpServers key, the default prefix
	tools     []string
	prompts   []string
	resources []string // URIs that must be listed
	calls     []interopCallCheck
	reads     []interopReadCheck
	getPrompt []interopPromptCheck
}

type interopCallCheck struct {
	label string // subtest name, when tool is called more than once
	tool  string
	args  map[string]any
	check func(t *testing.T, res *mcp.CallToolResult)
}

type interopReadCheck struct {
	uri      string
	ifListed bool // only checked when the upstream lists uri
	check    func(t *testing.T, res *mcp.ReadResourceResult)
}

type interopPromptCheck struct {
	prompt string
	args   map[string]string
	check  func(t *testing.T, res *mcp.GetPromptResult)
}

const interopEntity = "InteropGopher"

// interopEntityJSON is an entity of server-memory's knowledge graph.
type interopEntityJSON struct {
	Name         string   `json:"name"`
	EntityType   string   `json:"entityType"`
	Observations []string `json:"observations"`
}

func interopUpstreams(f *interopFixture) []interopUpstream {
	everything := func(name string) interopUpstream {
		return interopUpstream{
			name:      name,
			tools:     []string{"echo", "get-sum", "get-tiny-image", "get-env"},
			prompts:   []string{"simple-prompt", "args-prompt", "completable-prompt"},
			resources: []string{"demo://resource/static/document/features.md"},
			calls: []interopCallCheck{
				{tool: "echo", args: map[string]any{"message": "hi from " + name}, check: func(t *testing.T, res *mcp.CallToolResult) {
					assert.False(t, res.IsError)
					assert.Equal(t, "Echo: hi from "+name, interopText(t, res.Content))
				}},
				{tool: "get-sum", args: map[string]any{"a": 2, "b": 3}, check: func(t *testing.T, res *mcp.CallToolResult) {
					assert.False(t, res.IsError)
					assert.Contains(t, interopText(t, res.Content), "5")
				}},
			},
			reads: []interopReadCheck{
				{uri: "demo://resource/static/document/features.md", check: func(t *testing.T, res *mcp.ReadResourceResult) {
					require.Len(t, res.Contents, 1)
					c := res.Contents[0]
					assert.Equal(t, "demo://resource/static/document/features.md", c.URI)
					assert.Equal(t, "text/markdown", c.MIMEType)
					assert.Contains(t, c.Text, "#")
				}},
			},
			getPrompt: []interopPromptCheck{
				{prompt: "args-prompt", args: map[string]string{"city": "Paris"}, check: func(t *testing.T, res *mcp.GetPromptResult) {
					require.Len(t, res.Messages, 1)
					assert.Equal(t, mcp.Role("user"), res.Messages[0].Role)
					assert.Contains(t, interopText(t, []mcp.Content{res.Messages[0].Content}), "Paris")
				}},
			},
		}
	}
	graphHasEntity := func(t *testing.T, text string) {
		t.Helper()
		var g struct {
			Entities []interopEntityJSON `json:"entities"`
		}
		require.NoError(t, json.Unmarshal([]byte(text), &g), "graph: %s", text)
		i := slices.IndexFunc(g.Entities, func(e interopEntityJSON) bool { return e.Name == interopEntity })
		require.GreaterOrEqual(t, i, 0, "graph has no %s: %s", interopEntity, text)
		assert.Equal(t, "animal", g.Entities[i].EntityType)
		assert.Equal(t, []string{"writes Go"}, g.Entities[i].Observations)
	}
	return []interopUpstream{
		everything("everything"),
		everything("everything-http"),
		{
			name:  "memory",
			tools: []string{"create_entities", "read_graph", "search_nodes", "open_nodes"},
			calls: []interopCallCheck{
				{tool: "create_entities", args: map[string]any{"entities": []map[string]any{
					{"name": interopEntity, "entityType": "animal", "observations": []string{"writes Go"}},
				}}, check: func(t *testing.T, res *mcp.CallToolResult) {
					// A second client of the same gateway may have created it
					// first; then the result lists no new entity.
					assert.False(t, res.IsError, "%s", interopText(t, res.Content))
				}},
				{tool: "read_graph", args: map[string]any{}, check: func(t *testing.T, res *mcp.CallToolResult) {
					assert.False(t, res.IsError)
					graphHasEntity(t, interopText(t, res.Content))
				}},
			},
			reads: []interopReadCheck{
				{uri: "memory://knowledge-graph", ifListed: true, check: func(t *testing.T, res *mcp.ReadResourceResult) {
					require.Len(t, res.Contents, 1)
					graphHasEntity(t, res.Contents[0].Text)
				}},
			},
		},
		{
			name:  "filesystem",
			tools: []string{"read_text_file", "list_directory", "write_file", "list_allowed_directories"},
			calls: []interopCallCheck{
				{tool: "read_text_file", args: map[string]any{"path": f.file}, check: func(t *testing.T, res *mcp.CallToolResult) {
					assert.False(t, res.IsError, "%s", interopText(t, res.Content))
					assert.Equal(t, interopFileText, interopText(t, res.Content))
				}},
				// Outside the allowed dir: a tool error, which must stay a
				// result with isError, not become a JSON-RPC error.
				{label: "read_text_file outside", tool: "read_text_file", args: map[string]any{"path": f.outside}, check: func(t *testing.T, res *mcp.CallToolResult) {
					assert.True(t, res.IsError, "reading %s must fail", f.outside)
					text := interopText(t, res.Content)
					assert.Contains(t, text, "outside allowed directories")
					assert.NotContains(t, text, "secret")
				}},
				{tool: "list_directory", args: map[string]any{"path": f.allowedDir}, check: func(t *testing.T, res *mcp.CallToolResult) {
					assert.False(t, res.IsError, "%s", interopText(t, res.Content))
					assert.Contains(t, interopText(t, res.Content), "note.txt")
				}},
			},
		},
	}
}

// interopText is the text of the single text content in c.
func interopText(t *testing.T, c []mcp.Content) string {
	t.Helper()
	require.Len(t, c, 1, "want one content item")
	tc, ok := c[0].(*mcp.TextContent)
	require.True(t, ok, "content is %T, want text", c[0])
	return tc.Text
}

// interopSpecFor builds one client spec for all ups; the name function maps
// an upstream and an original tool/prompt name to the name the client uses.
func interopSpecFor(ups []interopUpstream, name func(up, orig string) string) interopSpec {
	var s interopSpec
	for _, u := range ups {
		for _, c := range u.calls {
			s.Call = append(s.Call, interopSpecCall{Name: name(u.name, c.tool), Arguments: c.args})
		}
		for _, r := range u.reads {
			s.Read = append(s.Read, r.uri)
		}
		for _, p := range u.getPrompt {
			s.Prompt = append(s.Prompt, interopSpecPrompt{Name: name(u.name, p.prompt), Arguments: p.args})
		}
	}
	return s
}

// checkInterop checks out, the result of the spec interopSpecFor(ups, name),
// one subtest per upstream.
func checkInterop(t *testing.T, out *interopOutput, ups []interopUpstream, name func(up, orig string) string) {
	t.Helper()
	assertUnique(t, "tools", out.Tools)
	assertUnique(t, "prompts", out.Prompts)
	assertUnique(t, "resources", out.Resources)
	var ci, ri, pi int
	for _, u := range ups {
		t.Run(u.name, func(t *testing.T) {
			for _, tool := range u.tools {
				assert.Contains(t, out.Tools, name(u.name, tool), "tools/list")
			}
			for _, p := range u.prompts {
				assert.Contains(t, out.Prompts, name(u.name, p), "prompts/list")
			}
			for _, r := range u.resources {
				assert.Contains(t, out.Resources, r, "resources/list")
			}
			for _, c := range u.calls {
				want := name(u.name, c.tool)
				label := cmp.Or(c.label, c.tool)
				t.Run("call "+label, func(t *testing.T) {
					require.Less(t, ci, len(out.Calls))
					got := out.Calls[ci]
					require.Equal(t, want, got.Name)
					require.Nil(t, got.Error, "tools/call %s: want a result, got a JSON-RPC error", want)
					require.NotNil(t, got.Result)
					c.check(t, got.Result)
				})
				ci++
			}
			for _, r := range u.reads {
				t.Run("read "+r.uri, func(t *testing.T) {
					require.Less(t, ri, len(out.Reads))
					got := out.Reads[ri]
					require.Equal(t, r.uri, got.URI)
					if r.ifListed && !slices.Contains(out.Resources, r.uri) {
						t.Skipf("%s is not listed", r.uri)
					}
					require.Nil(t, got.Error, "resources/read %s", r.uri)
					require.NotNil(t, got.Result)
					r.check(t, got.Result)
				})
				ri++
			}
			for _, p := range u.getPrompt {
				want := name(u.name, p.prompt)
				t.Run("prompt "+p.prompt, func(t *testing.T) {
					require.Less(t, pi, len(out.PromptsGot))
					got := out.PromptsGot[pi]
					require.Equal(t, want, got.Name)
					require.Nil(t, got.Error, "prompts/get %s", want)
					require.NotNil(t, got.Result)
					p.check(t, got.Result)
				})
				pi++
			}
		})
	}
}

func assertUnique(t *testing.T, what string, names []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range names {
		assert.False(t, seen[n], "%s lists %q twice", what, n)
		seen[n] = true
	}
}

func prefixed(up, orig string) string { return up + "__" + orig }

// TestInteropTypeScriptClient runs the TypeScript SDK client against the
// gateway binary, over stdio and streamable HTTP, in front of the npm
// reference servers.
func TestInteropTypeScriptClient(t *testing.T) {
	e := needInterop(t)
	everythingURL := startEverythingHTTP(t, e)

	t.Run("stdio", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, e, everythingURL)
		ups := interopUpstreams(f)
		spec := interopSpecFor(ups, prefixed)
		spec.Roots = f.roots()
		// The stdio command runs up to the next client flag (--scenario).
		out := runInteropClient(t, e,
			[]string{"--stdio", bins.gateway, "serve", "--config", f.config, "--log-format", "json", "--log-level", "debug"}, spec)
		require.NotNil(t, out.ServerInfo)
		assert.Equal(t, "mcp-gateway", out.ServerInfo.Name)
		checkInterop(t, out, ups, prefixed)
		checkMemoryFile(t, f)
	})

	t.Run("http", func(t *testing.T) {
		t.Parallel()
		f := newInteropFixture(t, e, everythingURL)
		g := startHTTP(t, f.config)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("gateway stderr:\n%s", g.stderr)
			}
		})
		ups := interopUpstreams(f)

		t.Run("merged", func(t *testing.T) {
			t.Parallel()
			spec := interopSpecFor(ups, prefixed)
			spec.Roots = f.roots()
			out := runInteropClient(t, e, []string{"--http", g.url + "/mcp"}, spec)
			require.NotNil(t, out.ServerInfo)
			assert.Equal(t, "mcp-gateway", out.ServerInfo.Name)
			checkInterop(t, out, ups, prefixed)
			checkMemoryFile(t, f)
		})

		// /mcp/{name} serves one upstream under its original names.
		for _, u := range ups {
			t.Run("upstream "+u.name, func(t *testing.T) {
				t.Parallel()
				orig := func(_, n string) string { return n }
				one := []interopUpstream{u}
				spec := interopSpecFor(one, orig)
				spec.Roots = f.roots()
				out := runInteropClient(t, e, []string{"--http", g.url + "/mcp/" + u.name}, spec)
				for _, n := range slices.Concat(out.Tools, out.Prompts) {
					assert.NotContains(t, n, "__", "/mcp/%s lists a prefixed name", u.name)
				}
				// Nothing of the other upstreams.
				for _, v := range ups {
					for _, tool := range v.tools {
						if v.name != u.name && !slices.Contains(u.tools, tool) {
							assert.NotContains(t, out.Tools, tool, "/mcp/%s lists %s's tool", u.name, v.name)
						}
					}
				}
				checkInterop(t, out, one, orig)
			})
		}
	})
}

// checkMemoryFile checks that server-memory got MEMORY_FILE_PATH from the
// config's env and stored the entity there.
func checkMemoryFile(t *testing.T, f *interopFixture) {
	t.Helper()
	b, err := os.ReadFile(f.memoryFile)
	if assert.NoError(t, err, "server-memory did not write MEMORY_FILE_PATH") {
		assert.True(t, strings.Contains(string(b), interopEntity), "memory file: %s", b)
	}
}
