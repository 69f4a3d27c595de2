package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/mcp-gateway/mcp-gateway/sessions"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testProtocol is the protocol version the raw test client negotiates.
const testProtocol = "2025-11-25"

// newToolServer returns an MCP server with one tool, "echo", that counts its
// calls in calls.
func newToolServer(calls *atomic.Int64) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test-upstream", Version: "test"}, nil)
	s.AddTool(&mcp.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo:" + string(req.Params.Arguments)}}}, nil
		})
	return s
}

// testLogger logs to stderr with -v, else discards.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestNewHandlerZeroLogger: HTTPOptions.Logger says "nil discards them", and
// NewHandler is exported on its own, so a handler built without a logger
// must serve.
func TestNewHandlerZeroLogger(t *testing.T) {
	var calls atomic.Int64
	o := testOptions(&calls)
	o.Logger = nil
	h := NewHandler(o, true)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://localhost/health", nil)
	require.NotPanics(t, func() { h.ServeHTTP(rec, req) })
	assert.Equal(t, http.StatusOK, rec.Code)
}

// testIdentities are what fakeAuthenticate accepts, by API key.
var testIdentities = map[string]*policy.Identity{
	"key-alice":   {Name: "alice", Scopes: []string{"read", "write"}, Limit: policy.Limit{RPM: -1}},
	"key-bob":     {Name: "bob", Agent: "bot", Scopes: []string{"read"}, Limit: policy.Limit{RPM: -1}},
	"key-admin":   {Name: "root", Admin: true, Scopes: []string{"read", "write"}, Limit: policy.Limit{RPM: -1}},
	"key-noscope": {Name: "carol", Scopes: []string{"profile", "admin"}, Limit: policy.Limit{RPM: -1}},
	"key-limited": {Name: "dave", Scopes: []string{"read"}, Limit: policy.Limit{RPM: 1, Burst: 1}},
}

// fakeAuthenticate identifies a request by its X-Api-Key or bearer token.
func fakeAuthenticate(_ context.Context, h http.Header) (*policy.Identity, error) {
	key := h.Get("X-Api-Key")
	if key == "" {
		key, _ = strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	}
	if id, ok := testIdentities[key]; ok {
		return id, nil
	}
	if key == "" {
		return nil, fmt.Errorf("%w: no credential", ErrUnauthenticated)
	}
	return nil, fmt.Errorf("%w: invalid credential", ErrUnauthenticated)
}

const testChallenge = `Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource"`

// testOptions returns HTTPOptions serving a tool server at /mcp and another
// at /mcp/up (both counting calls in calls), their sessions recorded as the
// aggregator records its views'.
func testOptions(calls *atomic.Int64) HTTPOptions {
	book := sessions.New()
	merged, up := newToolServer(calls), newToolServer(calls)
	book.Track("", merged)
	book.Track("up", up)
	return HTTPOptions{
		Logger: testLogger(),
		Merged: merged,
		Upstream: func(name string) (*mcp.Server, bool) {
			return up, name == "up"
		},
		Status:   func() any { return []string{"up"} },
		Ready:    func() bool { return true },
		Sessions: book,
	}
}

// withAuth adds the fake authenticator and rate limiter to o: the identity
// with key "limited" is always over its limit.
func withAuth(o HTTPOptions) HTTPOptions {
	o.Auth = AuthOptions{
		Authenticate: fakeAuthenticate,
		Challenge: func(scope string) string {
			if scope != "" {
				return testChallenge + `, error="insufficient_scope", scope="` + scope + `"`
			}
			return testChallenge
		},
		Allow: func(key string, rpm, burst int) (bool, time.Duration) {
			if key == "dave" {
				return false, 1500 * time.Millisecond
			}
			return true, 0
		},
	}
	return o
}

// mcpClient speaks raw streamable HTTP to the gateway, so that tests control
// every header and byte.
type mcpClient struct {
	t      *testing.T
	hc     *http.Client
	url    string
	header http.Header // added to every request
	host   string      // Host header, if set
	sid    string
	proto  string
	nextID int
}

func newClient(t *testing.T, hc *http.Client, url string, kv ...string) *mcpClient {
	c := &mcpClient{t: t, hc: hc, url: url, header: http.Header{}}
	for i := 0; i+1 < len(kv); i += 2 {
		c.header.Set(kv[i], kv[i+1])
	}
	return c
}

// do sends one request with the client's headers, session and protocol
// version, then mod, and returns the response with its body read.
func (c *mcpClient) do(method, body string, mod func(*http.Request)) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url, rd)
	require.NoError(c.t, err)
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.host != "" {
		req.Host = c.host
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	if c.sid != "" {
		req.Header.Set("Mcp-Session-Id", c.sid)
	}
	if c.proto != "" {
		req.Header.Set("Mcp-Protocol-Version", c.proto)
	}
	if mod != nil {
		mod(req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.hc.Do(req.WithContext(ctx))
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, b
}

func (c *mcpClient) post(body string) (*http.Response, []byte) {
	c.t.Helper()
	return c.do(http.MethodPost, body, nil)
}

// initialize makes a session: initialize, then notifications/initialized.
// The session is deleted when the test ends.
func (c *mcpClient) initialize() {
	c.t.Helper()
	resp, body := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + testProtocol +
		`","capabilities":{},"clientInfo":{"name":"raw","version":"test"}}}`)
	require.Equal(c.t, http.StatusOK, resp.StatusCode, "initialize: %s", body)
	msgs := rpcMessages(c.t, resp, body)
	require.Len(c.t, msgs, 1, "%s", body)
	require.Contains(c.t, string(msgs[0]), `"result"`)
	c.sid = resp.Header.Get("Mcp-Session-Id")
	require.NotEmpty(c.t, c.sid)
	c.proto = testProtocol
	resp, body = c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	require.Equal(c.t, http.StatusAccepted, resp.StatusCode, "%s", body)
	sid, hdr := c.sid, c.header.Clone()
	c.t.Cleanup(func() {
		// As the owner, with no Origin games: the SDK session must end so
		// that goleak sees no session goroutines.
		req, _ := http.NewRequest(http.MethodDelete, c.url, nil)
		req.Header = hdr
		req.Header.Del("Origin")
		req.Header.Set("Mcp-Session-Id", sid)
		if resp, err := c.hc.Do(req); err == nil {
			resp.Body.Close()
		}
	})
}

// callEcho calls the echo tool and returns the HTTP response and the
// JSON-RPC messages in it.
func (c *mcpClient) callEcho(args string) (*http.Response, []json.RawMessage) {
	c.t.Helper()
	c.nextID++
	resp, body := c.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":%s}}`, c.nextID, args))
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	return resp, rpcMessages(c.t, resp, body)
}

// mustEcho calls the echo tool and requires a successful result.
func (c *mcpClient) mustEcho() {
	c.t.Helper()
	resp, msgs := c.callEcho(`{"x":1}`)
	require.Equal(c.t, http.StatusOK, resp.StatusCode)
	require.Len(c.t, msgs, 1)
	assert.Contains(c.t, string(msgs[0]), `echo:{\"x\":1}`)
}

// rpcMessages returns the JSON-RPC messages of a response: its JSON body, or
// the data of its SSE events.
func rpcMessages(t *testing.T, resp *http.Response, body []byte) []json.RawMessage {
	t.Helper()
	msgs, err := parseMessages(resp.Header.Get("Content-Type"), body)
	require.NoError(t, err, "%s", body)
	return msgs
}

// parseMessages parses a JSON body or an SSE stream whose events carry JSON
// (an event without data, the SDK's priming event, is skipped).
func parseMessages(contentType string, body []byte) ([]json.RawMessage, error) {
	switch ct, _, _ := strings.Cut(contentType, ";"); strings.TrimSpace(ct) {
	case "application/json":
		if !json.Valid(body) {
			return nil, fmt.Errorf("invalid JSON body %q", body)
		}
		return []json.RawMessage{body}, nil
	case "text/event-stream":
		var msgs []json.RawMessage
		var data []string
		flush := func() error {
			if len(data) > 0 {
				d := strings.Join(data, "\n")
				if !json.Valid([]byte(d)) {
					return fmt.Errorf("SSE event with invalid JSON data %q", d)
				}
				msgs = append(msgs, json.RawMessage(d))
			}
			data = nil
			return nil
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			line := strings.TrimSuffix(sc.Text(), "\r")
			switch {
			case line == "":
				if err := flush(); err != nil {
					return nil, err
				}
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return msgs, flush()
	}
	return nil, fmt.Errorf("unexpected Content-Type %q", contentType)
}

// rpcError returns the code of the JSON-RPC error in msg, or false.
func rpcError(msg json.RawMessage) (int, bool) {
	var m struct {
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(msg, &m) != nil || m.Error == nil {
		return 0, false
	}
	return m.Error.Code, true
}

// startTestServer serves NewHandler(o) on an httptest loopback listener.
func startTestServer(t *testing.T, o HTTPOptions) *httptest.Server {
	srv := httptest.NewServer(NewHandler(o, true))
	t.Cleanup(srv.Close)
	return srv
}

// --- H1, H2, H4: Origin and Host ---

func TestOriginAndHost(t *testing.T) {
	var calls atomic.Int64
	o := testOptions(&calls)
	o.AllowedOrigins = []string{"https://app.example"}
	srv := startTestServer(t, o)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	// A session made without an Origin (a CLI client), used below with bad
	// origins: nothing may reach the tool.
	owner := newClient(t, srv.Client(), srv.URL+"/mcp")
	owner.initialize()

	testCases := []struct {
		doc      string
		origin   string
		host     string
		expected int
	}{
		{doc: "evil origin", origin: "http://evil.example", expected: http.StatusForbidden},
		{doc: "null origin", origin: "null", expected: http.StatusForbidden},
		{doc: "evil origin with a loopback port", origin: "http://evil.example:" + port, expected: http.StatusForbidden},
		{doc: "localhost subdomain trick", origin: "http://localhost.evil.example", expected: http.StatusForbidden},
		{doc: "origin with a path", origin: "http://localhost:" + port + "/x", expected: http.StatusForbidden},
		{doc: "ws scheme", origin: "ws://localhost:" + port, expected: http.StatusForbidden},
		{doc: "no origin", expected: http.StatusOK},
		{doc: "localhost origin", origin: "http://localhost:" + port, expected: http.StatusOK},
		{doc: "127.0.0.1 origin", origin: "http://127.0.0.1:" + port, expected: http.StatusOK},
		{doc: "[::1] origin", origin: "http://[::1]:" + port, expected: http.StatusOK},
		{doc: "allowed origin", origin: "https://app.example", expected: http.StatusOK},
		{doc: "allowed origin other scheme", origin: "http://app.example", expected: http.StatusForbidden},
		{doc: "evil host (DNS rebinding)", host: "evil.example:" + port, expected: http.StatusForbidden},
		{doc: "evil host without port", host: "evil.example", expected: http.StatusForbidden},
		{doc: "localhost host", host: "localhost:" + port, expected: http.StatusOK},
		{doc: "127.0.0.1 host", host: "127.0.0.1:" + port, expected: http.StatusOK},
		{doc: "[::1] host", host: "[::1]:" + port, expected: http.StatusOK},
		{doc: "evil host with loopback origin", origin: "http://localhost:" + port, host: "evil.example", expected: http.StatusForbidden},
	}
	for _, tc := range testCases {
		t.Run(tc.doc, func(t *testing.T) {
			c := *owner
			c.t = t
			c.header = http.Header{}
			if tc.origin != "" {
				c.header.Set("Origin", tc.origin)
			}
			c.host = tc.host
			before := calls.Load()
			resp, msgs := c.callEcho(`{}`)
			assert.Equal(t, tc.expected, resp.StatusCode)
			if tc.expected == http.StatusOK {
				assert.Len(t, msgs, 1)
				assert.Equal(t, before+1, calls.Load())
			} else {
				assert.Equal(t, before, calls.Load(), "the tool was called")
			}

			// A new session is refused or accepted the same way.
			init := *owner
			init.t, init.header, init.host, init.sid, init.proto = t, c.header, tc.host, "", ""
			resp, _ = init.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + testProtocol + `","capabilities":{},"clientInfo":{"name":"raw","version":"test"}}}`)
			assert.Equal(t, tc.expected, resp.StatusCode)
			if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
				init.sid = sid
				init.header = http.Header{}
				init.host = ""
				resp, _ = init.do(http.MethodDelete, "", nil)
				assert.Equal(t, http.StatusNoContent, resp.StatusCode)
			}
		})
	}

	// The other routes are guarded too.
	for _, path := range []string{"/health", "/upstreams", "/agents/sessions"} {
		c := newClient(t, srv.Client(), srv.URL+path, "Origin", "http://evil.example")
		resp, _ := c.do(http.MethodGet, "", nil)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}
}

func TestOriginAllowed(t *testing.T) {
	g := &originGuard{allowed: map[string]bool{"https://app.example": true, "http://app.example:8443": true}}
	testCases := []struct {
		doc      string
		origin   string
		expected bool
	}{
		{doc: "allow-listed", origin: "https://app.example", expected: true},
		{doc: "allow-listed with port", origin: "http://app.example:8443", expected: true},
		{doc: "allow-listed host, other port", origin: "http://app.example:8444", expected: false},
		{doc: "allow-listed host, other scheme", origin: "http://app.example", expected: false},
		{doc: "allow-listed with trailing slash", origin: "https://app.example/", expected: false},
		{doc: "localhost", origin: "http://localhost", expected: true},
		{doc: "localhost with port", origin: "http://localhost:3000", expected: true},
		{doc: "localhost https", origin: "https://localhost:3000", expected: true},
		{doc: "localhost upper case", origin: "http://LOCALHOST:3000", expected: true},
		{doc: "127.0.0.1", origin: "http://127.0.0.1:8080", expected: true},
		{doc: "127.0.0.0/8", origin: "http://127.1.2.3", expected: true},
		{doc: "ipv6 loopback", origin: "http://[::1]:8080", expected: true},
		{doc: "null", origin: "null", expected: false},
		{doc: "empty", origin: "", expected: false},
		{doc: "evil", origin: "http://evil.example", expected: false},
		{doc: "evil https", origin: "https://evil.example", expected: false},
		{doc: "localhost as a subdomain", origin: "http://localhost.evil.example", expected: false},
		{doc: "localhost as a suffix", origin: "http://evillocalhost", expected: false},
		{doc: "loopback-looking name", origin: "http://127.0.0.1.nip.io", expected: false},
		{doc: "decimal IP", origin: "http://2130706433", expected: false},
		{doc: "unspecified", origin: "http://0.0.0.0:8080", expected: false},
		{doc: "ipv6 unspecified", origin: "http://[::]:8080", expected: false},
		{doc: "private address", origin: "http://192.168.1.1", expected: false},
		{doc: "file scheme", origin: "file://localhost", expected: false},
		{doc: "ws scheme", origin: "ws://localhost", expected: false},
		{doc: "no scheme", origin: "localhost:8080", expected: false},
		{doc: "path", origin: "http://localhost/", expected: false},
		{doc: "userinfo pointing elsewhere", origin: "http://localhost@evil.example", expected: false},
		{doc: "backslash trick", origin: `http://localhost\@evil.example`, expected: false},
		{doc: "bad port", origin: "http://localhost:http", expected: false},
		{doc: "opaque", origin: "http:localhost", expected: false},
	}
	for _, tc := range testCases {
		t.Run(tc.doc, func(t *testing.T) {
			assert.Equal(t, tc.expected, g.originAllowed(tc.origin), "originAllowed(%q)", tc.origin)
		})
	}
}

func TestIsLoopbackHost(t *testing.T) {
	testCases := []struct {
		doc      string
		host     string
		expected bool
	}{
		{doc: "localhost", host: "localhost", expected: true},
		{doc: "localhost with port", host: "localhost:8080", expected: true},
		{doc: "mixed case", host: "LocalHost:8080", expected: true},
		{doc: "127.0.0.1", host: "127.0.0.1", expected: true},
		{doc: "127.0.0.1 with port", host: "127.0.0.1:8080", expected: true},
		{doc: "127.255.255.254", host: "127.255.255.254:1", expected: true},
		{doc: "ipv6 loopback bracketed", host: "[::1]", expected: true},
		{doc: "ipv6 loopback with port", host: "[::1]:8080", expected: true},
		{doc: "ipv6 loopback bare", host: "::1", expected: true},
		{doc: "ipv6 loopback long form", host: "[0:0:0:0:0:0:0:1]:80", expected: true},
		{doc: "empty", host: "", expected: false},
		{doc: "evil", host: "evil.example", expected: false},
		{doc: "evil with port", host: "evil.example:8080", expected: false},
		{doc: "localhost subdomain", host: "localhost.evil.example", expected: false},
		{doc: "subdomain of localhost", host: "evil.localhost", expected: false},
		{doc: "unspecified", host: "0.0.0.0:8080", expected: false},
		{doc: "ipv6 unspecified", host: "[::]:8080", expected: false},
		{doc: "private", host: "10.0.0.1", expected: false},
		{doc: "decimal IP", host: "2130706433", expected: false},
		{doc: "octal IP", host: "0177.0.0.1", expected: false},
		{doc: "short IP", host: "127.1", expected: false},
		{doc: "link-local ipv6 with zone", host: "[fe80::1%25lo]:80", expected: false},
	}
	for _, tc := range testCases {
		t.Run(tc.doc, func(t *testing.T) {
			assert.Equal(t, tc.expected, isLoopbackHost(tc.host), "isLoopbackHost(%q)", tc.host)
		})
	}
}

// --- H6, H7, H8: limits of the real server (ServeHTTP) ---

// countingListener counts the bytes the server reads from its connections.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, read: &l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// startServe runs ServeHTTP on a loopback listener until the test ends.
func startServe(t *testing.T, o HTTPOptions) (string, *countingListener) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cl := &countingListener{Listener: ln}
	o.Listener = cl
	o.ShutdownGrace = time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeHTTP(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return ln.Addr().String(), cl
}

// testHTTPClient returns a client whose idle connections are closed when the
// test ends.
func testHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// rawExchange writes head and then body (via write, if set) to a new
// connection while reading the response; write errors are ignored since the
// server may close the connection before the body is sent.
func rawExchange(t *testing.T, addr, head string, write func(io.Writer)) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		if write != nil {
			write(conn)
		}
	})
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn.Close() // unblocks the writer
	return resp, body
}

// bigCallBody returns a tools/call body of n bytes.
func bigCallBody(n int) []byte {
	prefix := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"blob":"`
	suffix := `"}}}`
	return []byte(prefix + strings.Repeat("A", n-len(prefix)-len(suffix)) + suffix)
}

func TestBodyLimit(t *testing.T) {
	var calls atomic.Int64
	addr, cl := startServe(t, testOptions(&calls))
	const limit = 4 << 20 // the default
	body := bigCallBody(10 << 20)
	head := "POST /mcp HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"

	t.Run("content-length", func(t *testing.T) {
		before := cl.read.Load()
		resp, msg := rawExchange(t, addr, head+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n", func(w io.Writer) { w.Write(body) })
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", msg)
		read := cl.read.Load() - before
		t.Logf("server read %d bytes of a %d-byte request (limit %d)", read, len(body), limit)
		assert.Less(t, read, int64(limit+1<<20), "the server read far past the limit")
	})
	t.Run("chunked", func(t *testing.T) {
		before := cl.read.Load()
		resp, msg := rawExchange(t, addr, head+"Transfer-Encoding: chunked\r\n\r\n", func(w io.Writer) {
			for b := body; len(b) > 0; {
				n := min(len(b), 64<<10)
				if _, err := fmt.Fprintf(w, "%x\r\n%s\r\n", n, b[:n]); err != nil {
					return
				}
				b = b[n:]
			}
			io.WriteString(w, "0\r\n\r\n")
		})
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", msg)
		read := cl.read.Load() - before
		t.Logf("server read %d bytes of a chunked %d-byte body (limit %d)", read, len(body), limit)
		assert.Less(t, read, int64(limit+1<<20), "the server read far past the limit")
	})
	assert.Zero(t, calls.Load(), "an oversized call reached the tool")

	// The gateway still serves, and a body just under the limit passes.
	c := newClient(t, testHTTPClient(t), "http://"+addr+"/mcp")
	c.initialize()
	c.mustEcho()
	resp, msgs := c.callEcho(`{"blob":"` + strings.Repeat("A", limit-200) + `"}`)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, msgs, 1)
}

func TestHeaderLimit(t *testing.T) {
	var calls atomic.Int64
	addr, _ := startServe(t, testOptions(&calls))
	var b strings.Builder
	b.WriteString("GET /health HTTP/1.1\r\nHost: " + addr + "\r\n")
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "X-Filler-%d: %s\r\n", i, strings.Repeat("v", 1000))
	}
	b.WriteString("\r\n")
	resp, _ := rawExchange(t, addr, b.String(), nil)
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	// One huge header too.
	resp, _ = rawExchange(t, addr, "GET /health HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: Bearer "+strings.Repeat("x", 1<<20)+"\r\n\r\n", nil)
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	hc := testHTTPClient(t)
	r, err := hc.Get("http://" + addr + "/health")
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, http.StatusOK, r.StatusCode)
}

// TestSlowloris holds 50 connections that send one header byte per second
// and checks that a legitimate client is served meanwhile. That they are
// closed after ReadHeaderTimeout cannot be checked quickly: ServeHTTP has no
// knob for it (DefaultReadHeaderTimeout, 10s).
func TestSlowloris(t *testing.T) {
	var calls atomic.Int64
	addr, _ := startServe(t, testOptions(&calls))
	const slow = 50
	head := "POST /mcp HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: " + strings.Repeat("s", 100)
	const rounds = 4 // the slow connections' bytes, one a second, that legitimate calls are made among
	stop := make(chan struct{})
	wrote := make(chan struct{}, slow*rounds) // a slow connection sent a byte
	var wg sync.WaitGroup
	var open atomic.Int64
	for range slow {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		open.Add(1)
		wg.Go(func() {
			defer conn.Close()
			defer open.Add(-1)
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for i := 0; ; i++ {
				if _, err := conn.Write([]byte{head[i%len(head)]}); err != nil {
					return // closed by the server
				}
				select {
				case wrote <- struct{}{}:
				default: // the test has all the bytes it waits for
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		})
	}
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
	})

	c := newClient(t, testHTTPClient(t), "http://"+addr+"/mcp")
	c.initialize()
	// After each round of bytes from every slow connection (a second apart,
	// so they are over three seconds into their headers by the end), a few
	// legitimate calls.
	n := 0
	for round := range rounds {
		for range slow {
			select {
			case <-wrote:
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: the slow connections stopped sending (%d open)", round+1, open.Load())
			}
		}
		for range 5 {
			c.mustEcho()
			n++
		}
	}
	assert.Equal(t, int64(slow), open.Load(), "slow connections ended before the test (expected to be held up to ReadHeaderTimeout)")
	assert.Equal(t, int64(n), calls.Load())
	t.Logf("%d calls served while %d slow connections were open", n, open.Load())
}

// --- H9, H11, H12, H14: JSON-RPC at the front door ---

func TestBatchRejected(t *testing.T) {
	var calls atomic.Int64
	srv := startTestServer(t, testOptions(&calls))
	c := newClient(t, srv.Client(), srv.URL+"/mcp")
	c.initialize()
	batch := `[{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"echo","arguments":{}}},` +
		`{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"echo","arguments":{}}}]`

	for _, proto := range []string{"2025-06-18", testProtocol} {
		t.Run(proto, func(t *testing.T) {
			c := *c
			c.t, c.proto = t, proto
			resp, body := c.post(batch)
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
			assert.Zero(t, calls.Load(), "a batched call reached the tool")
		})
	}
	// The session negotiated 2025-11-25, which has no batches: a client that
	// leaves out the (optional after init) version header must not get one
	// through either.
	t.Run("no version header", func(t *testing.T) {
		c := *c
		c.t, c.proto = t, ""
		resp, body := c.post(batch)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
		assert.Zero(t, calls.Load(), "a batched call reached the tool")
	})
	c.mustEcho()
}

func TestNotificationAccepted(t *testing.T) {
	var calls atomic.Int64
	srv := startTestServer(t, testOptions(&calls))
	c := newClient(t, srv.Client(), srv.URL+"/mcp")
	c.initialize()
	for _, n := range []string{
		`{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"x","progress":1}}`,
	} {
		resp, body := c.post(n)
		assert.Equal(t, http.StatusAccepted, resp.StatusCode, n)
		assert.Empty(t, body, n)
	}
	c.mustEcho()
}

func TestGETNeedsEventStream(t *testing.T) {
	var calls atomic.Int64
	srv := startTestServer(t, testOptions(&calls))
	c := newClient(t, srv.Client(), srv.URL+"/mcp")
	c.initialize()
	for _, accept := range []string{"", "application/json", "text/html, */xml"} {
		resp, body := c.do(http.MethodGet, "", func(r *http.Request) {
			if accept == "" {
				r.Header.Del("Accept")
			} else {
				r.Header.Set("Accept", accept)
			}
		})
		assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "Accept %q: %d %s", accept, resp.StatusCode, body)
	}
	c.mustEcho()
}

func TestMalformedMessages(t *testing.T) {
	var calls atomic.Int64
	srv := startTestServer(t, testOptions(&calls))
	c := newClient(t, srv.Client(), srv.URL+"/mcp")
	c.initialize()

	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	deepObj := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	call := func(args string) string {
		return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":` + args + `}}`
	}
	// lenient cases may also be answered with a result: valid JSON the SDK
	// reads leniently, harmless to forward. The others break a MUST (R1:
	// UTF-8; R2: id not null; JSON-RPC 2.0 parse and request errors;
	// SECURITY.md H14).
	testCases := []struct {
		doc     string
		body    string
		lenient bool
	}{
		{doc: "invalid UTF-8 outside strings", body: "{\"jsonrpc\":\"2.0\",\"id\":7,\xff\"method\":\"tools/list\"}"},
		{doc: "invalid UTF-8 in the method", body: "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/\xff\xfelist\"}"},
		{doc: "invalid UTF-8 in an argument", body: call("{\"s\":\"\xff\xfe\xfd\"}")},
		{doc: "invalid UTF-8 in a key", body: call("{\"\xc3\x28\":1}")},
		{doc: "deep arrays", body: call(`{"a":` + deep + `}`)},
		{doc: "deep arrays as the body", body: deep},
		{doc: "deep objects", body: call(deepObj)},
		{doc: "id null", body: `{"jsonrpc":"2.0","id":null,"method":"tools/list"}`},
		{doc: "id null call", body: `{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"echo","arguments":{}}}`},
		{doc: "id 1e400", body: `{"jsonrpc":"2.0","id":1e400,"method":"tools/list"}`},
		{doc: "id object", body: `{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}`},
		{doc: "NaN id", body: `{"jsonrpc":"2.0","id":NaN,"method":"tools/list"}`},
		{doc: "NaN argument", body: call(`{"x":NaN}`)},
		{doc: "Infinity argument", body: call(`{"x":Infinity}`)},
		{doc: "duplicate method keys", body: `{"jsonrpc":"2.0","id":7,"method":"tools/list","method":"tools/call","params":{"name":"echo","arguments":{}}}`},
		{doc: "wrong jsonrpc version", body: `{"jsonrpc":"1.0","id":7,"method":"tools/list"}`},
		{doc: "not an object", body: `"tools/list"`},
		{doc: "truncated", body: `{"jsonrpc":"2.0","id":7,"method":"tools/li`},
		{doc: "empty batch", body: `[]`},
		{doc: "id without method, result or error", body: `{"jsonrpc":"2.0","id":7}`, lenient: true},
		{doc: "trailing garbage", body: `{"jsonrpc":"2.0","id":7,"method":"tools/list"} x`, lenient: true},
		{doc: "arguments not an object", body: call(`[1,2]`), lenient: true},
		{doc: "huge array", body: call(`{"a":[` + strings.Repeat("0,", 1_000_000) + `0]}`), lenient: true},
	}
	for _, tc := range testCases {
		t.Run(tc.doc, func(t *testing.T) {
			c := *c
			c.t = t
			before := calls.Load()
			resp, body := c.post(tc.body)
			t.Logf("%d %s %.200q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			switch {
			case resp.StatusCode >= 400 && resp.StatusCode < 500:
			case resp.StatusCode == http.StatusAccepted && tc.lenient:
			case resp.StatusCode == http.StatusOK:
				msgs := rpcMessages(t, resp, body)
				if assert.Len(t, msgs, 1) && !tc.lenient {
					_, isErr := rpcError(msgs[0])
					assert.True(t, isErr, "answered with a result, not an error: %.300s", msgs[0])
				}
			default:
				t.Errorf("status %d: want a 4xx or a JSON-RPC error", resp.StatusCode)
			}
			if strings.HasPrefix(tc.doc, "deep") {
				assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
				msgs := rpcMessages(t, resp, body)
				if assert.Len(t, msgs, 1) {
					code, _ := rpcError(msgs[0])
					assert.Equal(t, -32700, code)
				}
				assert.Equal(t, before, calls.Load())
			}
			// The session keeps working.
			c.mustEcho()
		})
	}
}

// --- Authentication, scopes, rate limits, session binding ---

func TestAuthFrontDoor(t *testing.T) {
	var calls atomic.Int64
	srv := startTestServer(t, withAuth(testOptions(&calls)))
	hc := srv.Client()

	t.Run("no credential", func(t *testing.T) {
		for _, path := range []string{"/mcp", "/mcp/up", "/upstreams", "/agents/sessions"} {
			c := newClient(t, hc, srv.URL+path)
			method := http.MethodPost
			if !strings.HasPrefix(path, "/mcp") {
				method = http.MethodGet
			}
			resp, body := c.do(method, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s", path, body)
			assert.Equal(t, testChallenge, resp.Header.Get("WWW-Authenticate"), path)
		}
	})
	t.Run("wrong credential", func(t *testing.T) {
		c := newClient(t, hc, srv.URL+"/mcp", "Authorization", "Bearer nope")
		resp, _ := c.post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
	})
	t.Run("public routes", func(t *testing.T) {
		resp, err := hc.Get(srv.URL + "/health")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("insufficient scope", func(t *testing.T) {
		c := newClient(t, hc, srv.URL+"/mcp", "X-Api-Key", "key-noscope")
		resp, body := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + testProtocol + `","capabilities":{},"clientInfo":{"name":"raw","version":"test"}}}`)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Contains(t, string(body), "insufficient_scope")
		assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
		assert.Empty(t, resp.Header.Get("Mcp-Session-Id"))
	})
	t.Run("rate limited", func(t *testing.T) {
		c := newClient(t, hc, srv.URL+"/mcp", "X-Api-Key", "key-limited")
		resp, body := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + testProtocol + `","capabilities":{},"clientInfo":{"name":"raw","version":"test"}}}`)
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
		assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	})
	t.Run("session binding", func(t *testing.T) {
		alice := newClient(t, hc, srv.URL+"/mcp", "X-Api-Key", "key-alice")
		alice.initialize()
		alice.mustEcho()
		before := calls.Load()

		// Bob, with Alice's session id: not found, whatever the method.
		bob := *alice
		bob.t, bob.header = t, http.Header{"X-Api-Key": {"key-bob"}}
		resp, msgs := bob.callEcho(`{}`)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", msgs)
		resp, _ = bob.do(http.MethodGet, "", func(r *http.Request) { r.Header.Set("Accept", "text/event-stream") })
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		resp, _ = bob.do(http.MethodDelete, "", nil)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Equal(t, before, calls.Load())

		// Also at the single-upstream route, and by bearer token.
		bob.url = srv.URL + "/mcp/up"
		resp, _ = bob.callEcho(`{}`)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		bob.url, bob.header = srv.URL+"/mcp", http.Header{"Authorization": {"Bearer key-bob"}}
		resp, _ = bob.callEcho(`{}`)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)

		// Alice's session survived all that.
		alice.mustEcho()
	})
	t.Run("agents/sessions", func(t *testing.T) {
		alice := newClient(t, hc, srv.URL+"/mcp", "X-Api-Key", "key-alice")
		alice.initialize()
		bob := newClient(t, hc, srv.URL+"/mcp/up", "X-Api-Key", "key-bob")
		bob.initialize()

		list := func(key string) []SessionInfo {
			c := newClient(t, hc, srv.URL+"/agents/sessions", "X-Api-Key", key)
			resp, body := c.do(http.MethodGet, "", nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
			var out []SessionInfo
			require.NoError(t, json.Unmarshal(body, &out), "%s", body)
			return out
		}
		ids := func(s []SessionInfo) map[string]string {
			m := map[string]string{}
			for _, si := range s {
				m[si.ID] = si.Identity
			}
			return m
		}
		got := ids(list("key-alice"))
		assert.Equal(t, "alice", got[alice.sid])
		assert.NotContains(t, got, bob.sid)
		for _, who := range got {
			assert.Equal(t, "alice", who)
		}
		bobs := list("key-bob")
		assert.Equal(t, map[string]string{bob.sid: "bob"}, ids(bobs))
		if assert.Len(t, bobs, 1) {
			assert.Equal(t, "/mcp/up", bobs[0].Endpoint)
			assert.Equal(t, "bot", bobs[0].Agent)
		}
		all := ids(list("key-admin"))
		assert.Equal(t, "alice", all[alice.sid])
		assert.Equal(t, "bob", all[bob.sid])

		// Without read/write scope the list is still one's own (empty).
		assert.Empty(t, list("key-noscope"))
	})
}

// TestFailedInitializeLeavesNoSession: the SDK answers an initialize whose
// params it cannot read with a JSON-RPC error in a 200 response that still
// carries an Mcp-Session-Id, and closes that session at once. The registry
// must not keep it (nor count it in OnSessions): else every failed
// initialize grows the registry until a sweep, which only /agents/sessions
// runs.
func TestFailedInitializeLeavesNoSession(t *testing.T) {
	var calls atomic.Int64
	o := withAuth(testOptions(&calls))
	srv := startTestServer(t, o)
	c := newClient(t, srv.Client(), srv.URL+"/mcp", "X-Api-Key", "key-alice")
	for _, params := range []string{`""`, `{"protocolVersion":1}`, `[]`} {
		resp, body := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":` + params + `}`)
		t.Logf("params %s: %d, session %q: %s", params, resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), body)
		if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
			// The session the answer names is not served...
			dead := *c
			dead.sid = sid
			r, _ := dead.callEcho(`{}`)
			assert.Equal(t, http.StatusNotFound, r.StatusCode)
		}
	}
	// ... but the 404 just now removed it from the registry. Fail a few
	// more, and look before using them.
	for range 3 {
		resp, _ := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":""}`)
		require.NotEqual(t, http.StatusInternalServerError, resp.StatusCode)
	}
	list := newClient(t, srv.Client(), srv.URL+"/agents/sessions", "X-Api-Key", "key-alice")
	resp, body := list.do(http.MethodGet, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `[]`, string(body), "sessions that failed to initialize are listed")
	assert.Empty(t, o.Sessions.(*sessions.Book).Counts(), "sessions that failed to initialize are counted")
}

// TestGatewayServesAfterAbuse runs the abusive requests of this file against
// one real server in a row, then checks an ordinary client still works.
func TestGatewayServesAfterAbuse(t *testing.T) {
	var calls atomic.Int64
	addr, _ := startServe(t, withAuth(testOptions(&calls)))
	hc := testHTTPClient(t)
	c := newClient(t, hc, "http://"+addr+"/mcp", "X-Api-Key", "key-alice")
	c.initialize()
	for _, body := range []string{
		strings.Repeat("[", 100_000),
		"\xff\xfe",
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`{"jsonrpc":"2.0","id":NaN}`,
	} {
		resp, _ := c.post(body)
		assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "%q: %d", body, resp.StatusCode)
	}
	c.mustEcho()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err, "the gateway stopped accepting")
	conn.Close()
}
