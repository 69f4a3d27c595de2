package clientconfig

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzJSONC: the JSONC reader never panics; what it accepts standardizes to
// strict JSON of the same length; strict JSON reads as encoding/json reads
// it; and adding a member to any object it read gives a file it reads again,
// with the member and every other value unchanged.
func FuzzJSONC(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{`{}`, `[]`, `{"a":1,}`, "{\"a\": // c\n 1}", "/* x */ {\"mcpServers\": {\"a\": {}, }}", `"x"`, `{"a": "\"\\u00e9"}`, "\xef\xbb\xbf{\r\n}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseDocument(data)
		if json.Valid(data) && err != nil && !deep(data) {
			t.Fatalf("valid JSON refused: %v", err)
		}
		if err != nil {
			return
		}
		if len(d.std) != len(data) {
			t.Fatalf("standardized length %d, input %d", len(d.std), len(data))
		}
		v, err := decodeAny(d.std)
		if err != nil {
			t.Fatalf("accepted input standardizes to invalid JSON: %v\n%q", err, d.std)
		}
		if json.Valid(data) {
			want, _ := decodeAny(data)
			if !reflect.DeepEqual(v, want) {
				t.Fatalf("read %v, encoding/json reads %v", v, want)
			}
		}
		if d.root.kind != '{' {
			return
		}
		out := d.setMember(d.root, "mcp-gateway-fuzz", object{{"command", "x"}})
		d2, err := parseDocument(out)
		if err != nil {
			t.Fatalf("after adding a member: %v\n%q", err, out)
		}
		a, err := decodeAny(d2.std)
		if err != nil {
			t.Fatalf("after adding a member: %v", err)
		}
		after := a.(map[string]any)
		if !reflect.DeepEqual(after["mcp-gateway-fuzz"], map[string]any{"command": "x"}) {
			t.Fatalf("member not added: %q", out)
		}
		delete(after, "mcp-gateway-fuzz")
		before := v.(map[string]any)
		delete(before, "mcp-gateway-fuzz")
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("other members changed:\n%q\n%q", data, out)
		}
	})
}

// decodeAny decodes JSON keeping numbers as written.
func decodeAny(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// deep reports whether data nests deeper than the reader allows.
func deep(data []byte) bool {
	d, max := 0, 0
	for _, c := range data {
		switch c {
		case '{', '[':
			d++
			max = maxInt(max, d)
		case '}', ']':
			d--
		}
	}
	return max > maxDepth
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
