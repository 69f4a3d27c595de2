package upauth

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// oauthBin is the in-repo hosted MCP server with its authorization server
// (testdata/upstreams/oauth), built once by TestMain.
var oauthBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		dir, err := os.MkdirTemp("", "upauth-bins-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		oauthBin = filepath.Join(dir, "oauth")
		cmd := exec.Command("go", "build", "-o", oauthBin, "../testdata/upstreams/oauth")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building the test authorization server:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
	}
	goleak.VerifyTestMain(m,
		// The HTTP transport's idle connections to the test server close on their own.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// authServer is a running testdata/upstreams/oauth process.
type authServer struct {
	base string // http://127.0.0.1:PORT
}

func startAuthServer(t *testing.T, args ...string) *authServer {
	t.Helper()
	if oauthBin == "" {
		t.Skip("integration test: skipped with -short")
	}
	cmd := exec.Command(oauthBin, append([]string{"--http", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stderr).ReadString('\n')
	require.NoError(t, err)
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, "unexpected first line %q", line)
	go io.Copy(io.Discard, stderr)
	return &authServer{base: base}
}

func (a *authServer) upstream(name string) Upstream {
	return Upstream{Name: name, URL: a.base + "/mcp"}
}

// stats returns the server's counters.
func (a *authServer) stats(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get(a.base + "/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m
}

func (a *authServer) count(t *testing.T, k string) int {
	t.Helper()
	n, _ := a.stats(t)[k].(float64)
	return int(n)
}

// lastRedirectURI is the redirect_uri of the latest authorization request.
func (a *authServer) lastRedirectURI(t *testing.T) string {
	t.Helper()
	q, _ := a.stats(t)["last_authorize"].(map[string]any)
	v, _ := q["redirect_uri"].([]any)
	require.Len(t, v, 1)
	return v[0].(string)
}

func (a *authServer) revokeAll(t *testing.T) {
	t.Helper()
	resp, err := http.Post(a.base+"/revoke-all", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
}

// browser is a user agent that follows the authorization URL and its
// redirects back to the loopback listener, as a browser whose user clicks
// "Allow" does. Wait waits for its visits to end.
type browser struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	visits int
	errs   []error
}

func (b *browser) open(_ context.Context, u string) error {
	b.mu.Lock()
	b.visits++
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		c := &http.Client{Timeout: 30 * time.Second}
		resp, err := c.Get(u)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			b.mu.Lock()
			b.errs = append(b.errs, err)
			b.mu.Unlock()
		}
	}()
	return nil
}

func (b *browser) wait(t *testing.T) {
	t.Helper()
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(t, b.errs)
}

// newManager returns a Manager on a fresh state directory whose browser is b.
func newManager(t *testing.T, dir string, b *browser, now func() time.Time) *Manager {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "state")
	}
	o := &Options{Now: now, Keyring: unavailableKeyring{}}
	if b != nil {
		o.OpenBrowser = b.open
	}
	return New(dir, o)
}

// unavailableKeyring is a machine without a keyring daemon.
type unavailableKeyring struct{}

func (unavailableKeyring) Get(string, string) (string, error) { return "", errNoKeyring }
func (unavailableKeyring) Set(string, string, string) error   { return errNoKeyring }
func (unavailableKeyring) Delete(string, string) error        { return errNoKeyring }

var errNoKeyring = fmt.Errorf("no keyring daemon")
