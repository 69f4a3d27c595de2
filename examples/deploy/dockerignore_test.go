package deploy

// A .dockerignore reader and matcher, just enough for the checks: patterns
// with *, ?, ** and ! (negation), where a pattern that matches a directory
// excludes everything in it and the last matching pattern wins. Character
// classes ([a-z]) and backslash escapes are refused, not guessed at.

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseDockerignore returns the patterns of a .dockerignore file: its
// non-blank lines that are not comments, trimmed.
func parseDockerignore(data []byte) ([]string, error) {
	var patterns []string
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.ContainsAny(l, `[\`) {
			return nil, fmt.Errorf("line %d: %q: character classes and escapes are not supported by this reader", i+1, l)
		}
		patterns = append(patterns, l)
	}
	return patterns, nil
}

// dockerignored reports whether .dockerignore patterns exclude the
// slash-separated path p (a pattern matching a parent directory excludes
// everything in it; the last matching pattern wins).
func dockerignored(patterns []string, p string) bool {
	ignored := false
	parts := strings.Split(p, "/")
	for _, pat := range patterns {
		neg := strings.HasPrefix(pat, "!")
		pat = path.Clean(strings.TrimPrefix(strings.TrimPrefix(pat, "!"), "/"))
		re := regexp.MustCompile(`(?s)^` + globRegexp(pat) + "$")
		for i := range parts {
			if re.MatchString(strings.Join(parts[:i+1], "/")) {
				ignored = !neg
				break
			}
		}
	}
	return ignored
}

// globRegexp translates a .dockerignore pattern to a regular expression:
// "**/" is any number of leading directories, "**" anything, "*" anything
// within one path element, "?" one character other than "/".
func globRegexp(pat string) string {
	var b strings.Builder
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; {
		case strings.HasPrefix(pat[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(pat[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

func TestParseDockerignore(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{name: "empty", in: "", want: nil},
		{name: "comments and blanks", in: "# c\n\n  # indented comment\n", want: nil},
		{name: "patterns trimmed", in: ".git\n  bin  \r\n**/node_modules\n!keep.md\n", want: []string{".git", "bin", "**/node_modules", "!keep.md"}},
		{name: "character class", in: "ok\n*.[ch]\n", err: `line 2: "*.[ch]"`},
		{name: "escape", in: `a\*b`, err: `line 1:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDockerignore([]byte(tc.in))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDockerignored(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		path     string
		want     bool
	}{
		{[]string{".git"}, ".git/HEAD", true},
		{[]string{".git"}, ".github/workflows/ci.yml", false},
		{[]string{"bin"}, "bin/mcp-gateway", true},
		{[]string{"bin"}, "cmd/bin.go", false},
		{[]string{"bin/"}, "bin/x", true},
		{[]string{"/bin"}, "bin/x", true},
		{[]string{"bin"}, "cmd/bin/x", false},
		{[]string{"**/node_modules"}, "testdata/interop/node_modules/x/index.js", true},
		{[]string{"**/node_modules"}, "node_modules/x", true},
		{[]string{"**/*_test.go"}, "aggregator/aggregator_test.go", true},
		{[]string{"**/*_test.go"}, "main_test.go", true},
		{[]string{"**/*_test.go"}, "aggregator/aggregator.go", false},
		{[]string{"*.md"}, "README.md", true},
		{[]string{"*.md"}, "docs/README.md", false},
		{[]string{"docs/**"}, "docs/a/b.md", true},
		{[]string{"a?c"}, "abc", true},
		{[]string{"a?c"}, "a/c", false},
		{[]string{"a.c"}, "abc", false}, // "." is literal
		{[]string{"*.md", "!README.md"}, "README.md", false},
		{[]string{"*.md", "!README.md"}, "CHANGES.md", true},
		{[]string{"!a", "a"}, "a", true}, // the last match wins
		{[]string{"**"}, "anything/at/all", true},
		{nil, "go.mod", false},
	} {
		assert.Equal(t, tc.want, dockerignored(tc.patterns, tc.path), "%q against %q", tc.path, tc.patterns)
	}
}

func TestGlobRegexp(t *testing.T) {
	for pat, want := range map[string]string{
		"a":            "a",
		"*.go":         `[^/]*\.go`,
		"**/x":         "(.*/)?x",
		"a/**":         "a/.*",
		"a?":           "a[^/]",
		"x+(y)":        `x\+\(y\)`,
		"**/*_test.go": `(.*/)?[^/]*_test\.go`,
	} {
		assert.Equal(t, want, globRegexp(pat), pat)
	}
}

// FuzzDockerignore checks that the reader and the matcher never panic, and
// that a final "**" excludes every path and a final "!**" includes it again.
func FuzzDockerignore(f *testing.F) {
	real, err := os.ReadFile("Dockerfile.dockerignore")
	require.NoError(f, err)
	f.Add(real, "aggregator/aggregator_test.go")
	f.Add([]byte("*.md\n!README.md\n"), "README.md")
	f.Add([]byte("**/x/**\n/a?\n"), "b/x/c")
	f.Fuzz(func(t *testing.T, data []byte, p string) {
		patterns, err := parseDockerignore(data)
		if err != nil {
			return
		}
		_ = dockerignored(patterns, p)
		assert.True(t, dockerignored(append(patterns, "**"), p), "a final ** excludes %q", p)
		assert.False(t, dockerignored(append(patterns, "**", "!**"), p), "a final !** includes %q", p)
	})
}
