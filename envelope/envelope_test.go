package envelope

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
		want Message
	}{
		{"request", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,{"b":"}"}]}}}`, true,
			Message{Version: []byte(`"2.0"`), ID: []byte(`7`), Method: []byte(`"tools/call"`), Params: []byte(`{"name":"x","arguments":{"a":[1,{"b":"}"}]}}`)}},
		{"response, odd order and space", " {\n\"result\" : {\"z\":1e3, \"a\":\"\\\"\"} , \"id\":\"gwr-1\",\"jsonrpc\":\"2.0\"}\n", true,
			Message{Version: []byte(`"2.0"`), ID: []byte(`"gwr-1"`), Result: []byte(`{"z":1e3, "a":"\""}`)}},
		{"error", `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"m"}}`, true,
			Message{Version: []byte(`"2.0"`), ID: []byte(`null`), Error: []byte(`{"code":-32600,"message":"m"}`)}},
		{"empty object", `{}`, true, Message{}},
		{"duplicate id", `{"id":1,"id":2}`, false, Message{}},
		{"escaped key", `{"met\u0068od":"x"}`, false, Message{}},
		{"unknown member", `{"jsonrpc":"2.0","id":1,"method":"m","extra":true}`, false, Message{}},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"m"}]`, false, Message{}},
		{"truncated", `{"jsonrpc":"2.0","id":1,"params":{"a":`, false, Message{}},
		{"trailing data", `{"id":1} x`, false, Message{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Read([]byte(tc.in))
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, tc.want, got)
			}
		})
	}
}

func TestStringAndInteger(t *testing.T) {
	s, ok := String([]byte(`"echo__echo"`))
	require.True(t, ok)
	require.Equal(t, "echo__echo", s)
	for _, in := range []string{`"a\"b"`, `"a`, `a"`, `""x`, `5`} {
		_, ok := String([]byte(in))
		require.False(t, ok, in)
	}
	for in, want := range map[string]bool{"0": true, "-12": true, "123456789012345": true, "1234567890123456": false,
		"01": false, "1.0": false, "1e3": false, "-": false, "": false, `"1"`: false} {
		require.Equal(t, want, IsInteger([]byte(in)), in)
	}
}

// FuzzRead checks Read against encoding/json: on valid JSON it reads the
// same members with the same values, or declines; on any input it does not
// panic.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,{"b":"}"}]}}}`,
		`{"jsonrpc":"2.0","id":"gwr-1","result":{"content":[{"type":"text","text":"a\"]}"}],"isError":false}}`,
		`{"id":1,"id":2}`, `{"a\u0041":1}`, `[]`, `{`, `{"result":[1,2,[3]],"error":null}`, ` { } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []string
		ok := Members(b, func(key, value []byte) bool {
			got = append(got, string(key), string(value))
			return true
		})
		_, _ = Read(b)
		if !json.Valid(b) || !utf8.Valid(b) {
			return // encoding/json replaces bad UTF-8 in keys; no key we read has any
		}
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) != nil {
			if ok {
				t.Fatalf("Members read a non-object %q", b)
			}
			return
		}
		if !ok {
			// Declined: only for an escaped key (or a duplicate, which
			// encoding/json folds).
			if !bytes.Contains(b, []byte(`\`)) && len(got)/2 == len(want) {
				t.Fatalf("Members declined %q", b)
			}
			return
		}
		seen := map[string]string{}
		for i := 0; i < len(got); i += 2 {
			seen[got[i]] = got[i+1]
		}
		if len(seen) != len(want) {
			t.Fatalf("Members read %d members of %q, encoding/json %d", len(seen), b, len(want))
		}
		for k, v := range want {
			if !bytes.Equal(bytes.TrimSpace(v), []byte(seen[k])) {
				t.Fatalf("member %q: %q, encoding/json %q", k, seen[k], v)
			}
		}
	})
}
