package main

// End-to-end tests of identity and policy through the real binary (issue 5;
// ../shared/SECURITY.md sections A, S and L). Every test runs its own
// gateway: `serve --http 127.0.0.1:0` in front of an echo upstream "a" over
// stdio and a remote echo "r" over streamable HTTP, whose `headers` tool
// shows what reaches a remote upstream. The JWT negative corpus (section J)
// is covered by the auth package's unit tests.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// aeForbidden is the JSON-RPC code of a request the identity may not make
// (aggregator.CodeForbidden).
const aeForbidden = -32010

// aeProtocol is the protocol version raw requests use.
const aeProtocol = "2025-11-25"

// aeKey is one API key of the test config.
type aeKey struct {
	owner     string
	key       string // plaintext, as a client presents it
	plaintext bool   // written to the config as itself, not as a digest
	upstreams []string
	tools     []string
	scopes    []string
	rpm       int
	burst     int
	admin     bool
}

// aeGateway is a gateway with the test's auth config, and every secret that
// must never show up in its log, its /config or an error body.
type aeGateway struct {
	*gatewayProcess
	keys        map[string]aeKey // by owner
	agentSecret string
	// upstreamHeader is the Authorization value configured for "r": the
	// only credential that may reach it.
	upstreamHeader string
	upstreamEnv    string

	mu       sync.Mutex
	canaries map[string]string // value → what it is
}

// aeCanary returns a recognisable random value.
func aeCanary(kind string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return "canary-" + kind + "-" + hex.EncodeToString(b)
}

// addCanary records a secret that must never appear in the gateway's log.
func (g *aeGateway) addCanary(value, what string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.canaries[value] = what
}

// assertNoCanaries checks s (a log, a response body) for every secret.
func (g *aeGateway) assertNoCanaries(t *testing.T, where, s string) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for v, what := range g.canaries {
		if i := strings.Index(s, v); i >= 0 {
			start := strings.LastIndexByte(s[:i], '\n') + 1
			end := len(s)
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				end = i + j
			}
			t.Errorf("%s contains the %s (%d times); first in: %s", where, what, strings.Count(s, v), s[start:end])
		}
	}
}

// key returns the plaintext key of owner.
func (g *aeGateway) key(owner string) string { return g.keys[owner].key }

// aeKeys are the identities of the test config:
//   - admin: digest, everything, admin
//   - plain: plaintext in the config (a warning), everything, not admin
//   - reader: read only, upstream a, tools a__echo and a__whoami
//   - writer: write only, upstreams a and r, tool a__echo
//   - owner: registers agents, upstreams a and r, read and write
//   - ronly: upstream r only, read and write
//   - limited: 60 rpm, burst 2
//
// Every key but limited is unlimited, so that no flow trips a rate limit.
func aeKeys() []aeKey {
	all := []string{"read", "write"}
	keys := []aeKey{
		{owner: "admin", upstreams: []string{"*"}, scopes: all, rpm: -1, admin: true},
		{owner: "plain", plaintext: true, upstreams: []string{"*"}, scopes: all, rpm: -1},
		{owner: "reader", upstreams: []string{"a"}, tools: []string{"a__echo", "a__whoami"}, scopes: []string{"read"}, rpm: -1},
		{owner: "writer", upstreams: []string{"a", "r"}, tools: []string{"a__echo"}, scopes: []string{"write"}, rpm: -1},
		{owner: "owner", upstreams: []string{"a", "r"}, scopes: all, rpm: -1},
		{owner: "ronly", upstreams: []string{"r"}, scopes: all, rpm: -1},
		{owner: "limited", upstreams: []string{"*"}, scopes: all, rpm: 60, burst: 2},
	}
	for i := range keys {
		if keys[i].plaintext {
			keys[i].key = aeCanary("plain-key")
		} else {
			k, _, err := auth.NewKey()
			if err != nil {
				panic(err)
			}
			keys[i].key = k
		}
	}
	return keys
}

// config returns the gateway config: upstream a (stdio echo with one
// generated tool, and an env secret), upstream r (the remote echo at
// remoteURL, with configured headers; left out if remoteURL is ""), the keys
// and the agent secret.
func (g *aeGateway) config(remoteURL string) map[string]any {
	var keys []map[string]any
	for _, k := range g.keys {
		stored := auth.HashKey(k.key)
		if k.plaintext {
			stored = k.key
		}
		e := map[string]any{"key": stored, "owner": k.owner, "allowed_upstreams": k.upstreams, "scopes": k.scopes, "rate_limit_rpm": k.rpm}
		if k.tools != nil {
			e["allowed_tools"] = k.tools
		}
		if k.burst != 0 {
			e["burst"] = k.burst
		}
		if k.admin {
			e["admin"] = true
		}
		keys = append(keys, e)
	}
	slices.SortFunc(keys, func(a, b map[string]any) int { return strings.Compare(a["owner"].(string), b["owner"].(string)) })
	authCfg := map[string]any{"api_keys": keys, "agent_tokens": map[string]any{"secret": g.agentSecret}}
	servers := map[string]any{
		"a": map[string]any{"command": bins.echo, "args": []string{"--name", "a", "--tools", "1"}, "env": map[string]string{"ECHO_SECRET": g.upstreamEnv}},
	}
	if remoteURL != "" {
		servers["r"] = map[string]any{"url": remoteURL + "/mcp", "headers": map[string]string{
			"X-Upstream":    "configured",
			"Authorization": g.upstreamHeader,
		}}
	}
	return map[string]any{"mcpServers": servers, "gateway": map[string]any{"auth": authCfg}}
}

// newAEGateway prepares the keys and secrets of a test gateway.
func newAEGateway() *aeGateway {
	g := &aeGateway{
		keys:           map[string]aeKey{},
		agentSecret:    aeCanary("agent-secret"), // 64+ bytes
		upstreamHeader: "Bearer " + aeCanary("upstream-header"),
		upstreamEnv:    aeCanary("upstream-env"),
		canaries:       map[string]string{},
	}
	for _, k := range aeKeys() {
		g.keys[k.owner] = k
		g.addCanary(k.key, "API key of "+k.owner)
	}
	g.addCanary(g.agentSecret, "agent token secret")
	g.addCanary(strings.TrimPrefix(g.upstreamHeader, "Bearer "), "configured upstream header value")
	g.addCanary(g.upstreamEnv, "configured upstream env value")
	return g
}

// startAuthGateway starts a remote echo "r" and the gateway over HTTP on
// 127.0.0.1. When the test ends, the gateway's log is checked for every
// canary.
func startAuthGateway(t *testing.T) *aeGateway {
	t.Helper()
	needBins(t)
	g := newAEGateway()
	remote := startEchoHTTP(t, "http", "r")
	cfg := writeConfig(t, g.config(remote))
	g.gatewayProcess = startHTTP(t, cfg)
	t.Cleanup(func() {
		log := g.stderr.String()
		g.assertNoCanaries(t, "gateway stderr", log)
		if t.Failed() {
			lines := strings.Split(strings.TrimSpace(log), "\n")
			t.Logf("gateway stderr, last %d of %d lines:\n%s", min(len(lines), 40), len(lines), strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return g
}

// aeHeaderTransport adds fixed headers to every request of an MCP client.
type aeHeaderTransport struct {
	headers map[string]string
	base    http.RoundTripper
}

func (rt *aeHeaderTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range rt.headers {
		r.Header.Set(k, v)
	}
	return rt.base.RoundTrip(r)
}

// aeConnect connects an MCP client to url sending headers with every request.
func aeConnect(t *testing.T, url string, headers map[string]string) *mcp.ClientSession {
	t.Helper()
	return aeConnectOpts(t, url, headers, nil)
}

func aeConnectOpts(t *testing.T, url string, headers map[string]string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1, HTTPClient: &http.Client{
		Transport: &aeHeaderTransport{headers: headers, base: http.DefaultTransport},
	}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "auth-e2e", Version: "test"}, opts).Connect(ctx, tr, nil)
	require.NoError(t, err, "connect to %s", url)
	t.Cleanup(func() { cs.Close() })
	return cs
}

func aeAPIKey(key string) map[string]string { return map[string]string{"X-Api-Key": key} }

// aeDo sends one HTTP request and returns the response (body read and
// closed) and its body.
func aeDo(t *testing.T, method, url string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(t, err, "%s %s", method, url)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// aeWith returns headers plus the extra pairs.
func aeWith(headers map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range headers {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// aeRPCError asserts err is a JSON-RPC error with code and a message
// containing each of want.
func aeRPCError(t *testing.T, err error, code int64, want ...string) {
	t.Helper()
	var rpcErr *jsonrpc.Error
	if !assert.True(t, errors.As(err, &rpcErr), "want JSON-RPC error %d, got %v", code, err) {
		return
	}
	assert.Equal(t, code, rpcErr.Code, "error %q", rpcErr.Message)
	for _, w := range want {
		assert.Contains(t, rpcErr.Message, w)
	}
}

// aeCompleteDenied asserts that completion/complete on prompt is refused
// with CodeForbidden.
func aeCompleteDenied(t *testing.T, cs *mcp.ClientSession, prompt string) {
	t.Helper()
	res, err := cs.Complete(context.Background(), &mcp.CompleteParams{
		Ref:      &mcp.CompleteReference{Type: "ref/prompt", Name: prompt},
		Argument: mcp.CompleteParamsArgument{Name: "name", Value: "al"},
	})
	if err == nil {
		t.Errorf("completion/complete on prompt %q of an upstream the identity may not use answered %q; want JSON-RPC error %d",
			prompt, res.Completion.Values, aeForbidden)
		return
	}
	aeRPCError(t, err, aeForbidden)
}

func aeCall(cs *mcp.ClientSession, name string, args map[string]any) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
}

func aeTools(t *testing.T, cs *mcp.ClientSession) []*mcp.Tool {
	t.Helper()
	var out []*mcp.Tool
	for tool, err := range cs.Tools(context.Background(), nil) {
		require.NoError(t, err)
		out = append(out, tool)
	}
	return out
}

func aeToolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	names := []string{}
	for _, tool := range aeTools(t, cs) {
		names = append(names, tool.Name)
	}
	return names
}

func aePromptNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	names := []string{}
	for p, err := range cs.Prompts(context.Background(), nil) {
		require.NoError(t, err)
		names = append(names, p.Name)
	}
	return names
}

func aeResourceURIs(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	uris := []string{}
	for r, err := range cs.Resources(context.Background(), nil) {
		require.NoError(t, err)
		uris = append(uris, r.URI)
	}
	return uris
}

func aeTemplates(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	out := []string{}
	for r, err := range cs.ResourceTemplates(context.Background(), nil) {
		require.NoError(t, err)
		out = append(out, r.URITemplate)
	}
	return out
}

// aeInitialize sends a raw initialize and returns the status and session id.
func aeInitialize(t *testing.T, url string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	return aeDo(t, "POST", url, headers, initializeBody)
}

// aeStartSession makes a session by raw requests (initialize, initialized)
// and returns its id.
func aeStartSession(t *testing.T, url string, headers map[string]string) string {
	t.Helper()
	resp, body := aeInitialize(t, url, headers)
	require.Equal(t, http.StatusOK, resp.StatusCode, "initialize: %s", body)
	sid := resp.Header.Get("Mcp-Session-Id")
	require.NotEmpty(t, sid)
	resp, body = aeDo(t, "POST", url, aeWith(headers, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", aeProtocol), initializedBody)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "initialized: %s", body)
	return sid
}

// ---------------------------------------------------------------------------
// Flows. Each Test runs one on its own gateway; TestAuthCanariesNotLogged
// runs them all on one gateway and then greps its log.

// aeFlowAPIKeys: SECURITY.md A1, A2, A8; the auth column of SPEC §6.
func aeFlowAPIKeys(t *testing.T, g *aeGateway) {
	mcpURL := g.url + "/mcp"
	plain, admin := g.key("plain"), g.key("admin")

	check401 := func(what string, headers map[string]string) {
		t.Helper()
		resp, body := aeInitialize(t, mcpURL, headers)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s: %s", what, body)
		assert.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer"),
			"%s: WWW-Authenticate = %q", what, resp.Header.Get("WWW-Authenticate"))
		assert.Empty(t, resp.Header.Get("Mcp-Session-Id"), "%s: no session without a credential", what)
		for _, v := range headers {
			if len(v) > 8 {
				assert.NotContains(t, body, v, "%s: the 401 body echoes the presented credential", what)
			}
		}
		g.assertNoCanaries(t, what+": 401 body", body)
	}
	check401("no credential", nil)
	check401("wrong plaintext-stored key, same length", aeAPIKey(aeFlipLast(plain)))
	check401("wrong digest-stored key, same length", aeAPIKey(aeFlipLast(admin)))
	check401("wrong key, other length", aeAPIKey(admin+"x"))
	check401("digest presented as the key", aeAPIKey(auth.HashKey(admin)))
	check401("wrong bearer key", map[string]string{"Authorization": "Bearer " + aeFlipLast(admin)})
	check401("Bearer with nothing after it", map[string]string{"Authorization": "Bearer "})
	check401("Basic scheme", map[string]string{"Authorization": "Basic " + admin})
	resp, body := aeDo(t, "POST", mcpURL+"?api_key="+admin+"&access_token="+admin, nil, initializeBody)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "credential in the query (A6): %s", body)
	resp, body = aeInitialize(t, mcpURL, aeAPIKey(strings.Repeat("k", 9<<10)))
	assert.Contains(t, []int{http.StatusUnauthorized, http.StatusRequestHeaderFieldsTooLarge}, resp.StatusCode, "9 KiB X-Api-Key (H7): %s", body)
	// The same header twice, both valid: refused rather than guessed at.
	req, err := http.NewRequest("POST", mcpURL, strings.NewReader(initializeBody))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Add("X-Api-Key", plain)
	req.Header.Add("X-Api-Key", admin)
	r2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	io.Copy(io.Discard, r2.Body)
	r2.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, r2.StatusCode, "X-Api-Key repeated")

	for _, tc := range []struct {
		what    string
		headers map[string]string
	}{
		{"X-Api-Key, digest-stored", aeAPIKey(admin)},
		{"X-Api-Key, plaintext-stored", aeAPIKey(plain)},
		{"Authorization: Bearer, digest-stored", map[string]string{"Authorization": "Bearer " + admin}},
		{"Authorization: Bearer, plaintext-stored", map[string]string{"Authorization": "Bearer " + plain}},
		{"bearer scheme in lower case", map[string]string{"Authorization": "bearer " + plain}},
	} {
		resp, body := aeInitialize(t, mcpURL, tc.headers)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", tc.what, body)
		assert.NotEmpty(t, resp.Header.Get("Mcp-Session-Id"), tc.what)
	}
	// A whole MCP session with a bearer key.
	cs := aeConnect(t, mcpURL, map[string]string{"Authorization": "Bearer " + plain})
	assert.Contains(t, aeToolNames(t, cs), "r__echo")
	res, err := aeCall(cs, "a__echo", map[string]any{"text": "bearer works"})
	if assert.NoError(t, err) {
		assert.Equal(t, "bearer works", res.Content[0].(*mcp.TextContent).Text)
	}

	// Probes need no credential; /upstreams does.
	for _, path := range []string{"/health", "/readyz"} {
		resp, body := aeDo(t, "GET", g.url+path, nil, "")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s without a credential: %s", path, body)
	}
	resp, body = aeDo(t, "GET", g.url+"/upstreams", nil, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "/upstreams without a credential: %s", body)
	assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"), "/upstreams 401")
	resp, body = aeDo(t, "GET", g.url+"/upstreams", aeAPIKey(g.key("reader")), "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "/upstreams with a key: %s", body)
	g.assertNoCanaries(t, "/upstreams", body)

	// /config: admins only, every secret redacted.
	resp, body = aeDo(t, "GET", g.url+"/config", aeAPIKey(admin), "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "/config as admin: %s", body)
	g.assertNoCanaries(t, "/config", body)
	assert.Contains(t, body, auth.HashKey(plain), "/config shows the plaintext key as its digest")
	assert.Contains(t, body, "[redacted]")
	assert.NotContains(t, body, `"configured"`, "/config shows an upstream header value")
	var cfg struct {
		MCPServers map[string]struct {
			Env     map[string]string `json:"env"`
			Headers map[string]string `json:"headers"`
		} `json:"mcpServers"`
	}
	if assert.NoError(t, json.Unmarshal([]byte(body), &cfg), "/config is JSON") {
		assert.Equal(t, map[string]string{"ECHO_SECRET": "[redacted]"}, cfg.MCPServers["a"].Env)
		assert.Equal(t, map[string]string{"X-Upstream": "[redacted]", "Authorization": "[redacted]"}, cfg.MCPServers["r"].Headers)
	}
	for _, owner := range []string{"plain", "reader", "writer"} {
		resp, body = aeDo(t, "GET", g.url+"/config", aeAPIKey(g.key(owner)), "")
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "/config as non-admin %s: %s", owner, body)
		g.assertNoCanaries(t, "/config 403", body)
	}
	resp, body = aeDo(t, "GET", g.url+"/config", nil, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "/config without a credential: %s", body)

	// No OAuth configured: no protected resource metadata.
	resp, _ = aeDo(t, "GET", g.url+"/.well-known/oauth-protected-resource", nil, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "RFC 9728 metadata without OAuth configured")
}

// aeFlowPolicyViews: SECURITY.md A7; SPEC §7 policy on /mcp and /mcp/{upstream}.
func aeFlowPolicyViews(t *testing.T, g *aeGateway) {
	ctx := context.Background()
	// What the policy implies is computed from the full catalog: the reader
	// (scope read, tools a__echo and a__whoami) may call only those of its
	// tools annotated readOnlyHint.
	full := aeConnect(t, g.url+"/mcp", aeAPIKey(g.key("admin")))
	var readerWant []string
	all := map[string]bool{}
	for _, tool := range aeTools(t, full) {
		all[tool.Name] = true
		if (tool.Name == "a__echo" || tool.Name == "a__whoami") && tool.Annotations != nil && tool.Annotations.ReadOnlyHint {
			readerWant = append(readerWant, tool.Name)
		}
	}
	for _, n := range []string{"a__echo", "a__whoami", "a__add", "r__echo", "r__headers"} {
		require.True(t, all[n], "the admin sees %s", n)
	}
	if readerWant == nil {
		readerWant = []string{} // the echo upstream annotates no tool readOnlyHint
	}

	t.Run("reader on /mcp", func(t *testing.T) {
		cs := aeConnect(t, g.url+"/mcp", aeAPIKey(g.key("reader")))
		assert.ElementsMatch(t, readerWant, aeToolNames(t, cs), "read scope: only readOnlyHint tools among a__echo, a__whoami")
		for _, name := range []string{"a__echo", "a__whoami", "a__add", "r__echo", "r__headers"} {
			_, err := aeCall(cs, name, map[string]any{"text": "x"})
			if !slices.Contains(readerWant, name) {
				aeRPCError(t, err, aeForbidden, strconv.Quote(name))
			}
		}
		// Prompts and resources: read scope, upstream a only.
		assert.Equal(t, []string{"a__greet"}, aePromptNames(t, cs), "prompts of r are invisible")
		pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "a__greet", Arguments: map[string]string{"name": "Ann"}})
		if assert.NoError(t, err) {
			assert.Contains(t, pr.Messages[0].Content.(*mcp.TextContent).Text, "(from a)")
		}
		_, err = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "r__greet", Arguments: map[string]string{"name": "Ann"}})
		aeRPCError(t, err, aeForbidden, `"r"`)
		for _, uri := range aeResourceURIs(t, cs) {
			rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
			if assert.NoError(t, err, uri) {
				assert.Contains(t, rr.Contents[0].Text, "of a", "resource %s is upstream a's", uri)
			}
		}
		assert.NotEmpty(t, aeTemplates(t, cs), "a's templates are readable")
		// Completion of a prompt the identity may not see is refused too.
		aeCompleteDenied(t, cs, "r__greet")
		res, err := cs.Complete(ctx, &mcp.CompleteParams{
			Ref:      &mcp.CompleteReference{Type: "ref/prompt", Name: "a__greet"},
			Argument: mcp.CompleteParamsArgument{Name: "name", Value: "al"},
		})
		if assert.NoError(t, err, "completion on an allowed prompt") {
			assert.Equal(t, []string{"alice", "albert"}, res.Completion.Values)
		}
	})

	t.Run("reader on /mcp/r", func(t *testing.T) {
		cs := aeConnect(t, g.url+"/mcp/r", aeAPIKey(g.key("reader")))
		assert.Empty(t, aeToolNames(t, cs), "tools")
		assert.Empty(t, aePromptNames(t, cs), "prompts")
		assert.Empty(t, aeResourceURIs(t, cs), "resources")
		assert.Empty(t, aeTemplates(t, cs), "resource templates")
		_, err := aeCall(cs, "echo", map[string]any{"text": "x"})
		aeRPCError(t, err, aeForbidden, `"echo"`)
		_, err = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"name": "Ann"}})
		aeRPCError(t, err, aeForbidden)
		_, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "echo://static"})
		aeRPCError(t, err, aeForbidden)
		_, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "echo://item/1"})
		aeRPCError(t, err, aeForbidden)
		aeCompleteDenied(t, cs, "greet")
		// Subscribing to r's resource is refused.
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "echo://static"}); err == nil {
			t.Errorf("resources/subscribe to echo://static at /mcp/r by an identity without upstream r succeeded; want JSON-RPC error %d", aeForbidden)
		} else {
			aeRPCError(t, err, aeForbidden)
		}
	})

	t.Run("reader on /mcp/a", func(t *testing.T) {
		cs := aeConnect(t, g.url+"/mcp/a", aeAPIKey(g.key("reader")))
		assert.Empty(t, aeToolNames(t, cs), "read scope and no readOnlyHint tool: no tools")
		assert.Equal(t, []string{"greet"}, aePromptNames(t, cs))
		rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "echo://static"})
		if assert.NoError(t, err) {
			assert.Equal(t, "static resource of a", rr.Contents[0].Text)
		}
	})

	// Resource updates of an upstream reach only identities that may use it.
	// (Upstream a, over stdio: the echo over streamable HTTP does not get its
	// updates relayed at all, auth or not.)
	t.Run("r-only key and a's resource updates", func(t *testing.T) {
		subscribe := func(owner string) (*mcp.ClientSession, chan string, error) {
			updated := make(chan string, 10)
			cs := aeConnectOpts(t, g.url+"/mcp/a", aeAPIKey(g.key(owner)), &mcp.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
					updated <- req.Params.URI
				},
			})
			aeToolNames(t, cs) // waits for the start-up listing
			return cs, updated, cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "echo://static"})
		}
		admin, adminUpdated, err := subscribe("admin")
		require.NoError(t, err)
		_, rOnlyUpdated, err := subscribe("ronly")
		if err == nil {
			t.Errorf("resources/subscribe to echo://static at /mcp/a by an identity without upstream a succeeded; want JSON-RPC error %d", aeForbidden)
		} else {
			aeRPCError(t, err, aeForbidden)
		}
		_, err = aeCall(admin, "touch", map[string]any{"uri": "echo://static"})
		require.NoError(t, err)
		select {
		case <-adminUpdated: // positive control
		case <-time.After(5 * time.Second):
			t.Fatal("positive control: the admin got no notifications/resources/updated")
		}
		select {
		case uri := <-rOnlyUpdated:
			t.Errorf("an identity without upstream a received notifications/resources/updated for a's %s", uri)
		case <-time.After(500 * time.Millisecond):
		}
	})

	t.Run("writer on /mcp", func(t *testing.T) {
		cs := aeConnect(t, g.url+"/mcp", aeAPIKey(g.key("writer")))
		assert.Equal(t, []string{"a__echo"}, aeToolNames(t, cs), "write scope, allowed_tools [a__echo]")
		res, err := aeCall(cs, "a__echo", map[string]any{"text": "allowed"})
		if assert.NoError(t, err) {
			assert.Equal(t, "allowed", res.Content[0].(*mcp.TextContent).Text)
		}
		for _, name := range []string{"a__add", "a__whoami", "r__echo", "r__headers"} {
			_, err := aeCall(cs, name, map[string]any{"a": 1, "b": 2})
			aeRPCError(t, err, aeForbidden, strconv.Quote(name))
		}
		_, err = aeCall(cs, "no__such_tool", nil)
		aeRPCError(t, err, jsonrpc.CodeInvalidParams, "unknown tool")
	})

	// The same identity may call the same tool on /mcp and on /mcp/a: the
	// issue asks for the policy to apply "to /mcp and /mcp/{upstream} alike".
	t.Run("writer on /mcp/a", func(t *testing.T) {
		cs := aeConnect(t, g.url+"/mcp/a", aeAPIKey(g.key("writer")))
		assert.Equal(t, []string{"echo"}, aeToolNames(t, cs),
			"allowed_tools [a__echo] allows a's echo at /mcp; /mcp/a should expose the same tool as echo")
		_, err := aeCall(cs, "echo", map[string]any{"text": "allowed"})
		assert.NoError(t, err, "a__echo is allowed at /mcp; echo at /mcp/a is the same tool")
		_, err = aeCall(cs, "add", map[string]any{"a": 1, "b": 2})
		aeRPCError(t, err, aeForbidden, `"add"`)
	})

	t.Run("writer on /mcp/r", func(t *testing.T) {
		cs := aeConnect(t, g.url+"/mcp/r", aeAPIKey(g.key("writer")))
		assert.Empty(t, aeToolNames(t, cs))
		_, err := aeCall(cs, "echo", map[string]any{"text": "x"})
		aeRPCError(t, err, aeForbidden, `"echo"`)
	})
}

// aeFlowSessionBinding: SECURITY.md S4, S5.
func aeFlowSessionBinding(t *testing.T, g *aeGateway) {
	for _, path := range []string{"/mcp", "/mcp/a"} {
		t.Run(path, func(t *testing.T) {
			url := g.url + path
			a := aeAPIKey(g.key("plain"))
			sid := aeStartSession(t, url, a)
			with := func(h map[string]string) map[string]string {
				return aeWith(h, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", aeProtocol)
			}
			resp, body := aeDo(t, "POST", url, with(a), listToolsBody)
			require.Equal(t, http.StatusOK, resp.StatusCode, "A lists tools: %s", body)

			for _, other := range []string{"writer", "admin"} {
				b := aeAPIKey(g.key(other))
				resp, body = aeDo(t, "POST", url, with(b), listToolsBody)
				assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s POSTs on A's session: %s", other, body)
				assert.NotContains(t, body, `"tools"`, "%s got a tools list on A's session", other)
				resp, body = aeDo(t, "GET", url, aeWith(with(b), "Accept", "text/event-stream"), "")
				assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s opens A's GET stream: %s", other, body)
				resp, body = aeDo(t, "DELETE", url, with(b), "")
				assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s DELETEs A's session: %s", other, body)
			}
			resp, body = aeDo(t, "POST", url, with(nil), listToolsBody)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "A's session id without a credential: %s", body)
			assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
			resp, body = aeDo(t, "POST", url, with(aeAPIKey(aeFlipLast(g.key("plain")))), listToolsBody)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "A's session id with a wrong key: %s", body)

			// A carries on, its session intact after the DELETE attempts.
			resp, body = aeDo(t, "POST", url, with(a), listToolsBody)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "A after the others: %s", body)
			assert.Contains(t, body, `"tools"`)
			resp, body = aeDo(t, "DELETE", url, with(a), "")
			assert.Less(t, resp.StatusCode, 300, "A ends its session: %s", body)
			resp, _ = aeDo(t, "POST", url, with(a), listToolsBody)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "ended session")
		})
	}
}

// aeFlipLast returns k with its last character changed: a wrong key of the
// same length.
func aeFlipLast(k string) string {
	if strings.HasSuffix(k, "A") {
		return k[:len(k)-1] + "B"
	}
	return k[:len(k)-1] + "A"
}

// aeFlowNoCredentialForwarded: SECURITY.md A4.
func aeFlowNoCredentialForwarded(t *testing.T, g *aeGateway) {
	bearer := aeCanary("client-bearer")
	cookie := aeCanary("client-cookie")
	agentTok := aeCanary("client-agent-token")
	g.addCanary(bearer, "client bearer token")
	g.addCanary(cookie, "client cookie")
	g.addCanary(agentTok, "client X-Agent-Token")
	key := g.key("plain")
	client := map[string]string{
		"X-Api-Key":         key, // decides: X-Api-Key is tried first
		"Authorization":     "Bearer " + bearer,
		"Cookie":            "session=" + cookie,
		"X-Agent-Token":     agentTok,
		"X-Forwarded-For":   "203.0.113.7",
		"X-Forwarded-Host":  "client.example",
		"X-Forwarded-Proto": "https",
	}
	for _, path := range []string{"/mcp", "/mcp/r"} {
		t.Run(path, func(t *testing.T) {
			cs := aeConnect(t, g.url+path, client)
			tool := "r__headers"
			if path == "/mcp/r" {
				tool = "headers"
			}
			res, err := aeCall(cs, tool, nil)
			require.NoError(t, err)
			require.False(t, res.IsError, "%v", res.Content)
			text := res.Content[0].(*mcp.TextContent).Text
			var seen http.Header
			require.NoError(t, json.Unmarshal([]byte(text), &seen), text)
			assert.Equal(t, []string{"configured"}, seen.Values("X-Upstream"), "the upstream's configured header reaches it")
			assert.Equal(t, []string{g.upstreamHeader}, seen.Values("Authorization"),
				"the upstream sees its configured Authorization and nothing else")
			for _, h := range []string{"X-Api-Key", "X-Agent-Token", "Cookie", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				assert.Empty(t, seen.Values(h), "client header %s reached the upstream", h)
			}
			assert.NotEqual(t, []string{cs.ID()}, seen.Values("Mcp-Session-Id"), "the client's session id reached the upstream")
			for _, secret := range []string{key, bearer, cookie, agentTok, "gateway-authenticated"} {
				assert.NotContains(t, text, secret, "a client credential reached the upstream")
			}
		})
	}
}

// aeRegistration is the body of a 200 from POST /agents/register.
type aeRegistration struct {
	Token     string    `json:"token"`
	Header    string    `json:"header"`
	ExpiresAt time.Time `json:"expires_at"`
	AgentName string    `json:"agent_name"`
	Upstreams []string  `json:"upstreams"`
	Scopes    []string  `json:"scopes"`
}

// aeRegister posts body to /agents/register and returns the response.
func aeRegister(t *testing.T, g *aeGateway, headers map[string]string, body any) (*http.Response, string, aeRegistration) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, text := aeDo(t, "POST", g.url+"/agents/register", headers, string(b))
	var reg aeRegistration
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal([]byte(text), &reg), text)
		require.NotEmpty(t, reg.Token, text)
		g.addCanary(reg.Token, "agent token")
	}
	return resp, text, reg
}

// aeSessionInfo is one entry of GET /agents/sessions.
type aeSessionInfo struct {
	ID       string    `json:"id"`
	Endpoint string    `json:"endpoint"`
	Identity string    `json:"identity"`
	Agent    string    `json:"agent"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
}

func aeSessions(t *testing.T, g *aeGateway, headers map[string]string) map[string]aeSessionInfo {
	t.Helper()
	resp, body := aeDo(t, "GET", g.url+"/agents/sessions", headers, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "/agents/sessions: %s", body)
	g.assertNoCanaries(t, "/agents/sessions", body)
	var list []aeSessionInfo
	require.NoError(t, json.Unmarshal([]byte(body), &list), body)
	out := map[string]aeSessionInfo{}
	for _, s := range list {
		out[s.ID] = s
	}
	return out
}

// aeFlowAgentTokens: SPEC §6 /agents/register and /agents/sessions.
func aeFlowAgentTokens(t *testing.T, g *aeGateway) {
	owner := aeAPIKey(g.key("owner"))
	start := time.Now()
	resp, body, reg := aeRegister(t, g, owner, map[string]any{
		"agent_name": "claude-code", "agent_version": "1.2.3",
		"requested_upstreams": []string{"a", "r", "nonexistent"}, "requested_scopes": []string{"write"},
	})
	require.Equal(t, http.StatusOK, resp.StatusCode, "register: %s", body)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.ElementsMatch(t, []string{"a", "r"}, reg.Upstreams, "the grant is the request ∩ the key's upstreams")
	assert.Equal(t, []string{"write"}, reg.Scopes)
	assert.Equal(t, "claude-code", reg.AgentName)
	assert.Equal(t, auth.HeaderAgentToken, reg.Header)
	assert.True(t, reg.ExpiresAt.After(start), "expires_at %s is in the future", reg.ExpiresAt)
	assert.True(t, reg.ExpiresAt.Before(start.Add(auth.DefaultAgentTokenTTL+time.Minute)), "expires_at %s: default TTL", reg.ExpiresAt)
	assert.Equal(t, 2, strings.Count(reg.Token, "."), "a JWT")
	agentHdr := map[string]string{"X-Agent-Token": reg.Token}

	// MCP within the grant.
	cs := aeConnect(t, g.url+"/mcp", agentHdr)
	names := aeToolNames(t, cs)
	assert.Contains(t, names, "a__echo")
	assert.Contains(t, names, "r__echo")
	res, err := aeCall(cs, "a__echo", map[string]any{"text": "agent"})
	if assert.NoError(t, err) {
		assert.Equal(t, "agent", res.Content[0].(*mcp.TextContent).Text)
	}
	// The agent token does not reach the remote upstream either.
	res, err = aeCall(cs, "r__headers", nil)
	if assert.NoError(t, err) {
		text := res.Content[0].(*mcp.TextContent).Text
		assert.NotContains(t, text, reg.Token, "the agent token reached the upstream")
		assert.NotContains(t, text, "X-Agent-Token")
	}

	// A narrower grant: upstream r only.
	resp, body, regR := aeRegister(t, g, owner, map[string]any{"agent_name": "r-only", "requested_upstreams": []string{"r"}})
	require.Equal(t, http.StatusOK, resp.StatusCode, "register: %s", body)
	assert.Equal(t, []string{"r"}, regR.Upstreams)
	assert.ElementsMatch(t, []string{"read", "write"}, regR.Scopes, "no requested scopes: the key's")
	csR := aeConnect(t, g.url+"/mcp", map[string]string{"X-Agent-Token": regR.Token})
	namesR := aeToolNames(t, csR)
	assert.Contains(t, namesR, "r__echo")
	for _, n := range namesR {
		assert.True(t, strings.HasPrefix(n, "r__"), "tool %s outside the grant is listed", n)
	}
	assert.NotContains(t, aePromptNames(t, csR), "a__greet")
	_, err = aeCall(csR, "a__echo", map[string]any{"text": "x"})
	aeRPCError(t, err, aeForbidden, `"a__echo"`)
	_, err = aeCall(csR, "r__echo", map[string]any{"text": "x"})
	assert.NoError(t, err)
	csRa := aeConnect(t, g.url+"/mcp/a", map[string]string{"X-Agent-Token": regR.Token})
	assert.Empty(t, aeToolNames(t, csRa), "/mcp/a for an agent granted r only")

	// Never more than the key.
	resp, body, _ = aeRegister(t, g, aeAPIKey(g.key("reader")), map[string]any{"agent_name": "x", "requested_upstreams": []string{"r"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "an upstream the key may not use: %s", body)
	resp, body, _ = aeRegister(t, g, aeAPIKey(g.key("reader")), map[string]any{"agent_name": "x", "requested_scopes": []string{"write"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a scope the key lacks: %s", body)
	resp, body, _ = aeRegister(t, g, owner, map[string]any{"agent_version": "1"})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "no agent_name: %s", body)
	resp, body, _ = aeRegister(t, g, nil, map[string]any{"agent_name": "x"})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "register without a credential: %s", body)

	// Agent tokens cannot mint agent tokens, however presented.
	resp, body, _ = aeRegister(t, g, agentHdr, map[string]any{"agent_name": "child"})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "register with X-Agent-Token: %s", body)
	resp, body, _ = aeRegister(t, g, map[string]string{"Authorization": "Bearer " + reg.Token}, map[string]any{"agent_name": "child"})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "register with the agent token as a bearer: %s", body)

	// Sessions: the agent sees its own, the admin all, a non-admin key its own.
	adminCS := aeConnect(t, g.url+"/mcp", aeAPIKey(g.key("admin")))
	ownerCS := aeConnect(t, g.url+"/mcp", owner)
	mine := aeSessions(t, g, agentHdr)
	if s, ok := mine[cs.ID()]; assert.True(t, ok, "the agent lists its own session %s: %v", cs.ID(), mine) {
		assert.Equal(t, "claude-code", s.Agent)
		assert.Contains(t, s.Identity, "owner", "the identity names the key's owner")
		assert.Equal(t, "/mcp", s.Endpoint)
		assert.False(t, s.Created.IsZero())
		assert.False(t, s.LastSeen.Before(s.Created))
	}
	for id, s := range mine {
		assert.Equal(t, "claude-code", s.Agent, "the agent sees another identity's session %s: %+v", id, s)
	}
	assert.NotContains(t, mine, adminCS.ID())
	assert.NotContains(t, mine, ownerCS.ID())
	assert.NotContains(t, mine, csR.ID(), "another agent's session")

	everyone := aeSessions(t, g, aeAPIKey(g.key("admin")))
	for _, id := range []string{cs.ID(), csR.ID(), adminCS.ID(), ownerCS.ID()} {
		assert.Contains(t, everyone, id, "the admin lists every session")
	}

	ownerSees := aeSessions(t, g, owner)
	assert.Contains(t, ownerSees, ownerCS.ID(), "a non-admin key lists its own session")
	assert.NotContains(t, ownerSees, adminCS.ID(), "a non-admin key lists the admin's session")
	for id, s := range ownerSees {
		assert.Contains(t, s.Identity, "owner", "a non-admin key sees session %s of %q", id, s.Identity)
	}
	resp, body = aeDo(t, "GET", g.url+"/agents/sessions", nil, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "/agents/sessions without a credential: %s", body)

	// An agent of the admin key is no admin.
	resp, body, regA := aeRegister(t, g, aeAPIKey(g.key("admin")), map[string]any{"agent_name": "admins-agent"})
	require.Equal(t, http.StatusOK, resp.StatusCode, "register: %s", body)
	adminAgent := map[string]string{"X-Agent-Token": regA.Token}
	resp, body = aeDo(t, "GET", g.url+"/config", adminAgent, "")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "/config with an admin key's agent token: %s", body)
	theirs := aeSessions(t, g, adminAgent)
	assert.NotContains(t, theirs, adminCS.ID(), "an admin key's agent lists the admin's sessions")
	assert.NotContains(t, theirs, cs.ID(), "an admin key's agent lists other sessions")

	// An agent's session is bound to the agent, not to its key's owner.
	resp, body = aeDo(t, "POST", g.url+"/mcp", aeWith(owner, "Mcp-Session-Id", cs.ID(), "Mcp-Protocol-Version", aeProtocol), listToolsBody)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the owner's key on its agent's session: %s", body)
	resp, body = aeDo(t, "POST", g.url+"/mcp", map[string]string{"X-Agent-Token": regR.Token, "Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": aeProtocol}, listToolsBody)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "another agent of the same key on the session: %s", body)

	// A token past its expiry is refused, for a new session and for the
	// session it made (SECURITY.md S5).
	resp, body, short := aeRegister(t, g, owner, map[string]any{"agent_name": "short-lived", "ttl": "2s"})
	require.Equal(t, http.StatusOK, resp.StatusCode, "register: %s", body)
	assert.True(t, short.ExpiresAt.Before(time.Now().Add(5*time.Second)), "ttl 2s: expires_at %s", short.ExpiresAt)
	shortHdr := map[string]string{"X-Agent-Token": short.Token}
	sid := aeStartSession(t, g.url+"/mcp", shortHdr)
	// The token expires on the clock of the gateway process, at a wall-clock
	// time it names; the test waits past it (expires_at has whole seconds).
	time.Sleep(time.Until(short.ExpiresAt) + 1100*time.Millisecond)
	resp, body = aeInitialize(t, g.url+"/mcp", shortHdr)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "expired agent token: %s", body)
	assert.NotContains(t, body, short.Token)
	resp, body = aeDo(t, "POST", g.url+"/mcp", aeWith(shortHdr, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", aeProtocol), listToolsBody)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "expired agent token on its own session: %s", body)
}

// aeFlowRateLimit: SECURITY.md Q (per-identity limit at the front door).
func aeFlowRateLimit(t *testing.T, g *aeGateway) {
	url := g.url + "/mcp"
	limited := aeAPIKey(g.key("limited"))
	for i := range 2 {
		resp, body := aeInitialize(t, url, limited)
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d within the burst: %s", i+1, body)
	}
	resp, body := aeInitialize(t, url, limited)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "third rapid request, burst 2: %s", body)
	ra := resp.Header.Get("Retry-After")
	secs, err := strconv.Atoi(ra)
	if assert.NoError(t, err, "Retry-After %q is whole seconds", ra) {
		assert.GreaterOrEqual(t, secs, 1, "Retry-After")
		assert.LessOrEqual(t, secs, 2, "Retry-After at 60 rpm")
	}
	g.assertNoCanaries(t, "429 body", body)

	// Another key is unaffected, as are the probes.
	for range 3 {
		resp, body = aeInitialize(t, url, aeAPIKey(g.key("plain")))
		assert.Equal(t, http.StatusOK, resp.StatusCode, "another key: %s", body)
	}
	resp, _ = aeDo(t, "GET", g.url+"/health", nil, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// After Retry-After the key works again.
	if err == nil {
		// What is checked is that waiting as long as Retry-After says, on the
		// gateway process's clock, is enough: so the test waits that long.
		time.Sleep(time.Duration(secs)*time.Second + 100*time.Millisecond)
		resp, body = aeInitialize(t, url, limited)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "after Retry-After: %s", body)
	}
}

// ---------------------------------------------------------------------------

func TestAuthAPIKeys(t *testing.T) {
	t.Parallel()
	g := startAuthGateway(t)
	aeFlowAPIKeys(t, g)
	// The plaintext key is accepted with a warning naming its owner, not the key.
	log := g.stderr.String()
	warned := false
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "plaintext") {
			warned = true
			assert.Contains(t, line, "plain", "the warning names the owner")
		}
	}
	assert.True(t, warned, "no warning about the plaintext key in the log:\n%s", log)
}

func TestAuthPolicyViews(t *testing.T) {
	t.Parallel()
	aeFlowPolicyViews(t, startAuthGateway(t))
}

func TestAuthSessionBinding(t *testing.T) {
	t.Parallel()
	aeFlowSessionBinding(t, startAuthGateway(t))
}

func TestAuthNoCredentialForwarded(t *testing.T) {
	t.Parallel()
	aeFlowNoCredentialForwarded(t, startAuthGateway(t))
}

func TestAuthAgentTokens(t *testing.T) {
	t.Parallel()
	aeFlowAgentTokens(t, startAuthGateway(t))
}

func TestAuthRateLimit(t *testing.T) {
	t.Parallel()
	aeFlowRateLimit(t, startAuthGateway(t))
}

// TestAuthCanariesNotLogged runs every flow on one gateway logging at debug
// in JSON, then greps its whole log (SECURITY.md L1).
func TestAuthCanariesNotLogged(t *testing.T) {
	t.Parallel()
	g := startAuthGateway(t)
	t.Run("api keys", func(t *testing.T) { aeFlowAPIKeys(t, g) })
	t.Run("policy views", func(t *testing.T) { aeFlowPolicyViews(t, g) })
	t.Run("session binding", func(t *testing.T) { aeFlowSessionBinding(t, g) })
	t.Run("no credential forwarded", func(t *testing.T) { aeFlowNoCredentialForwarded(t, g) })
	t.Run("agent tokens", func(t *testing.T) { aeFlowAgentTokens(t, g) })
	t.Run("rate limit", func(t *testing.T) { aeFlowRateLimit(t, g) })

	// A tool argument named password, allowed and denied, to a stdio and a
	// remote upstream.
	password := aeCanary("password")
	g.addCanary(password, "tool argument password")
	args := map[string]any{"text": "hi", "password": password, "token": password}
	admin := aeConnect(t, g.url+"/mcp", aeAPIKey(g.key("admin")))
	for _, tool := range []string{"a__echo", "r__echo", "a__add"} {
		res, err := aeCall(admin, tool, args) // refused by the upstream's schema
		if err == nil {
			g.assertNoCanaries(t, tool+" result", mustMarshal(t, res))
		}
	}
	res, err := aeCall(admin, "a__tool_0000", map[string]any{"value": "v", "password": password, "token": password})
	if assert.NoError(t, err) {
		assert.Equal(t, "tool_0000: v", res.Content[0].(*mcp.TextContent).Text)
	}
	writer := aeConnect(t, g.url+"/mcp", aeAPIKey(g.key("writer")))
	_, err = aeCall(writer, "r__echo", args)
	aeRPCError(t, err, aeForbidden)
	_, err = aeCall(writer, "a__echo", args)
	if err != nil {
		g.assertNoCanaries(t, "tools/call error", err.Error())
	}

	admin.Close()
	writer.Close()
	require.NoError(t, g.stop(t), "graceful exit")
	log := g.stderr.String()
	assert.Contains(t, log, `"level":"DEBUG"`, "the gateway logged at debug")
	assert.Greater(t, strings.Count(log, "\n"), 50, "the gateway logged the flows")
	g.assertNoCanaries(t, "gateway stderr", log)
}

// TestAuthAllowsPublicWithAuth: with API keys configured the gateway may
// listen on every interface (SECURITY.md H5), and still requires a key.
func TestAuthAllowsPublicWithAuth(t *testing.T) {
	t.Parallel()
	needBins(t)
	g := newAEGateway()
	cfg := writeConfig(t, g.config(""))
	stderr := &syncBuffer{}
	cmd := exec.Command(bins.gateway, "serve", "--http=0.0.0.0:0", "--config", cfg, "--log-format", "json", "--log-level", "debug")
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(stderr, pw)
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("gateway exited: %v\n%s", err, stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not listen within 30s\n%s", stderr)
	}
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	ip := net.ParseIP(host)
	require.NotNil(t, ip, "listen address %s", addr)
	assert.True(t, ip.IsUnspecified(), "listening on every interface: %s", addr)
	base := "http://127.0.0.1:" + port

	resp, body := aeInitialize(t, base+"/mcp", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no credential on a public listener: %s", body)
	cs := aeConnect(t, base+"/mcp", aeAPIKey(g.key("plain")))
	assert.Contains(t, aeToolNames(t, cs), "a__echo")
	g.assertNoCanaries(t, "gateway stderr", stderr.String())
}

// TestAuthStdioLocalIdentity: the stdio downstream runs as gateway.auth.local.
func TestAuthStdioLocalIdentity(t *testing.T) {
	t.Parallel()
	needBins(t)
	cfg := writeConfig(t, map[string]any{
		"mcpServers": map[string]any{"a": echoUpstream("a"), "r": echoUpstream("r")},
		"gateway": map[string]any{"auth": map[string]any{
			"local": map[string]any{"allowed_upstreams": []string{"a"}, "scopes": []string{"write"}},
		}},
	})
	cs, stderr := connectStdio(t, cfg, nil)
	names := aeToolNames(t, cs)
	assert.Contains(t, names, "a__echo")
	for _, n := range names {
		assert.True(t, strings.HasPrefix(n, "a__"), "tool %s of an upstream outside the local identity is listed", n)
	}
	assert.Equal(t, []string{"a__greet"}, aePromptNames(t, cs))
	res, err := aeCall(cs, "a__echo", map[string]any{"text": "local"})
	if assert.NoError(t, err, "stderr: %s", stderr) {
		assert.Equal(t, "local", res.Content[0].(*mcp.TextContent).Text)
	}
	_, err = aeCall(cs, "r__echo", map[string]any{"text": "x"})
	aeRPCError(t, err, aeForbidden, `"r__echo"`)
	_, err = cs.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "r__greet", Arguments: map[string]string{"name": "Ann"}})
	aeRPCError(t, err, aeForbidden)
}
