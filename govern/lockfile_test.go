package govern

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tool(t testing.TB, name, desc string, props ...string) Definition {
	t.Helper()
	p := map[string]any{}
	for _, n := range props {
		p[n] = map[string]any{"type": "string"}
	}
	d, err := ToolDefinition(&mcp.Tool{Name: name, Description: desc, InputSchema: map[string]any{"type": "object", "properties": p}})
	require.NoError(t, err)
	return d
}

func fingerprint(t testing.TB, d Definition) Fingerprint {
	t.Helper()
	fp, err := d.Fingerprint()
	require.NoError(t, err)
	return fp
}

func TestFingerprint(t *testing.T) {
	a := Definition{Kind: KindTool, Name: "x", JSON: []byte(`{"name":"x","description":"d","inputSchema":{"type":"object","properties":{}}}`)}
	// The same definition with other member order, spacing and number spelling.
	b := Definition{Kind: KindTool, Name: "x", JSON: []byte(`{ "inputSchema": {"properties":{}, "type":"object"}, "description":"d", "name":"x" }`)}
	fa, fb := fingerprint(t, a), fingerprint(t, b)
	assert.Equal(t, fa, fb)
	assert.Equal(t, []string{"description", "inputSchema", "name"}, sortedKeys(fa.Fields))
	// The digest is the SHA-256 of the canonical JSON.
	canon, err := Canonicalize(a.JSON)
	require.NoError(t, err)
	assert.Equal(t, `{"description":"d","inputSchema":{"properties":{},"type":"object"},"name":"x"}`, string(canon))

	c := Definition{Kind: KindTool, Name: "x", JSON: []byte(`{"name":"x","description":"d","inputSchema":{"type":"object","properties":{"p":{}}},"title":"T"}`)}
	assert.Equal(t, []string{"inputSchema", "title"}, ChangedFields(fa, fingerprint(t, c)))
	assert.Equal(t, []string{"inputSchema", "title"}, ChangedFields(fingerprint(t, c), fa), "a removed field counts too")

	_, err = Definition{JSON: []byte(`[1]`)}.Fingerprint()
	assert.Error(t, err)
}

// TestToolDefinitionCoversEverything: every field a client sees is in the
// digest, so changing any of them changes it.
func TestToolDefinitionCoversEverything(t *testing.T) {
	base := func() *mcp.Tool {
		return &mcp.Tool{Name: "t", Description: "d", InputSchema: map[string]any{"type": "object"}}
	}
	ref := fingerprint(t, must(ToolDefinition(base())))
	yes := true
	for field, mutate := range map[string]func(*mcp.Tool){
		"title":       func(x *mcp.Tool) { x.Title = "T" },
		"description": func(x *mcp.Tool) { x.Description = "d2" },
		"inputSchema": func(x *mcp.Tool) {
			x.InputSchema = map[string]any{"type": "object", "properties": map[string]any{"p": map[string]any{"description": "x"}}}
		},
		"outputSchema": func(x *mcp.Tool) { x.OutputSchema = map[string]any{"type": "object"} },
		"annotations":  func(x *mcp.Tool) { x.Annotations = &mcp.ToolAnnotations{DestructiveHint: &yes} },
		"icons":        func(x *mcp.Tool) { x.Icons = []mcp.Icon{{Source: "https://x/i.png"}} },
		"_meta":        func(x *mcp.Tool) { x.Meta = mcp.Meta{"k": "v"} },
	} {
		x := base()
		mutate(x)
		fp := fingerprint(t, must(ToolDefinition(x)))
		assert.NotEqual(t, ref.Sum, fp.Sum, field)
		assert.Equal(t, []string{field}, ChangedFields(ref, fp), field)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func TestLockRoundTrip(t *testing.T) {
	l := NewLock()
	l.Set(Key{"fs", KindTool, "write_file"}, fingerprint(t, tool(t, "write_file", "Write a file.", "path")))
	l.Set(Key{"fs", KindTool, "read_file"}, fingerprint(t, tool(t, "read_file", "Read a file.", "path")))
	l.Set(Key{"my server", KindPrompt, "gr\u200beet"}, Fingerprint{Fields: map[string]FieldSum{"odd=key": {1}, "name": {2}}})
	l.Set(Key{"fs", KindTemplate, "file:///{path}"}, Fingerprint{Fields: map[string]FieldSum{}})
	data := l.Marshal()
	text := string(data)

	assert.True(t, strings.HasPrefix(text, "# mcp-gateway.lock"))
	assert.Contains(t, text, "mcp-gateway lock --approve NAME")
	lines := pinLines(text)
	require.Len(t, lines, 4)
	assert.True(t, strings.HasPrefix(lines[0], "fs template file:///{path} sha256:"), lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "fs tool read_file sha256:"), lines[1])
	assert.True(t, strings.HasPrefix(lines[2], "fs tool write_file sha256:"), lines[2])
	assert.Regexp(t, `^fs tool write_file sha256:[0-9a-f]{64} description=[0-9a-f]{16} inputSchema=[0-9a-f]{16} name=[0-9a-f]{16}$`, lines[2])
	assert.True(t, strings.HasPrefix(lines[3], `"my server" prompt "gr\u200beet" sha256:`), "hidden characters are escaped: %s", lines[3])
	assert.Contains(t, lines[3], `"odd=key"=01`)

	back, err := ParseLock(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, l.Keys(), back.Keys())
	for _, k := range l.Keys() {
		a, _ := l.Pin(k)
		b, _ := back.Pin(k)
		assert.Equal(t, a, b, k.String())
	}
	assert.Equal(t, data, back.Marshal(), "stable")
}

func pinLines(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if line != "" && line[0] != '#' && line != lockVersion {
			out = append(out, line)
		}
	}
	return out
}

func TestParseLockErrors(t *testing.T) {
	sum := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", []string{`no "version 1" line: not a lockfile`}},
		{"comments only", "# nothing\n\n", []string{`no "version 1" line`}},
		{"wrong version", "version 2\n", []string{`line 1: want "version 1" before the first pin`}},
		{"bad kind", "version 1\nfs widget x " + sum + "\n", []string{`line 2: kind must be`}},
		{"short digest", "version 1\nfs tool x sha256:abc\n", []string{`line 2: digest: want "sha256:"`}},
		{"upper hex", "version 1\nfs tool x sha256:" + strings.Repeat("AB", 32) + "\n", []string{`line 2: digest:`}},
		{"missing name", "version 1\nfs tool\n", []string{`line 2: name: missing`}},
		{"bad field", "version 1\nfs tool x " + sum + " description\n", []string{`line 2: want FIELD=SUM`}},
		{"bad field sum", "version 1\nfs tool x " + sum + " description=zz\n", []string{`line 2: field "description": want 16`}},
		{"bad quote", "version 1\n\"fs tool x " + sum + "\n", []string{`line 2: upstream: bad quoted string`}},
		{"quote in bare", "version 1\nf\"s tool x " + sum + "\n", []string{`line 2: upstream: '"'`}},
		{"duplicate", "version 1\nfs tool x " + sum + "\n\nfs  tool  x  " + sum + "\n", []string{`line 4: tool "x" of upstream "fs" is already pinned on line 2`}},
		{"merge conflict", "version 1\n<<<<<<< HEAD\nfs tool x " + sum + "\n=======\n", []string{`line 2: `, `line 4: `}},
		{"every error at once", "version 1\nfs tool\nfs widget x " + sum + "\n", []string{`line 2:`, `line 3:`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLock(strings.NewReader(tc.in))
			require.Error(t, err)
			assert.Nil(t, l)
			lines := strings.Split(err.Error(), "\n")
			require.Len(t, lines, len(tc.want), err.Error())
			for i, w := range tc.want {
				assert.Contains(t, lines[i], w)
			}
			var le *LockError
			assert.ErrorAs(t, err, &le)
		})
	}
}

func TestParseLockAccepts(t *testing.T) {
	sum := "sha256:" + strings.Repeat("0f", 32)
	in := "\ufeff# comment\r\nversion 1\r\n  # indented comment\n\tfs\ttool\t\"a b\"\t" + sum + "\tname=0011223344556677\n"
	in = strings.TrimPrefix(in, "\ufeff")
	l, err := ParseLock(strings.NewReader(in))
	require.NoError(t, err)
	fp, ok := l.Pin(Key{"fs", KindTool, "a b"})
	require.True(t, ok)
	assert.Equal(t, FieldSum{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}, fp.Fields["name"])
}

func TestWriteLockAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LockFileName)
	_, err := ReadLock(path)
	assert.ErrorIs(t, err, fs.ErrNotExist)

	l := NewLock()
	l.Set(Key{"a", KindTool, "t"}, fingerprint(t, tool(t, "t", "d")))
	require.NoError(t, WriteLock(path, l))
	require.NoError(t, os.WriteFile(path+".keep", []byte("x"), 0o644))
	l.Set(Key{"b", KindTool, "u"}, fingerprint(t, tool(t, "u", "d")))
	require.NoError(t, WriteLock(path, l))

	back, err := ReadLock(path)
	require.NoError(t, err)
	assert.Len(t, back.Keys(), 2)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{LockFileName, LockFileName + ".keep"}, names, "no temporary file left")

	// A read error names the file and the line.
	require.NoError(t, os.WriteFile(path, []byte("version 1\nbroken\n"), 0o644))
	_, err = ReadLock(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+": line 2:")

	// A directory that does not exist: an error, nothing written.
	err = WriteLock(filepath.Join(dir, "missing", LockFileName), l)
	assert.Error(t, err)
}

// FuzzParseLock: never panics, and what parses writes back to a file that
// parses to the same pins.
func FuzzParseLock(f *testing.F) {
	l := NewLock()
	l.Set(Key{"fs", KindTool, "write_file"}, Fingerprint{Fields: map[string]FieldSum{"name": {1}, "odd key": {2}}})
	l.Set(Key{"x y", KindTemplate, "file:///{p}"}, Fingerprint{})
	f.Add(l.Marshal())
	f.Add([]byte("version 1\n"))
	f.Add([]byte("version 1\n\"a\\u200b\" prompt b sha256:" + strings.Repeat("00", 32) + " \"=\"=0000000000000000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLock(bytes.NewReader(data))
		if err != nil {
			require.Nil(t, l)
			var le *LockError
			require.True(t, errors.As(err, &le), "%v", err)
			return
		}
		out := l.Marshal()
		back, err := ParseLock(bytes.NewReader(out))
		require.NoError(t, err, "%s", out)
		require.Equal(t, out, back.Marshal())
	})
}
