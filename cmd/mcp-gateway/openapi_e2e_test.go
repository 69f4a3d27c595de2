package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/mcp-gateway/mcp-gateway/sessions"
	"github.com/mcp-gateway/mcp-gateway/transport"
	"github.com/mcp-gateway/mcp-gateway/ui"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oaDoc is the part of the OpenAPI document the tests walk.
type oaDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]oaOperation     `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

type oaOperation struct {
	Access     string `json:"x-access"`
	Parameters []struct {
		Name    string `json:"name"`
		In      string `json:"in"`
		Example string `json:"example"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Example map[string]any `json:"example"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]oaResponse `json:"responses"`
}

type oaResponse struct {
	Ref     string `json:"$ref"`
	Content map[string]struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"content"`
}

// response resolves a response $ref.
func (d *oaDoc) response(t *testing.T, r oaResponse) oaResponse {
	name, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
	if !ok {
		return r
	}
	var out oaResponse
	require.NoError(t, json.Unmarshal(d.Components["responses"][name], &out), r.Ref)
	return out
}

// validator compiles a response schema, its references to
// components/schemas becoming $defs of one JSON Schema 2020-12 document.
func (d *oaDoc) validator(t *testing.T, schema json.RawMessage) *jsonschema.Resolved {
	t.Helper()
	defs := map[string]json.RawMessage{}
	for name, s := range d.Components["schemas"] {
		defs[name] = s
	}
	var root map[string]any
	require.NoError(t, json.Unmarshal(schema, &root))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$defs"] = defs
	b, err := json.Marshal(root)
	require.NoError(t, err)
	b = []byte(strings.ReplaceAll(string(b), "#/components/schemas/", "#/$defs/"))
	var s jsonschema.Schema
	require.NoError(t, json.Unmarshal(b, &s))
	rs, err := s.Resolve(nil)
	require.NoError(t, err)
	return rs
}

// muxPath is the OpenAPI path of a ServeMux pattern's path.
func muxPath(p string) string { return strings.ReplaceAll(p, "...}", "}") }

// TestOpenAPIMatchesGateway runs the gateway with every optional endpoint
// on (API keys, agent tokens, OAuth, the reload endpoint) and holds the
// document it serves to its answers: every documented operation answers
// with a documented status whose body matches the documented schema, and
// the credential checks answer as documented.
func TestOpenAPIMatchesGateway(t *testing.T) {
	needBins(t)
	adminKey, userKey := "mgw_openapi_admin_"+aeCanary("k"), "mgw_openapi_user_"+aeCanary("k")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	// A per-identity OAuth upstream, so /oauth/connect and /oauth/callback
	// are served.
	oauthBase := startOAuthUpstream(t)
	t.Setenv("MCP_GATEWAY_STATE_DIR", filepath.Join(t.TempDir(), "state"))
	tokenKey := make([]byte, 32)
	rand.Read(tokenKey)
	t.Setenv("MCP_GATEWAY_TOKEN_KEY", base64.StdEncoding.EncodeToString(tokenKey))
	cfg := writeConfig(t, map[string]any{
		"mcpServers": map[string]any{"good": echoUpstream("good"), "notion": map[string]any{"url": oauthBase + "/mcp", "per_identity": true}},
		"gateway": map[string]any{"auth": map[string]any{
			"api_keys": []map[string]any{
				{"key": auth.HashKey(adminKey), "owner": "root", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "admin": true},
				{"key": auth.HashKey(userKey), "owner": "ann", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}},
			},
			"agent_tokens": map[string]any{"secret": strings.Repeat(aeCanary("s"), 2)},
			"oauth": map[string]any{"issuer": "https://issuer.example", "audience": "http://127.0.0.1:9/mcp", "public_key": pub,
				"allowed_upstreams": []string{"*"}, "scopes_supported": []string{"read", "write"}},
		}},
	})
	g := startHTTP(t, cfg)
	// A session, so /agents/sessions lists one.
	aeConnect(t, g.url+"/mcp", map[string]string{"X-Api-Key": userKey})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	eventually(t, 30*time.Second, "ready", func() error {
		resp, err := client.Get(g.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return io.EOF
		}
		return nil
	})

	resp, err := client.Get(g.url + "/openapi.json")
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	var doc oaDoc
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1."), doc.OpenAPI)

	// call sends one request for the operation, as the credential given.
	call := func(t *testing.T, method, path string, op oaOperation, key string) *http.Response {
		t.Helper()
		for _, p := range op.Parameters {
			if p.In == "path" {
				require.NotEmpty(t, p.Example, "path parameter %s needs an example to be tested", p.Name)
				path = strings.ReplaceAll(path, "{"+p.Name+"}", p.Example)
			}
		}
		var body io.Reader
		var ctype string
		if op.RequestBody != nil {
			for ct, m := range op.RequestBody.Content {
				ctype = ct
				switch ct {
				case "application/json":
					b, err := json.Marshal(m.Example)
					require.NoError(t, err)
					body = strings.NewReader(string(b))
				case "application/x-www-form-urlencoded":
					form := url.Values{}
					for k, v := range m.Example {
						form.Set(k, v.(string))
					}
					body = strings.NewReader(form.Encode())
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t.Cleanup(cancel)
		req, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), g.url+path, body)
		require.NoError(t, err)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		return resp
	}
	// check holds a response to the documented responses of op.
	check := func(t *testing.T, op oaOperation, resp *http.Response, want string) {
		t.Helper()
		defer resp.Body.Close()
		code := resp.Status[:3]
		if want != "" {
			require.Equal(t, want, code)
		}
		r, ok := op.Responses[code]
		require.True(t, ok, "answered %s, which is not documented", resp.Status)
		r = doc.response(t, r)
		if len(r.Content) == 0 {
			return
		}
		mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		require.NoError(t, err, resp.Header.Get("Content-Type"))
		media, ok := r.Content[mt]
		require.True(t, ok, "answered %s %s; documented: %v", code, mt, keys(r.Content))
		if mt != "application/json" {
			return // text: the type is the check; an event stream is not read
		}
		var v any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
		assert.NoError(t, doc.validator(t, media.Schema).Validate(v), "the %s body of %s", code, resp.Request.URL.Path)
	}

	for _, path := range keys(doc.Paths) {
		for _, method := range keys(doc.Paths[path]) {
			op := doc.Paths[path][method]
			t.Run(strings.ToUpper(method)+" "+path, func(t *testing.T) {
				var good []string
				for c := range op.Responses {
					if c[0] == '2' || c[0] == '3' {
						good = append(good, c)
					}
				}
				sort.Strings(good)
				require.NotEmpty(t, good, "no success documented")
				if path == "/oauth/callback" { // a success needs a login in progress: TestWebConnectPerIdentity
					good = []string{"400"}
				}
				key := ""
				if op.Access != "public" {
					key = adminKey
				}
				check(t, op, call(t, method, path, op, key), good[0])
				switch op.Access {
				case "authenticated", "admin":
					check(t, op, call(t, method, path, op, ""), "401")
					check(t, op, call(t, method, path, op, "mgw_wrong"), "401")
				}
				if op.Access == "admin" {
					check(t, op, call(t, method, path, op, userKey), "403")
				}
			})
		}
	}
}

// TestOpenAPICoversEveryRoute: every route the HTTP front door serves with
// every option on, and every extra route serve adds, is documented, and
// nothing documented is not served. MCP's own endpoints are the exception.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	docs, err := docsRoutes()
	require.NoError(t, err)
	var doc oaDoc
	rec := httptest.NewRecorder()
	docs[0].Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))

	page := newStatusPage(nil, nil, sessions.New(), nil, "local:local", ui.NewFeed(0))
	extra, err := extraRoutes(page, ui.New(page, page.feed, nil))
	require.NoError(t, err)
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	o := transport.HTTPOptions{
		Merged:   mcp.NewServer(&mcp.Implementation{Name: "t"}, nil),
		Upstream: func(string) (*mcp.Server, bool) { return mcp.NewServer(&mcp.Implementation{Name: "a"}, nil), true },
		Status:   func() any { return nil }, Ready: func() bool { return true },
		Metrics: ok, Extra: extra,
		Auth: transport.AuthOptions{
			RegisterAgent:    func(http.ResponseWriter, *http.Request, *policy.Identity) {},
			Config:           func() any { return nil },
			Reload:           func() (any, error) { return nil, nil },
			ResourceMetadata: ok,
			Connect:          func(http.ResponseWriter, *http.Request, *policy.Identity) {},
			Callback:         ok,
		},
	}
	served := map[string]bool{}
	for _, pattern := range transport.Routes(o) {
		method, path, found := strings.Cut(pattern, " ")
		if !found { // no method: MCP's endpoints, every method
			assert.Contains(t, []string{"/mcp", "/mcp/{upstream}"}, pattern, "a route for every method that is not MCP")
			continue
		}
		path = muxPath(path)
		served[strings.ToLower(method)+" "+path] = true
		_, documented := doc.Paths[path][strings.ToLower(method)]
		assert.True(t, documented, "%s is served but not in /openapi.json", pattern)
	}
	for path, item := range doc.Paths {
		for method := range item {
			assert.True(t, served[method+" "+path], "%s %s is documented but not served", method, path)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
