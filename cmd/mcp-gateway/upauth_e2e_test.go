package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startOAuthUpstream starts testdata/upstreams/oauth (a hosted MCP server
// that takes only OAuth tokens, with its authorization server) and returns
// its base URL.
func startOAuthUpstream(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bins.oauth, append([]string{"--http", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	line, err := bufio.NewReader(stderr).ReadString('\n')
	require.NoError(t, err)
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, line)
	go io.Copy(io.Discard, stderr)
	return base
}

func oauthStats(t *testing.T, base string) map[string]any {
	t.Helper()
	body, code := httpGet(t, base+"/stats", nil)
	require.Equal(t, http.StatusOK, code)
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	return m
}

func oauthCount(t *testing.T, base, k string) int {
	n, _ := oauthStats(t, base)[k].(float64)
	return int(n)
}

// gatewayCmd runs the gateway binary to completion.
func gatewayCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(bins.gateway, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return o.String(), e.String(), 0
}

// loginProc is `mcp-gateway login NAME --no-browser` running: the URL it
// printed, and its stdin for a pasted redirect.
type loginProc struct {
	authURL string
	stdin   io.WriteCloser
	stdout  *syncBuffer
	stderr  *syncBuffer
	done    chan struct{} // closed when the process exited; err is then set
	err     error
}

func startLogin(t *testing.T, cfg, name string, args ...string) *loginProc {
	t.Helper()
	p := &loginProc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd := exec.Command(bins.gateway, append([]string{"login", name, "--no-browser", "--timeout", "60s", "--config", cfg}, args...)...)
	var err error
	p.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = p.stdout, io.MultiWriter(p.stderr, pw)
	require.NoError(t, cmd.Start())
	go func() { p.err = cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if f := strings.TrimSpace(sc.Text()); strings.Contains(f, "/authorize?") {
				found <- f
			}
		}
	}()
	select {
	case p.authURL = <-found:
	case <-p.done:
		t.Fatalf("login exited: %v\n%s", p.err, p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("login printed no URL\n%s", p.stderr)
	}
	return p
}

func (p *loginProc) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		require.NoError(t, p.err, "stderr: %s", p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("login did not finish\n%s", p.stderr)
	}
}

// approve is the user approving in a browser on this machine: it follows the
// authorization URL and its redirect to the loopback listener of the login.
func approve(t *testing.T, authURL string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(authURL)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Contains(t, string(body), "Logged in")
}

// approveElsewhere is the user approving in a browser on another machine:
// the redirect to this machine's loopback address does not load there, and
// the address it ended on is returned for pasting.
func approveElsewhere(t *testing.T, authURL string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	return resp.Header.Get("Location")
}

type authStatus struct {
	Upstream, State, Reason, Command, Store, Issuer, Registration string
	Scopes                                                        []string
	Refreshable                                                   bool
	ExpiresAt                                                     time.Time `json:"expires_at"`
}

func authStatusOf(t *testing.T, cfg, name string) authStatus {
	t.Helper()
	out, stderr, code := gatewayCmd(t, "auth", "status", "--json", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	var all []authStatus
	require.NoError(t, json.Unmarshal([]byte(out), &all), out)
	for _, s := range all {
		if s.Upstream == name {
			return s
		}
	}
	t.Fatalf("no %s in auth status: %s", name, out)
	return authStatus{}
}

// oauthConfig is a config with the hosted upstream as "notion", and a state
// directory of its own for the test.
func oauthConfig(t *testing.T, base string) (cfg, stateDir string) {
	stateDir = filepath.Join(t.TempDir(), "state")
	t.Setenv("MCP_GATEWAY_STATE_DIR", stateDir)
	cfg = writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"notion": map[string]any{"url": base + "/mcp"},
		"local":  echoUpstream("local"),
	}})
	return cfg, stateDir
}

func TestUpstreamLoginEndToEnd(t *testing.T) {
	needBins(t)
	base := startOAuthUpstream(t)
	cfg, stateDir := oauthConfig(t, base)

	// Before any login: needs_login everywhere, and the command to run is named.
	st := authStatusOf(t, cfg, "notion")
	assert.Equal(t, "needs_login", st.State)
	assert.Equal(t, "mcp-gateway login notion", st.Command)
	_, stderr, code := gatewayCmd(t, "tools", "--config", cfg)
	assert.Equal(t, 0, code)
	assert.Contains(t, stderr, "needs_login")
	assert.Contains(t, stderr, "mcp-gateway login notion")
	g := startHTTP(t, cfg)
	require.Eventually(t, func() bool {
		body, _ := httpGet(t, g.url+"/upstreams", nil)
		return strings.Contains(string(body), `"needs_login"`)
	}, 30*time.Second, 20*time.Millisecond, "notion's first connection attempt ends in needs_login")
	body, _ := httpGet(t, g.url+"/upstreams", nil)
	assert.Contains(t, string(body), "mcp-gateway login notion", "last_error names the command")
	// Between attempts (with backoff) it shows needs_login in /readyz too.
	require.Eventually(t, func() bool {
		body, _ := httpGet(t, g.url+"/readyz", nil)
		return strings.Contains(string(body), `"needs_login"`)
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, g.stop(t))

	// The login, approved in a browser on this machine.
	p := startLogin(t, cfg, "notion")
	u := p.authURL
	assert.Contains(t, u, "code_challenge_method=S256")
	assert.Contains(t, u, "resource="+urlQueryEscape(base+"/mcp"))
	approve(t, u)
	p.wait(t)
	assert.Contains(t, p.stdout.String(), "Logged in to notion")
	st = authStatusOf(t, cfg, "notion")
	assert.Equal(t, "logged_in", st.State)
	assert.Equal(t, "dynamic", st.Registration)
	assert.True(t, st.Refreshable)
	assert.Equal(t, "file", st.Store)

	// A call goes through with the token.
	out, stderr, code := gatewayCmd(t, "call", "notion__whoami", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, `"user": "alice"`)

	// The token file is private, and holds nothing the gateway logs.
	if runtime.GOOS != "windows" {
		files, err := filepath.Glob(filepath.Join(stateDir, "tokens", "notion-*.json"))
		require.NoError(t, err)
		require.Len(t, files, 1)
		fi, err := os.Stat(files[0])
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		data, err := os.ReadFile(files[0])
		require.NoError(t, err)
		var rec struct {
			AccessToken string `json:"access_token"`
		}
		require.NoError(t, json.Unmarshal(data, &rec))
		assert.NotContains(t, stderr, rec.AccessToken)
	}

	// A second login over SSH: the redirect is pasted. Same registration, same port.
	firstRedirect := oauthStats(t, base)["last_authorize"].(map[string]any)["redirect_uri"]
	p = startLogin(t, cfg, "notion")
	loc := approveElsewhere(t, p.authURL)
	_, err := io.WriteString(p.stdin, loc+"\n")
	require.NoError(t, err)
	p.wait(t)
	assert.Equal(t, 1, oauthCount(t, base, "registrations"))
	assert.Equal(t, firstRedirect, oauthStats(t, base)["last_authorize"].(map[string]any)["redirect_uri"])

	// Logout.
	out, _, code = gatewayCmd(t, "logout", "notion", "--config", cfg)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "Logged out of notion")
	assert.Equal(t, "needs_login", authStatusOf(t, cfg, "notion").State)
}

func urlQueryEscape(s string) string {
	r := strings.NewReplacer(":", "%3A", "/", "%2F")
	return r.Replace(s)
}

// makeDue rewrites the stored token record so that its token is about to
// expire: the next request through any gateway process refreshes it.
func makeDue(t *testing.T, stateDir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(stateDir, "tokens", "notion-*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(data, &rec))
	now := time.Now().UTC()
	rec["obtained_at"] = now.Add(-time.Hour).Format(time.RFC3339Nano)
	rec["expiry"] = now.Add(30 * time.Second).Format(time.RFC3339Nano)
	data, err = json.Marshal(rec)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(files[0], data, 0o600))
}

func TestUpstreamRefreshTwoGatewayProcesses(t *testing.T) {
	needBins(t)
	base := startOAuthUpstream(t)
	cfg, stateDir := oauthConfig(t, base)
	p := startLogin(t, cfg, "notion")
	approve(t, p.authURL)
	p.wait(t)
	makeDue(t, stateDir)

	// Two gateway processes (Claude Desktop's and Cursor's) find the token due
	// at once. The server rotates refresh tokens and revokes the grant when
	// one is spent twice: both calls succeeding proves one refresh.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var outs []string
	for range 2 {
		wg.Go(func() {
			out, stderr, code := gatewayCmd(t, "call", "notion__whoami", "--config", cfg)
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, 0, code, stderr)
			outs = append(outs, out)
		})
	}
	wg.Wait()
	for _, o := range outs {
		assert.Contains(t, o, `"user": "alice"`)
	}
	assert.Equal(t, 1, oauthCount(t, base, "token_refresh_token"), "exactly one refresh")
	assert.Equal(t, "logged_in", authStatusOf(t, cfg, "notion").State)
}

func TestUpstreamRevokedLoginMidSession(t *testing.T) {
	needBins(t)
	base := startOAuthUpstream(t)
	cfg, stateDir := oauthConfig(t, base)
	p := startLogin(t, cfg, "notion")
	approve(t, p.authURL)
	p.wait(t)
	cs, _ := connectStdio(t, cfg, nil)
	assert.Contains(t, callText(t, cs, "notion__whoami", nil), "alice")

	// The user revokes the gateway's access at the provider: the running
	// gateway's next call fails with an error naming the command, once the
	// refresh is refused (invalid_grant), and does not try again and again.
	resp, err := http.Post(base+"/revoke-all", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	makeDue(t, stateDir)
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "notion__whoami"})
		cancel()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "mcp-gateway login notion")
	}
	assert.Equal(t, 1, oauthCount(t, base, "token_refresh_token"), "no refresh loop")
	st := authStatusOf(t, cfg, "notion")
	assert.Equal(t, "needs_login", st.State)
	assert.Contains(t, st.Reason, "invalid_grant")

	// Logging in again (in another terminal) makes the running gateway's
	// calls work again, without a restart.
	p = startLogin(t, cfg, "notion")
	approve(t, p.authURL)
	p.wait(t)
	assert.Contains(t, callText(t, cs, "notion__whoami", nil), "alice")
}

func TestLoginErrors(t *testing.T) {
	needBins(t)
	base := startOAuthUpstream(t, "--wrong-iss")
	cfg, _ := oauthConfig(t, base)
	p := startLogin(t, cfg, "notion")
	approve(t, p.authURL) // the page says logged in; the CLI refuses the response
	select {
	case <-p.done:
		require.Error(t, p.err)
	case <-time.After(30 * time.Second):
		t.Fatal("login did not finish")
	}
	assert.Contains(t, p.stderr.String(), "mix-up")
	assert.Equal(t, 0, oauthCount(t, base, "token_requests"))

	_, stderr, code := gatewayCmd(t, "login", "local", "--config", cfg)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "runs a command")
	_, stderr, code = gatewayCmd(t, "login", "nosuch", "--config", cfg)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "remote upstreams: notion")
}

// TestREADMEHostedUpstream pins the README's hosted-upstream walk-through:
// the config, the login and a call, in that order, with the example config
// that README names, which must be valid.
func TestREADMEHostedUpstream(t *testing.T) {
	needBins(t)
	out, stderr, code := gatewayCmd(t, "validate", "--config", "../../examples/hosted.json")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "valid")
	example, err := os.ReadFile("../../examples/hosted.json")
	require.NoError(t, err)
	assert.Contains(t, string(example), `"notion": { "url": "https://mcp.notion.com/mcp" }`)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	r := string(readme)
	steps := []string{
		`{ "mcpServers": { "notion": { "url": "https://mcp.notion.com/mcp" } } }`,
		"mcp-gateway login notion --config examples/hosted.json",
		"mcp-gateway call notion__",
	}
	at := 0
	for _, s := range steps {
		i := strings.Index(r[at:], s)
		require.GreaterOrEqual(t, i, 0, "README: %q after the previous step", s)
		at += i
	}
}

// storedTokens returns the access and refresh token of the one token file.
func storedTokens(t *testing.T, stateDir string) (access, refresh string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(stateDir, "tokens", "notion-*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var rec struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	require.NoError(t, json.Unmarshal(data, &rec))
	require.NotEmpty(t, rec.AccessToken)
	return rec.AccessToken, rec.RefreshToken
}

// TestUpstreamStepUp: a tool the granted scope does not cover gets 403
// insufficient_scope; the call fails naming the login command, the token
// stays in use for the other tools, and the next login asks for the union
// of the scopes, after which the tool works.
func TestUpstreamStepUp(t *testing.T) {
	needBins(t)
	base := startOAuthUpstream(t)
	cfg, _ := oauthConfig(t, base)
	p := startLogin(t, cfg, "notion")
	approve(t, p.authURL)
	p.wait(t)
	require.NotContains(t, authStatusOf(t, cfg, "notion").Scopes, "write")

	cs, _ := connectStdio(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "notion__write_page"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mcp-gateway login notion")
	assert.Contains(t, callText(t, cs, "notion__whoami", nil), "alice", "the token still serves what it may")
	st := authStatusOf(t, cfg, "notion")
	assert.Equal(t, "logged_in", st.State)
	out, _, _ := gatewayCmd(t, "auth", "status", "--json", "--config", cfg)
	assert.Contains(t, out, `"needs_scopes"`)
	assert.Contains(t, out, `"write"`)

	p = startLogin(t, cfg, "notion")
	assert.Contains(t, p.authURL, "scope=mcp+write")
	approve(t, p.authURL)
	p.wait(t)
	assert.Contains(t, authStatusOf(t, cfg, "notion").Scopes, "write")
	assert.Contains(t, callText(t, cs, "notion__write_page", nil), "alice", "the running gateway uses the new token")
	assert.Equal(t, 1, oauthCount(t, base, "registrations"))
}

// TestUpstreamTokenFileRefused: a token file other users may read is not
// used (and not silently repaired): calls and auth status say what to run.
func TestUpstreamTokenFileRefused(t *testing.T) {
	needBins(t)
	if runtime.GOOS == "windows" {
		t.Skip("Windows: the store relies on the profile directory's ACL; modes are not checked")
	}
	base := startOAuthUpstream(t)
	cfg, stateDir := oauthConfig(t, base)
	p := startLogin(t, cfg, "notion")
	approve(t, p.authURL)
	p.wait(t)
	access, refresh := storedTokens(t, stateDir)
	files, _ := filepath.Glob(filepath.Join(stateDir, "tokens", "notion-*.json"))
	require.NoError(t, os.Chmod(files[0], 0o644))

	out, stderr, code := gatewayCmd(t, "call", "notion__whoami", "--config", cfg)
	assert.NotEqual(t, 0, code, out)
	assert.Contains(t, stderr, "chmod 600")
	_, stderr2, code := gatewayCmd(t, "auth", "status", "--config", cfg)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr2, "refusing to use")
	for _, s := range []string{out, stderr, stderr2} {
		assert.NotContains(t, s, access)
		assert.NotContains(t, s, refresh)
	}
	fi, err := os.Stat(files[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "left as it is for the user to look at")
	assert.Equal(t, 0, oauthCount(t, base, "mcp_requests_with_token"), "the token was never sent")
}

// TestUpstreamTokensNeverShown: through an HTTP gateway at debug level, a
// login, calls, a refresh and a revoked grant leave no access or refresh
// token (nor the configured client secret) in the logs, in /config, in the
// errors callers get, or in /upstreams; the revoked grant shows as
// needs_login in /upstreams and /readyz, and the call names the command.
func TestUpstreamTokensNeverShown(t *testing.T) {
	needBins(t)
	base := startOAuthUpstream(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	t.Setenv("MCP_GATEWAY_STATE_DIR", stateDir)
	const adminKey = "mgw_test_admin_key_for_upauth_0123456789"
	const clientSecret = "configured-client-secret-c4n4ry"
	cfg := writeConfig(t, map[string]any{
		"mcpServers": map[string]any{
			"notion": map[string]any{"url": base + "/mcp"},
			"linear": map[string]any{"url": base + "/mcp", "oauth": map[string]any{"client_id": "by-hand", "client_secret": clientSecret}},
		},
		"gateway": map[string]any{"auth": map[string]any{"api_keys": []map[string]any{
			{"key": adminKey, "owner": "admin", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "admin": true},
		}}},
	})
	p := startLogin(t, cfg, "notion")
	approve(t, p.authURL)
	p.wait(t)
	first, firstRefresh := storedTokens(t, stateDir)

	// The token is due when the gateway starts: its first request refreshes it.
	makeDue(t, stateDir)
	g := startHTTP(t, cfg)
	hdr := aeAPIKey(adminKey)
	cs := aeConnect(t, g.url+"/mcp", hdr)
	assert.Contains(t, callText(t, cs, "notion__whoami", nil), "alice")
	second, secondRefresh := storedTokens(t, stateDir)
	require.NotEqual(t, first, second, "refreshed")

	// The grant is revoked: the access token is refused, the refresh gets
	// invalid_grant.
	resp, err := http.Post(base+"/revoke-all", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, callErr := cs.CallTool(ctx, &mcp.CallToolParams{Name: "notion__whoami"})
	require.Error(t, callErr)
	assert.Contains(t, callErr.Error(), "mcp-gateway login notion")

	require.Eventually(t, func() bool {
		body, _ := httpGet(t, g.url+"/upstreams", hdr)
		return strings.Contains(string(body), `"needs_login"`) && strings.Contains(string(body), "invalid_grant")
	}, 30*time.Second, 50*time.Millisecond, "the revoked grant shows in /upstreams")
	require.Eventually(t, func() bool {
		body, _ := httpGet(t, g.url+"/readyz", nil)
		return strings.Contains(string(body), `"needs_login"`)
	}, 30*time.Second, 50*time.Millisecond, "and in /readyz")

	cfgBody, code := httpGet(t, g.url+"/config", hdr)
	require.Equal(t, http.StatusOK, code, "%s", cfgBody)
	ups, _ := httpGet(t, g.url+"/upstreams", hdr)
	require.NoError(t, g.stop(t))
	logs := g.stderr.String()
	assert.Contains(t, logs, "token refreshed", "the debug log covers the refresh")
	for name, s := range map[string]string{"logs": logs, "/config": string(cfgBody), "/upstreams": string(ups), "the call's error": callErr.Error()} {
		for _, secret := range []string{first, firstRefresh, second, secondRefresh, clientSecret} {
			assert.NotContains(t, s, secret, "%s holds a secret", name)
		}
	}
}

// TestUpstreamKeyringFallback: "store": "keyring" on a machine whose
// keyring is absent (no Secret Service on the session bus) logs in and calls
// all the same, with the tokens in the file store, and says so once.
func TestUpstreamKeyringFallback(t *testing.T) {
	needBins(t)
	if runtime.GOOS != "linux" {
		t.Skip("the test takes the keyring away through D-Bus; elsewhere it would write to the user's own keyring")
	}
	base := startOAuthUpstream(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	t.Setenv("MCP_GATEWAY_STATE_DIR", stateDir)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"notion": map[string]any{"url": base + "/mcp", "oauth": map[string]any{"store": "keyring"}},
	}})
	p := startLogin(t, cfg, "notion")
	approve(t, p.authURL)
	p.wait(t)
	assert.Contains(t, p.stderr.String(), "OS keyring unavailable; using the file store instead")
	st := authStatusOf(t, cfg, "notion")
	assert.Equal(t, "logged_in", st.State)
	access, _ := storedTokens(t, stateDir)
	out, stderr, code := gatewayCmd(t, "call", "notion__whoami", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, `"user": "alice"`)
	assert.NotContains(t, stderr, access)
}
