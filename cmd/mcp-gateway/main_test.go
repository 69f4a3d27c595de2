package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
)

// bins holds the binaries TestMain builds: the gateway itself and the test
// upstreams from testdata/upstreams.
var bins struct {
	dir     string
	gateway string
	echo    string
	faulty  string
	oauth   string
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "mcp-gateway-bins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	// Upstream OAuth state of every gateway the tests start stays in here,
	// never in the user's own state directory.
	os.Setenv("MCP_GATEWAY_STATE_DIR", filepath.Join(dir, "state"))
	bins.gateway = filepath.Join(dir, "mcp-gateway")
	bins.echo = filepath.Join(dir, "echo")
	bins.faulty = filepath.Join(dir, "faulty")
	bins.oauth = filepath.Join(dir, "oauth")
	for out, pkg := range map[string]string{bins.gateway: ".", bins.echo: "../../testdata/upstreams/echo", bins.faulty: "../../testdata/upstreams/faulty",
		bins.oauth: "../../testdata/upstreams/oauth"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needBins skips integration tests under -short.
func needBins(t *testing.T) {
	t.Helper()
	if bins.gateway == "" {
		t.Skip("integration test: skipped with -short")
	}
}

// writeConfig writes v as the gateway config in a temp dir and returns its path.
func writeConfig(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "mcp-gateway.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// echoUpstream is a config entry running the echo test server over stdio.
func echoUpstream(name string, extra ...string) map[string]any {
	return map[string]any{"command": bins.echo, "args": append([]string{"--name", name}, extra...)}
}

// connectStdio starts the gateway binary in stdio mode and connects a client.
// Its stderr is kept in the returned buffer.
func connectStdio(t *testing.T, configPath string, opts *mcp.ClientOptions, args ...string) (*mcp.ClientSession, *syncBuffer) {
	t.Helper()
	stderr := &syncBuffer{}
	cmd := exec.Command(bins.gateway, append([]string{"serve", "--config", configPath, "--log-format", "json", "--log-level", "debug"}, args...)...)
	cmd.Stderr = stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "test"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	require.NoError(t, err, "stderr: %s", stderr)
	t.Cleanup(func() { cs.Close() })
	return cs, stderr
}

// gatewayProcess is the gateway binary running `serve --http`.
type gatewayProcess struct {
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:PORT
	stderr *syncBuffer
	done   chan error
}

var listenRE = regexp.MustCompile(`"msg":"serving MCP over streamable HTTP".*"addr":"([^"]+)"`)

// startHTTP starts `mcp-gateway serve --http 127.0.0.1:0` and waits until it
// listens. The process is stopped (SIGTERM) when the test ends.
func startHTTP(t *testing.T, configPath string, args ...string) *gatewayProcess {
	t.Helper()
	return startHTTPBin(t, bins.gateway, configPath, args...)
}

// startHTTPBin is startHTTP with the gateway binary at bin.
func startHTTPBin(t *testing.T, bin, configPath string, args ...string) *gatewayProcess {
	t.Helper()
	g := &gatewayProcess{stderr: &syncBuffer{}, done: make(chan error, 1)}
	g.cmd = exec.Command(bin, append([]string{"serve", "--http", "127.0.0.1:0", "--config", configPath, "--log-format", "json", "--log-level", "debug"}, args...)...)
	pr, pw := io.Pipe()
	g.cmd.Stderr = io.MultiWriter(g.stderr, pw)
	require.NoError(t, g.cmd.Start())
	go func() { g.done <- g.cmd.Wait(); pw.Close() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		g.url = "http://" + a
	case err := <-g.done:
		t.Fatalf("gateway exited: %v\n%s", err, g.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not listen within 30s\n%s", g.stderr)
	}
	t.Cleanup(func() { g.stop(t) })
	return g
}

// stop sends SIGTERM and waits for the exit; it returns the exit error.
func (g *gatewayProcess) stop(t *testing.T) error {
	if g.cmd.ProcessState != nil {
		return nil
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		g.done <- err
		return err
	case <-time.After(20 * time.Second):
		g.cmd.Process.Kill()
		t.Errorf("gateway did not exit within 20s of SIGTERM\n%s", g.stderr)
		return <-g.done
	}
}

// connectHTTP connects a streamable-HTTP client to url.
func connectHTTP(t *testing.T, url string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "test"}, opts).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	return cs
}

// startEchoHTTP starts the echo test server with --http or --sse and
// returns its base URL.
func startEchoHTTP(t *testing.T, mode, name string) string {
	t.Helper()
	stderr := &syncBuffer{}
	cmd := exec.Command(bins.echo, "--name", name, "--"+mode, "127.0.0.1:0")
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(stderr, pw)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); pw.Close(); close(done) }()
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); <-done })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				found <- rest
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(20 * time.Second):
		t.Fatalf("echo --%s did not listen\n%s", mode, stderr)
	}
	return ""
}

func callText(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	require.NoError(t, err)
	require.NotEmpty(t, res.Content)
	return res.Content[0].(*mcp.TextContent).Text
}

func listToolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		require.NoError(t, err)
		names = append(names, tool.Name)
	}
	return names
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// the state follows the parenthesised command name
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// syncBuffer is a goroutine-safe bytes.Buffer for a child's stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
