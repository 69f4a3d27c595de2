package transport

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestDuplicateTopLevelKeyTable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{"a":1,"b":2}`, false},
		{`{"method":"x","method":"y"}`, true},
		{`{"method":"x","met\u0068od":"y"}`, true},
		{`{"a":{"a":1,"a":2}}`, false},
		{`[{"id":1},{"id":2,"id":3}]`, true},
		{`[{"id":1},{"id":2}]`, false},
		{`{"a":"x,\"a\":1"}`, false},
		{`{"a":[{"b":1},{"b":2}],"b":3}`, false},
		{`{"a":1,"b":[1,2],"a":2}`, true},
		{`"just a string"`, false},
	} {
		if got := duplicateTopLevelKey([]byte(tc.in)); got != tc.want {
			t.Errorf("duplicateTopLevelKey(%s) = %v", tc.in, got)
		}
	}
}

// FuzzDuplicateKey compares the byte scanner with a reference that decodes,
// on every valid JSON input.
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `[{"x":1},{"y":2,"y":3}]`, `{"a\u0062":1,"ab":2}`, `{"a":{"b":1,"b":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := duplicateTopLevelKey(b)
		if !json.Valid(b) {
			return
		}
		if want := referenceDuplicate(b); got != want {
			t.Fatalf("duplicateTopLevelKey(%q) = %v, want %v", b, got, want)
		}
	})
}

func referenceDuplicate(b []byte) bool {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return false
	}
	check := func(raw json.RawMessage) bool {
		dec := json.NewDecoder(bytes.NewReader(raw))
		if t, err := dec.Token(); err != nil || t != json.Delim('{') {
			return false
		}
		seen := map[string]bool{}
		for dec.More() {
			t, _ := dec.Token()
			k := t.(string)
			if seen[k] {
				return true
			}
			seen[k] = true
			var skip json.RawMessage
			dec.Decode(&skip)
		}
		return false
	}
	switch v.(type) {
	case map[string]any:
		return check(b)
	case []any:
		var items []json.RawMessage
		json.Unmarshal(b, &items)
		for _, it := range items {
			if check(it) {
				return true
			}
		}
	}
	return false
}
