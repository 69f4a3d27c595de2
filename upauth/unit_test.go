package upauth

import (
	"context"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultStateDir(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	abs := filepath.Join(t.TempDir(), "over")
	tests := []struct {
		name   string
		getenv func(string) string
		want   string // "" means an error
	}{
		{"override", env(StateDirEnv, abs, "HOME", "/home/u"), abs},
		{"nothing", env(), ""},
	}
	switch runtime.GOOS {
	case "darwin":
		tests = append(tests, struct {
			name   string
			getenv func(string) string
			want   string
		}{"home", env("HOME", "/Users/u"), "/Users/u/Library/Application Support/mcp-gateway"})
	case "windows":
		tests = append(tests, struct {
			name   string
			getenv func(string) string
			want   string
		}{"localappdata", env("LOCALAPPDATA", `C:\Users\u\AppData\Local`), `C:\Users\u\AppData\Local\mcp-gateway`})
	default:
		tests = append(tests, []struct {
			name   string
			getenv func(string) string
			want   string
		}{
			{"xdg", env("XDG_STATE_HOME", "/x/state", "HOME", "/home/u"), "/x/state/mcp-gateway"},
			{"relative xdg is ignored", env("XDG_STATE_HOME", "rel", "HOME", "/home/u"), "/home/u/.local/state/mcp-gateway"},
			{"home", env("HOME", "/home/u"), "/home/u/.local/state/mcp-gateway"},
		}...)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultStateDir(tt.getenv)
			if tt.want == "" {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCheckOAuthURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://auth.example.com/authorize", true},
		{"http://127.0.0.1:9/token", true},
		{"http://localhost/token", true},
		{"http://[::1]:8080/x", true},
		{"http://auth.example.com/authorize", false},
		{"javascript:alert(1)", false},
		{"file:///etc/passwd", false},
		{"https://user:pw@auth.example.com/", false},
		{"/relative", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := checkOAuthURL("x", tt.url)
			assert.Equal(t, tt.ok, err == nil, "%v", err)
		})
	}
}

func TestParseChallenge(t *testing.T) {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"`)
	ch := parseChallenge(403, h)
	require.NotNil(t, ch)
	assert.Equal(t, "insufficient_scope", ch.Error)
	assert.Equal(t, []string{"files:read", "files:write"}, ch.Scopes)
	assert.Equal(t, "https://mcp.example.com/.well-known/oauth-protected-resource", ch.ResourceMetadata)
	assert.Nil(t, parseChallenge(401, http.Header{"Www-Authenticate": {`Basic realm="x"`}}))
}

func TestSealedStore(t *testing.T) {
	ctx := context.Background()
	files := NewFileStore(filepath.Join(t.TempDir(), "s"))
	key := make([]byte, 32)
	key[0] = 1
	s, err := NewSealedStore(files, key)
	require.NoError(t, err)
	k := Key{Kind: "idtoken", Name: "alice\x00notion"}
	require.NoError(t, s.Save(ctx, k, []byte(`{"access_token":"secret-token"}`)))
	raw, err := files.Load(ctx, k)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "secret-token", "encrypted at rest")
	got, err := s.Load(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, `{"access_token":"secret-token"}`, string(got))

	// Moved under another identity's key, it does not open.
	other := Key{Kind: "idtoken", Name: "bob\x00notion"}
	require.NoError(t, files.Save(ctx, other, raw))
	_, err = s.Load(ctx, other)
	assert.ErrorIs(t, err, ErrUnsealable)
	// Nor under another key.
	key2 := make([]byte, 32)
	s2, err := NewSealedStore(files, key2)
	require.NoError(t, err)
	_, err = s2.Load(ctx, k)
	assert.ErrorIs(t, err, ErrUnsealable)

	_, err = ParseTokenKey(strings.Repeat("ab", 32))
	require.NoError(t, err)
	_, err = ParseTokenKey("c2hvcnQ=")
	require.ErrorContains(t, err, "32 bytes")
	assert.NotContains(t, err.Error(), "c2hvcnQ", "never repeats the value")
}

// hungKeyring never answers, as a locked Secret Service waiting on a prompt.
type hungKeyring struct{ release chan struct{} }

func (h hungKeyring) Get(string, string) (string, error) { <-h.release; return "", ErrNotFound }
func (h hungKeyring) Set(string, string, string) error   { <-h.release; return nil }
func (h hungKeyring) Delete(string, string) error        { <-h.release; return nil }

func TestKeyringFallsBackToFiles(t *testing.T) {
	ctx := context.Background()
	files := NewFileStore(filepath.Join(t.TempDir(), "s"))
	h := hungKeyring{release: make(chan struct{})}
	defer close(h.release)
	s := NewKeyringStore(h, files, 50*time.Millisecond, nil)
	k := Key{Kind: KindToken, Name: "notion"}
	require.NoError(t, s.Save(ctx, k, []byte("rec")), "a hung keyring costs one timeout, then the file store is used")
	got, err := files.Load(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, "rec", string(got))
	got, err = s.Load(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, "rec", string(got))
	require.True(t, s.down.Load())

	// A keyring that works keeps the record and no file copy.
	mem := &memKeyring{m: map[string]string{}}
	files2 := NewFileStore(filepath.Join(t.TempDir(), "s2"))
	s2 := NewKeyringStore(mem, files2, 0, nil)
	require.NoError(t, s2.Save(ctx, k, []byte("rec2")))
	assert.Equal(t, "rec2", mem.m[KeyringService+"|"+k.String()])
	_, err = files2.Load(ctx, k)
	assert.ErrorIs(t, err, ErrNotFound)
}

type memKeyring struct{ m map[string]string }

func (k *memKeyring) Get(s, a string) (string, error) {
	v, ok := k.m[s+"|"+a]
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}
func (k *memKeyring) Set(s, a, v string) error { k.m[s+"|"+a] = v; return nil }
func (k *memKeyring) Delete(s, a string) error { delete(k.m, s+"|"+a); return nil }

func TestStepUpRecordsScopes(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, "", nil, nil)
	up := Upstream{Name: "files", URL: "http://127.0.0.1:1/mcp"}
	require.NoError(t, m.saveToken(ctx, up, &tokenRecord{URL: up.URL, Issuer: "http://127.0.0.1:1", AccessToken: "t", Scopes: []string{"files:read"}}))
	rt := m.Transport(up, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		assert.Equal(t, "Bearer t", r.Header.Get("Authorization"))
		h := http.Header{}
		h.Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="files:write"`)
		return &http.Response{StatusCode: 403, Header: h, Body: http.NoBody}, nil
	}))
	req, _ := http.NewRequest(http.MethodPost, up.URL, strings.NewReader("{}"))
	_, err := rt.RoundTrip(req)
	var nle *NeedsLoginError
	require.ErrorAs(t, err, &nle)
	assert.Equal(t, []string{"files:write"}, nle.Scopes)
	st, err := m.Status(ctx, up)
	require.NoError(t, err)
	assert.Equal(t, StateLoggedIn, st.State, "the token stays in use for what it may do")
	assert.Equal(t, []string{"files:write"}, st.NeedsScopes)
	// The next login asks for both.
	rec, err := m.loadToken(ctx, up)
	require.NoError(t, err)
	d := &discovery{Issuer: "http://127.0.0.1:1", ASM: &oauthex.AuthServerMeta{}}
	assert.Equal(t, []string{"files:write", "files:read"}, chooseScopes(up, rec.Challenge, d, rec, nil))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Bearer resource_metadata="https://x/.well-known/oauth-protected-resource", scope="a b"`)
	f.Add(`Bearer error="insufficient_scope", scope="files:write", Basic realm="x"`)
	f.Add(`Bearer`)
	f.Fuzz(func(t *testing.T, v string) {
		ch := parseChallenge(401, http.Header{"Www-Authenticate": {v}})
		if ch != nil {
			if len(ch.ResourceMetadata) > maxChallengeURL || len(ch.Scopes) > maxChallengeScopes || len(ch.Error) > 64 {
				t.Fatalf("limits not applied: %+v", ch)
			}
		}
	})
}

func FuzzParsePasted(f *testing.F) {
	f.Add("http://127.0.0.1:5555/callback?code=abc&state=xyz&iss=https%3A%2F%2Fa")
	f.Add("?code=abc&state=xyz")
	f.Add("error=access_denied&state=s")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, line string) {
		q, ok := parsePasted(line)
		if ok && q.Get("code") == "" && q.Get("error") == "" {
			t.Fatal("accepted a redirect without code or error")
		}
	})
}
