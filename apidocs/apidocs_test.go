package apidocs

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

// TestDocument: the embedded document is OpenAPI 3.1, every operation says
// who may use it and what it answers, and every $ref resolves.
func TestDocument(t *testing.T) {
	d, err := New("v9.9.9")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(d.Document(), &doc))
	assert.Regexp(t, `^3\.1\.\d+$`, doc["openapi"])
	assert.Equal(t, "v9.9.9", doc["info"].(map[string]any)["version"])

	paths := doc["paths"].(map[string]any)
	require.NotEmpty(t, paths)
	for p, item := range paths {
		for method, v := range item.(map[string]any) {
			op := v.(map[string]any)
			assert.Contains(t, []any{"public", "authenticated", "admin"}, op["x-access"], "%s %s", method, p)
			assert.Contains(t, op, "security", "%s %s", method, p)
			assert.NotEmpty(t, op["responses"], "%s %s", method, p)
			assert.NotEmpty(t, op["summary"], "%s %s", method, p)
		}
	}
	refs := regexp.MustCompile(`"\$ref":\s*"#/components/(\w+)/(\w+)"`).FindAllStringSubmatch(string(d.Document()), -1)
	require.NotEmpty(t, refs)
	comps := doc["components"].(map[string]any)
	for _, r := range refs {
		kind, _ := comps[r[1]].(map[string]any)
		assert.Contains(t, kind, r[2], "dangling $ref %s", r[0])
	}
}

// TestPage: /docs lists every operation and schema, runs no script and
// loads nothing: no src or stylesheet link, and links only within the
// gateway.
func TestPage(t *testing.T) {
	d, err := New("dev")
	require.NoError(t, err)
	w := httptest.NewRecorder()
	d.Page().ServeHTTP(w, httptest.NewRequest("GET", "/docs", nil))
	assert.Equal(t, 200, w.Code)
	assert.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'none'")
	body := w.Body.Bytes()

	root, err := html.Parse(bytes.NewReader(body))
	require.NoError(t, err)
	ids := map[string]bool{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			assert.NotEqual(t, "script", n.Data, "a script element")
			for _, a := range n.Attr {
				switch a.Key {
				case "id":
					ids[a.Val] = true
				case "src":
					t.Errorf("<%s src=%q>: the page loads something", n.Data, a.Val)
				case "href":
					assert.True(t, strings.HasPrefix(a.Val, "#") || strings.HasPrefix(a.Val, "/"), "link off the gateway: %q", a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)

	var doc spec31
	require.NoError(t, json.Unmarshal(d.Document(), &doc))
	text := string(body)
	for p, item := range doc.Paths {
		for method := range item {
			assert.Contains(t, text, "<code>"+strings.ToUpper(method)+" "+html.EscapeString(p)+"</code>")
		}
	}
	for name := range doc.Components.Schemas {
		assert.True(t, ids["schema-"+name], "schema %s has no section", name)
	}
	// Every in-page link lands somewhere.
	for _, m := range regexp.MustCompile(`href="#([^"]+)"`).FindAllStringSubmatch(text, -1) {
		assert.True(t, ids[m[1]], "link to #%s, which is not on the page", m[1])
	}
}

func TestSpecHandler(t *testing.T) {
	d, err := New("dev")
	require.NoError(t, err)
	w := httptest.NewRecorder()
	d.Spec().ServeHTTP(w, httptest.NewRequest("GET", "/openapi.json", nil))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.JSONEq(t, string(d.Document()), w.Body.String())
}
