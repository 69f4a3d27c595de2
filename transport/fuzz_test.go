package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// fuzzKey is the only credential the fuzz authenticator accepts, as
// X-Api-Key or as a bearer token (when X-Api-Key is absent).
const fuzzKey = "mcpgw_fuzz-0123456789abcdef"

var fuzzIdentity = &policy.Identity{Name: "fuzzer", Scopes: []string{"read", "write"}, Limit: policy.Limit{RPM: -1}}

// fuzzAccepts is what the fuzz authenticator accepts.
func fuzzAccepts(h http.Header) bool {
	key := h.Get("X-Api-Key")
	return key == fuzzKey || (key == "" && h.Get("Authorization") == "Bearer "+fuzzKey)
}

// fuzzMethods are the methods a fuzzed method index picks from; an index
// past them uses the fuzzed method string.
var fuzzMethods = []string{http.MethodPost, http.MethodGet, http.MethodDelete, http.MethodPut, http.MethodHead, http.MethodOptions, http.MethodPatch}

// fuzzHandler is the handler every FuzzHTTPHandler input goes to: every
// route on, a fake authenticator, one tool.
var fuzzHandler = sync.OnceValue(func() http.Handler {
	var calls atomic.Int64
	o := testOptions(&calls)
	o.AllowedOrigins = []string{"https://app.example"}
	o.MaxBodyBytes = 1 << 20
	o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metric 1\n") })
	o.Auth = AuthOptions{
		Authenticate: func(_ context.Context, h http.Header) (*policy.Identity, error) {
			if fuzzAccepts(h) {
				return fuzzIdentity, nil
			}
			return nil, ErrUnauthenticated
		},
		Allow:  func(string, int, int) (bool, time.Duration) { return true, 0 },
		Config: func() any { return map[string]string{"config": "redacted"} },
		RegisterAgent: func(w http.ResponseWriter, r *http.Request, id *policy.Identity) {
			writeJSON(w, http.StatusCreated, map[string]string{"agent": id.Name})
		},
		ResourceMetadata: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"resource": "http://localhost/mcp"})
		}),
		MetricsRequireAuth: true,
	}
	return NewHandler(o, true)
})

// publicRoute reports whether a request may succeed without credentials.
func publicRoute(method, path string) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	return path == "/health" || path == "/readyz" ||
		path == "/.well-known/oauth-protected-resource" || strings.HasPrefix(path, "/.well-known/oauth-protected-resource/")
}

// headerValue makes v a value a real server could deliver: no control
// characters but tab, no surrounding whitespace.
func headerValue(v string) string {
	v = strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return -1
		}
		return r
	}, v)
	return strings.Trim(v, " \t")
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range []byte(m) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// FuzzHTTPHandler sends one request with a fuzzed method, path, headers and
// body to the gateway's handler. Invariants: no panic; an answer within a
// bound; no 5xx; no 2xx without the valid credential except on the public
// routes; a 2xx answer to a POST is empty (202) or JSON or SSE carrying JSON.
//
// Seeds: testdata/fuzz/FuzzHTTPHandler, written from fuzzHTTPSeeds by
// go test ./transport -run TestFuzzSeeds -update-seeds.
func FuzzHTTPHandler(f *testing.F) {
	h := fuzzHandler()
	f.Fuzz(func(t *testing.T, methodIdx uint8, method, path, origin, host, sid, proto, accept, ctype, apiKey, authz string, body []byte) {
		if int(methodIdx) < len(fuzzMethods) {
			method = fuzzMethods[methodIdx]
		}
		if !validMethod(method) {
			return
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u, err := url.ParseRequestURI(path)
		if err != nil {
			return
		}
		header := http.Header{}
		for name, v := range map[string]string{
			"Origin": origin, "Mcp-Session-Id": sid, "Mcp-Protocol-Version": proto, "Accept": accept,
			"Content-Type": ctype, "X-Api-Key": apiKey, "Authorization": authz,
		} {
			if v = headerValue(v); v != "" {
				header.Set(name, v)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = context.WithValue(ctx, http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080})
		req := (&http.Request{
			Method: method, URL: u, RequestURI: path, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: header, Host: headerValue(host), RemoteAddr: "127.0.0.1:40000",
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}).WithContext(ctx)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		if ctx.Err() != nil {
			t.Fatalf("%s %s took %s: answered only when its context ended", method, path, time.Since(start))
		}
		res := rec.Result()
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s: status %d: %q", method, path, res.StatusCode, rec.Body.Bytes())
		}
		ok := res.StatusCode >= 200 && res.StatusCode < 300
		if ok && !fuzzAccepts(header) && !publicRoute(method, u.Path) {
			t.Fatalf("%s %s answered %d without the valid credential", method, path, res.StatusCode)
		}
		if ok && method == http.MethodPost && !(res.StatusCode == http.StatusAccepted && rec.Body.Len() == 0) {
			if _, err := parseMessages(res.Header.Get("Content-Type"), rec.Body.Bytes()); err != nil {
				t.Fatalf("POST %s answered %d with an invalid body: %v", path, res.StatusCode, err)
			}
		}
		// The registry mirrors the SDK's sessions: every session it lists
		// must be live (a DELETE ends it). Ending them also keeps sessions
		// from piling up across inputs.
		for _, si := range fuzzSessions(t, h) {
			if code := fuzzDelete(h, si); code != http.StatusNoContent {
				t.Fatalf("after %s %s (%d): /agents/sessions lists session %q at %s, which the SDK does not serve (DELETE: %d)",
					method, path, res.StatusCode, si.ID, si.Endpoint, code)
			}
		}
	})
}

// fuzzSessions lists the fuzz identity's sessions.
func fuzzSessions(t *testing.T, h http.Handler) []SessionInfo {
	req := httptest.NewRequest(http.MethodGet, "http://localhost/agents/sessions", nil)
	req.Header.Set("X-Api-Key", fuzzKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	var out []SessionInfo
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	return out
}

// fuzzDelete ends a session and returns the status.
func fuzzDelete(h http.Handler, si SessionInfo) int {
	req := httptest.NewRequest(http.MethodDelete, "http://localhost"+si.Endpoint, nil)
	req.Header.Set("X-Api-Key", fuzzKey)
	req.Header.Set("Mcp-Session-Id", si.ID)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// fuzzHTTPSeed is one FuzzHTTPHandler input.
type fuzzHTTPSeed struct {
	MethodIdx                                        uint8
	Method, Path, Origin, Host, SessionID, Protocol  string
	Accept, ContentType, APIKey, Authorization, Body string
}

const (
	seedAccept = "application/json, text/event-stream"
	seedInit   = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}`
)

// fuzzHTTPSeeds returns the seed inputs of FuzzHTTPHandler by name.
func fuzzHTTPSeeds() map[string]fuzzHTTPSeed {
	post := func(path, body string) fuzzHTTPSeed {
		return fuzzHTTPSeed{MethodIdx: 0, Path: path, Host: "localhost:8080", Accept: seedAccept, ContentType: "application/json", APIKey: fuzzKey, Body: body}
	}
	seeds := map[string]fuzzHTTPSeed{
		"initialize":             post("/mcp", seedInit),
		"initialize-bad-params":  post("/mcp", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":""}`),
		"initialize-upstream":    post("/mcp/up", seedInit),
		"tools-list-no-session":  post("/mcp", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`),
		"tools-call-no-session":  post("/mcp", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{}}}`),
		"notification":           post("/mcp", `{"jsonrpc":"2.0","method":"notifications/initialized"}`),
		"batch":                  post("/mcp", `[`+seedInit+`,{"jsonrpc":"2.0","id":2,"method":"tools/list"}]`),
		"deep":                   post("/mcp", strings.Repeat("[", 100)+strings.Repeat("]", 100)),
		"nan":                    post("/mcp", `{"jsonrpc":"2.0","id":NaN,"method":"ping"}`),
		"id-null":                post("/mcp", `{"jsonrpc":"2.0","id":null,"method":"ping"}`),
		"bad-utf8":               post("/mcp", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}"),
		"unknown-session":        post("/mcp", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`),
		"register-agent":         post("/agents/register", `{"agent":"a"}`),
		"no-credential":          post("/mcp", seedInit),
		"bearer":                 post("/mcp", seedInit),
		"evil-origin":            post("/mcp", seedInit),
		"evil-host":              post("/mcp", seedInit),
		"allowed-origin":         post("/mcp", seedInit),
		"bad-protocol":           post("/mcp", seedInit),
		"new-protocol":           post("/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`),
		"get-stream":             {MethodIdx: 1, Path: "/mcp", Host: "localhost", Accept: "text/event-stream", APIKey: fuzzKey},
		"get-health":             {MethodIdx: 1, Path: "/health", Host: "127.0.0.1:8080"},
		"get-readyz":             {MethodIdx: 1, Path: "/readyz", Host: "[::1]:8080"},
		"get-upstreams-no-auth":  {MethodIdx: 1, Path: "/upstreams", Host: "localhost"},
		"get-sessions":           {MethodIdx: 1, Path: "/agents/sessions", Host: "localhost", APIKey: fuzzKey},
		"get-config":             {MethodIdx: 1, Path: "/config", Host: "localhost", Authorization: "Bearer " + fuzzKey},
		"get-metrics-no-auth":    {MethodIdx: 1, Path: "/metrics", Host: "localhost"},
		"get-well-known":         {MethodIdx: 1, Path: "/.well-known/oauth-protected-resource/mcp", Host: "localhost"},
		"delete-unknown-session": {MethodIdx: 2, Path: "/mcp", Host: "localhost", SessionID: "nope", APIKey: fuzzKey},
		"put":                    {MethodIdx: 3, Path: "/mcp", Host: "localhost", APIKey: fuzzKey, Body: "{}"},
		"custom-method":          {MethodIdx: 255, Method: "PROPFIND", Path: "/mcp/up", Host: "localhost", APIKey: fuzzKey},
		"dot-path":               {MethodIdx: 1, Path: "/mcp/../health", Host: "localhost"},
		"escaped-path":           {MethodIdx: 0, Path: "/mcp/%75p", Host: "localhost", APIKey: fuzzKey, Accept: seedAccept, ContentType: "application/json", Body: seedInit},
	}
	set := func(name string, fn func(*fuzzHTTPSeed)) {
		s := seeds[name]
		fn(&s)
		seeds[name] = s
	}
	set("unknown-session", func(s *fuzzHTTPSeed) { s.SessionID, s.Protocol = "0123456789ABCDEF", "2025-11-25" })
	set("no-credential", func(s *fuzzHTTPSeed) { s.APIKey = "" })
	set("bearer", func(s *fuzzHTTPSeed) { s.APIKey, s.Authorization = "", "Bearer "+fuzzKey })
	set("evil-origin", func(s *fuzzHTTPSeed) { s.Origin = "http://evil.example" })
	set("evil-host", func(s *fuzzHTTPSeed) { s.Host = "evil.example" })
	set("allowed-origin", func(s *fuzzHTTPSeed) { s.Origin = "https://app.example" })
	set("bad-protocol", func(s *fuzzHTTPSeed) { s.Protocol = "1999-01-01" })
	set("new-protocol", func(s *fuzzHTTPSeed) { s.Protocol = "2026-07-28" })
	return seeds
}

// jsonDepthSeeds are the seeds of FuzzJSONDepth by name.
var jsonDepthSeeds = map[string]string{
	"empty-object":        `{}`,
	"empty-array":         `[]`,
	"nested":              `{"a":[1,{"b":null}]}`,
	"brackets-in-string":  `"[[[["`,
	"escaped-quote":       `"\"[["`,
	"escaped-backslash":   `"\\"[`,
	"unclosed":            `[[[`,
	"only-closing":        `]]]`,
	"reversed":            `}{`,
	"unicode-escape":      `{"a":"\u005b"}`,
	"depth-64":            strings.Repeat("[", 64) + strings.Repeat("]", 64),
	"depth-65":            strings.Repeat("[", 65) + strings.Repeat("]", 65),
	"depth-65-objects":    strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65),
	"unterminated-string": `["[[[[`,
	"tool-call":           `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"s":"]]]}}}"}}}`,
	"invalid-utf8":        "[\"\xff[\", [\xfe]]",
}

// FuzzJSONDepth checks depth against encoding/json's tokenizer on valid
// JSON, and checkBody's answer on any body: it refuses exactly what is not
// JSON, too deep, not UTF-8, or an object with a member given twice.
// Seeds: testdata/fuzz/FuzzJSONDepth.
func FuzzJSONDepth(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		d := depth(b)
		require.GreaterOrEqual(t, d, 0)
		require.LessOrEqual(t, d, bytes.Count(b, []byte("{"))+bytes.Count(b, []byte("[")))
		if json.Valid(b) {
			require.Equal(t, referenceDepth(t, b), d, "depth(%q)", b)
		}

		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/mcp", bytes.NewReader(b))
		passed := checkBody(rec, req, 1<<20, 0)
		if d > maxJSONDepth || !json.Valid(b) || !utf8.Valid(b) || duplicateTopLevelKey(b) {
			require.False(t, passed)
			require.Equal(t, http.StatusBadRequest, rec.Code)
			msgs, err := parseMessages(rec.Header().Get("Content-Type"), rec.Body.Bytes())
			require.NoError(t, err)
			code, ok := rpcError(msgs[0])
			require.True(t, ok)
			require.Equal(t, -32700, code)
			return
		}
		require.True(t, passed, "%d: %s", rec.Code, rec.Body)
		again, err := io.ReadAll(req.Body)
		require.NoError(t, err)
		require.Equal(t, b, again, "checkBody did not put the body back")
	})
}

// referenceDepth is the nesting depth of valid JSON b by encoding/json.
func referenceDepth(t *testing.T, b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	cur, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return deepest
		}
		require.NoError(t, err)
		switch tok {
		case json.Delim('{'), json.Delim('['):
			cur++
			deepest = max(deepest, cur)
		case json.Delim('}'), json.Delim(']'):
			cur--
		}
	}
}

// originSeeds are the seeds of FuzzOrigin by name: Origin, Host.
var originSeeds = map[string][2]string{
	"localhost":        {"http://localhost:8080", "localhost:8080"},
	"null":             {"null", "127.0.0.1"},
	"evil":             {"http://evil.example", "evil.example"},
	"allowed":          {"https://app.example", "[::1]:80"},
	"zone":             {"http://[::1%25lo]:80", "[::1%lo]"},
	"nip-io":           {"http://127.0.0.1.nip.io", "127.1"},
	"userinfo":         {"http://localhost@evil.example", "localhost.evil.example"},
	"upper-case":       {"HTTP://LOCALHOST", "LOCALHOST:"},
	"mapped-v4":        {"http://[::ffff:127.0.0.1]", "::ffff:127.0.0.1"},
	"hex-and-octal":    {"http://0x7f.0.0.1", "0177.0.0.1"},
	"bracketed-name":   {"http://[localhost]", "[localhost]:1"},
	"empty":            {"", ""},
	"allowed-bad-host": {"https://app.example", "app.example"},
}

// FuzzOrigin checks that the Origin and Host checks never panic and never
// accept a host that is not loopback by an independent parse (net.ParseIP),
// unless the origin is allow-listed verbatim. Seeds: testdata/fuzz/FuzzOrigin.
func FuzzOrigin(f *testing.F) {
	g := &originGuard{allowed: map[string]bool{"https://app.example": true}}
	f.Fuzz(func(t *testing.T, origin, host string) {
		if g.originAllowed(origin) && !g.allowed[origin] {
			u, err := url.Parse(origin)
			require.NoError(t, err, "allowed an origin that does not parse: %q", origin)
			require.Contains(t, []string{"http", "https"}, u.Scheme, "origin %q", origin)
			require.True(t, referenceLoopback(u.Hostname()), "allowed origin %q, host %q is not loopback", origin, u.Hostname())
		}
		if isLoopbackHost(host) {
			h := host
			if hh, _, err := net.SplitHostPort(host); err == nil {
				h = hh
			}
			h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
			require.True(t, referenceLoopback(h), "isLoopbackHost(%q), but %q is not loopback", host, h)
		}
		// The guard as a whole: a request with this Origin and Host.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = host
		req.Header.Set("Origin", origin)
		passed := false
		(&originGuard{allowed: g.allowed, checkHost: true}).wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true })).ServeHTTP(rec, req)
		if passed {
			require.True(t, origin == "" || g.originAllowed(origin))
			require.True(t, isLoopbackHost(host))
		} else {
			require.Equal(t, http.StatusForbidden, rec.Code)
		}
	})
}

// referenceLoopback reports whether host (no port, no brackets, maybe a
// zone) is "localhost" or a loopback IP, by net.ParseIP.
func referenceLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 && strings.Contains(host, ":") {
		host = host[:i] // an IPv6 zone
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	// Both parsers must agree on what the address is.
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().String() == netip.MustParseAddr(ip.String()).Unmap().String() && ip.IsLoopback()
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// TestFuzzSeeds checks that the seed corpora under testdata/fuzz match the
// seed tables of this file; -update-seeds rewrites them.
func TestFuzzSeeds(t *testing.T) {
	corpora := map[string]map[string][]byte{"FuzzHTTPHandler": {}, "FuzzJSONDepth": {}, "FuzzOrigin": {}}
	for name, s := range fuzzHTTPSeeds() {
		corpora["FuzzHTTPHandler"][name] = marshalCorpus(s.MethodIdx, s.Method, s.Path, s.Origin, s.Host, s.SessionID, s.Protocol,
			s.Accept, s.ContentType, s.APIKey, s.Authorization, []byte(s.Body))
	}
	for name, s := range jsonDepthSeeds {
		corpora["FuzzJSONDepth"][name] = marshalCorpus([]byte(s))
	}
	for name, s := range originSeeds {
		corpora["FuzzOrigin"][name] = marshalCorpus(s[0], s[1])
	}
	checkCorpora(t, corpora, *updateSeeds)
}

// marshalCorpus encodes values as the go command's corpus file format does.
func marshalCorpus(vals ...any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		default:
			panic(fmt.Sprintf("unsupported corpus type %T", v))
		}
	}
	return []byte(b.String())
}

// checkCorpora compares (or, with update, writes) testdata/fuzz/<target>/<seed>
// files with the wanted contents.
func checkCorpora(t *testing.T, corpora map[string]map[string][]byte, update bool) {
	for target, seeds := range corpora {
		dir := filepath.Join("testdata", "fuzz", target)
		if update {
			require.NoError(t, os.MkdirAll(dir, 0o755))
			for name, data := range seeds {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
			}
		}
		for name, data := range seeds {
			got, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err, "run go test -run TestFuzzSeeds -update-seeds")
			require.Equal(t, string(data), string(got), "%s/%s is stale: run go test -run TestFuzzSeeds -update-seeds", target, name)
		}
	}
}
