package upauth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// whoami connects to up through m's transport and calls the whoami tool.
func whoami(t *testing.T, m *Manager, up Upstream) (map[string]any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := &http.Client{Transport: m.Transport(up, nil)}
	defer hc.CloseIdleConnections()
	c := mcp.NewClient(&mcp.Implementation{Name: "upauth-test", Version: "test"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: up.URL, HTTPClient: hc}, nil)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		return nil, err
	}
	var out map[string]any
	b, _ := json.Marshal(res.StructuredContent)
	require.NoError(t, json.Unmarshal(b, &out))
	return out, nil
}

func login(t *testing.T, m *Manager, up Upstream) *Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := m.Login(ctx, up, nil)
	require.NoError(t, err)
	return st
}

func TestLoginThenCall(t *testing.T) {
	as := startAuthServer(t)
	b := &browser{}
	m := newManager(t, "", b, nil)
	up := as.upstream("notion")

	// Before a login the upstream's 401 becomes a NeedsLoginError naming the command.
	_, err := whoami(t, m, up)
	var nle *NeedsLoginError
	require.ErrorAs(t, err, &nle)
	assert.Equal(t, "mcp-gateway login notion", nle.Command)
	st, err := m.Status(context.Background(), up)
	require.NoError(t, err)
	assert.Equal(t, StateNeedsLogin, st.State)

	st = login(t, m, up)
	b.wait(t)
	assert.Equal(t, StateLoggedIn, st.State)
	assert.Equal(t, as.base, st.Issuer)
	assert.Equal(t, "dynamic", st.Registration)
	assert.True(t, st.Refreshable)
	// The scopes are the resource's, plus offline_access, which the server offers.
	assert.ElementsMatch(t, []string{"mcp", "offline_access"}, st.Scopes)

	who, err := whoami(t, m, up)
	require.NoError(t, err)
	assert.Equal(t, "alice", who["user"])
	assert.Equal(t, st.ClientID, who["client"])

	// The authorization request carried PKCE S256 and the resource indicator.
	q, _ := as.stats(t)["last_authorize"].(map[string]any)
	assert.Equal(t, []any{"S256"}, q["code_challenge_method"])
	assert.Equal(t, []any{as.base + "/mcp"}, q["resource"])
}

func TestRegistrationAndPortReused(t *testing.T) {
	as := startAuthServer(t)
	b := &browser{}
	dir := filepath.Join(t.TempDir(), "state")
	up := as.upstream("linear")
	first := login(t, newManager(t, dir, b, nil), up)
	redirect := as.lastRedirectURI(t)
	// A new process (a new Manager on the same directory) logs in again.
	second := login(t, newManager(t, dir, b, nil), up)
	b.wait(t)
	assert.Equal(t, 1, as.count(t, "registrations"), "the registration is stored and reused")
	assert.Equal(t, 2, as.count(t, "authorizations"))
	assert.Equal(t, first.ClientID, second.ClientID)
	assert.Equal(t, first.RedirectPort, second.RedirectPort)
	assert.Equal(t, redirect, as.lastRedirectURI(t), "same redirect URI, same port")

	// Logout keeps the registration; --forget-client drops it.
	m := newManager(t, dir, b, nil)
	require.NoError(t, m.Logout(context.Background(), up, false))
	st, err := m.Status(context.Background(), up)
	require.NoError(t, err)
	assert.Equal(t, StateNeedsLogin, st.State)
	assert.Equal(t, "logged out", st.Reason)
	login(t, m, up)
	require.NoError(t, m.Logout(context.Background(), up, true))
	login(t, m, up)
	b.wait(t)
	assert.Equal(t, 2, as.count(t, "registrations"))
}

func TestLoginByPastedRedirect(t *testing.T) {
	as := startAuthServer(t)
	m := newManager(t, "", nil, nil)
	up := as.upstream("remote")
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := m.Login(ctx, up, &LoginOptions{NoBrowser: true, In: inR, Out: outW})
		outW.Close()
		done <- err
	}()
	// Read the printed URL, "approve" it in a browser on another machine
	// (which does not follow the redirect to this machine's loopback), and
	// paste the address it ended on.
	buf := make([]byte, 64<<10)
	var printed string
	for !strings.Contains(printed, "Redirect URL: ") {
		n, err := outR.Read(buf)
		require.NoError(t, err)
		printed += string(buf[:n])
	}
	go io.Copy(io.Discard, outR)
	var authURL string
	for _, f := range strings.Fields(printed) {
		if strings.HasPrefix(f, as.base+"/authorize?") {
			authURL = f
		}
	}
	require.NotEmpty(t, authURL, printed)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc := resp.Header.Get("Location")
	// A stray line first: it is refused with a hint, and the login goes on.
	_, err = io.WriteString(inW, "not a redirect\n"+loc+"\n")
	require.NoError(t, err)
	require.NoError(t, <-done)
	inW.Close()
	who, err := whoami(t, m, up)
	require.NoError(t, err)
	assert.Equal(t, "alice", who["user"])
}

func TestWrongIssuerRefused(t *testing.T) {
	as := startAuthServer(t, "--wrong-iss")
	b := &browser{}
	m := newManager(t, "", b, nil)
	up := as.upstream("mixup")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := m.Login(ctx, up, nil)
	b.wait(t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mix-up")
	assert.Equal(t, 0, as.count(t, "token_requests"), "the code is never redeemed")
	st, err := m.Status(ctx, up)
	require.NoError(t, err)
	assert.Equal(t, StateNeedsLogin, st.State)
}

// clock is a settable clock for the refresh schedule.
type clock struct {
	mu sync.Mutex
	d  time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.d)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.d += d
	c.mu.Unlock()
}

func TestRefreshBeforeExpiry(t *testing.T) {
	as := startAuthServer(t, "--token-ttl", "1h")
	b := &browser{}
	clk := &clock{}
	m := newManager(t, "", b, clk.now)
	up := as.upstream("hosted")
	first := login(t, m, up)
	b.wait(t)
	_, err := whoami(t, m, up)
	require.NoError(t, err)
	assert.Equal(t, 0, as.count(t, "token_refresh_token"), "a fresh token is not refreshed")

	// Five minutes before expiry (less than a tenth of its life left), the
	// next request refreshes first; the token it sends is still valid at the
	// server, which proves the refresh happened before expiry.
	clk.advance(55 * time.Minute)
	_, err = whoami(t, m, up)
	require.NoError(t, err)
	assert.Equal(t, 1, as.count(t, "token_refresh_token"))
	st, err := m.Status(context.Background(), up)
	require.NoError(t, err)
	assert.True(t, st.ExpiresAt.After(first.ExpiresAt), "the stored token is the new one")
}

func TestTwoProcessesRefreshOnce(t *testing.T) {
	as := startAuthServer(t, "--token-ttl", "1h")
	b := &browser{}
	dir := filepath.Join(t.TempDir(), "state")
	clk := &clock{}
	up := as.upstream("shared")
	login(t, newManager(t, dir, b, clk.now), up)
	b.wait(t)
	clk.advance(58 * time.Minute)
	// Two gateway processes on one state directory (Claude Desktop's and
	// Cursor's), each with its own Manager, find the token due at once. The
	// server rotates refresh tokens and revokes the grant when one is used
	// twice, so a double refresh would fail one of them and log both out.
	const procs = 4
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for i := range procs {
		m := newManager(t, dir, nil, clk.now)
		wg.Go(func() { _, errs[i] = whoami(t, m, up) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, as.count(t, "token_refresh_token"), "exactly one token request")
}

func TestInvalidGrantNeedsLoginNoLoop(t *testing.T) {
	as := startAuthServer(t, "--token-ttl", "1h")
	b := &browser{}
	clk := &clock{}
	m := newManager(t, "", b, clk.now)
	up := as.upstream("revoked")
	login(t, m, up)
	b.wait(t)
	as.revokeAll(t)
	clk.advance(58 * time.Minute)
	for range 3 {
		_, err := whoami(t, m, up)
		var nle *NeedsLoginError
		require.ErrorAs(t, err, &nle)
		assert.Contains(t, nle.Reason, "invalid_grant")
	}
	assert.Equal(t, 1, as.count(t, "token_refresh_token"), "one refused refresh, not a loop")
	st, err := m.Status(context.Background(), up)
	require.NoError(t, err)
	assert.Equal(t, StateNeedsLogin, st.State)
	assert.Contains(t, st.Reason, "invalid_grant")
	// A new login clears it.
	login(t, m, up)
	b.wait(t)
	_, err = whoami(t, m, up)
	require.NoError(t, err)
}

func TestRevokedAccessTokenRefreshedAndRetried(t *testing.T) {
	as := startAuthServer(t, "--token-ttl", "1h")
	b := &browser{}
	m := newManager(t, "", b, nil)
	up := as.upstream("rotated")
	login(t, m, up)
	b.wait(t)
	// The server forgets the access token (not the grant): the 401 makes the
	// transport refresh once and retry, and the caller never sees it.
	s := m.source(up)
	rec, err := s.current(context.Background())
	require.NoError(t, err)
	bad := *rec
	bad.AccessToken = "not-a-token-the-server-issued"
	require.NoError(t, m.saveToken(context.Background(), up, &bad))
	m.sources.forget(m.tokenKey(up))
	_, err = whoami(t, m, up)
	require.NoError(t, err)
	assert.Equal(t, 1, as.count(t, "token_refresh_token"))
}

func TestTokenFilePermissions(t *testing.T) {
	as := startAuthServer(t)
	b := &browser{}
	dir := filepath.Join(t.TempDir(), "state")
	m := newManager(t, dir, b, nil)
	up := as.upstream("perm")
	login(t, m, up)
	b.wait(t)
	tokenFile := m.files.path(m.tokenKey(up))
	if runtime.GOOS == "windows" {
		t.Skip("Windows: the store relies on the profile directory's ACL; modes are not checked")
	}
	for _, p := range []string{dir, filepath.Dir(tokenFile)} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), p)
	}
	fi, err := os.Stat(tokenFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	data, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	assert.Contains(t, string(data), "access_token")

	// A token file others may read is refused, not used and not repaired.
	require.NoError(t, os.Chmod(tokenFile, 0o644))
	_, err = m.Status(context.Background(), up)
	var ife *InsecureFileError
	require.ErrorAs(t, err, &ife)
	assert.Contains(t, err.Error(), "chmod 600")
	m.sources.forget(m.tokenKey(up))
	_, callErr := whoami(t, newManager(t, dir, nil, nil), up)
	require.ErrorAs(t, callErr, &ife)
	assert.NotContains(t, callErr.Error(), mustRecord(t, data).AccessToken, "the error never holds the token")
	fi, err = os.Stat(tokenFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
}

func mustRecord(t *testing.T, data []byte) *tokenRecord {
	var r tokenRecord
	require.NoError(t, json.Unmarshal(data, &r))
	return &r
}
