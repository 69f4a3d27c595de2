package transport

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// TestFrontDoorJSONRPCErrors: what the front door refuses is answered as a
// JSON-RPC error, not plain text: -32700 for what is not JSON, -32600 for a
// batch in a protocol version without batches.
func TestFrontDoorJSONRPCErrors(t *testing.T) {
	h := NewHandler(HTTPOptions{
		Merged: mcp.NewServer(&mcp.Implementation{Name: "t"}, nil),
		Status: func() any { return nil },
		Ready:  func() bool { return true },
	}, true)
	for _, tc := range []struct {
		name, body, version string
		code                int
	}{
		{"not JSON", `{"jsonrpc":"2.0","id":1,"method":`, "", -32700},
		{"trailing garbage", `{"jsonrpc":"2.0","id":1,"method":"ping"} x`, "", -32700},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, "2025-11-25", -32600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://127.0.0.1/mcp", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Accept", "application/json, text/event-stream")
			if tc.version != "" {
				r.Header.Set("Mcp-Protocol-Version", tc.version)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, http.StatusBadRequest, w.Code)
			var msg struct {
				Error struct{ Code int } `json:"error"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &msg), w.Body.String())
			assert.Equal(t, tc.code, msg.Error.Code)
		})
	}
}
