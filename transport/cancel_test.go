package transport

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResponseID(t *testing.T) {
	tests := []struct {
		msg    string
		id     string
		answer bool
	}{
		{`{"jsonrpc":"2.0","id":2,"result":{}}`, "2", true},
		{`{"jsonrpc":"2.0","id":"a\"b","error":{"code":-32603,"message":"x"}}`, `"a\"b"`, true},
		{`{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{}}`, "", false},
		{`{"jsonrpc":"2.0","method":"notifications/progress","params":{}}`, "", false},
		{`[{"jsonrpc":"2.0","id":1,"result":{}}]`, "", false},
		{`{"jsonrpc":"2.0","id":"unterminated`, "", false},
	}
	for _, tc := range tests {
		id, ok := responseID([]byte(tc.msg))
		assert.Equal(t, tc.answer, ok, tc.msg)
		assert.Equal(t, tc.id, id, tc.msg)
	}
}

// TestCancelSet: a cancelled id's response is dropped once; a new request
// with the same id clears a cancel that came after its response.
func TestCancelSet(t *testing.T) {
	var cs cancelSet
	resp := []byte(`{"jsonrpc":"2.0","id":"r1","result":{}}`)
	assert.False(t, cs.dropsCancelled(resp), "nothing cancelled")
	cs.noteLine([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"\u0072\u0031"}}` + "\n"))
	assert.True(t, cs.dropsCancelled(resp), "the same id however it was escaped")
	assert.False(t, cs.dropsCancelled(resp), "dropped once")

	cs.noteLine([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}`))
	cs.noteLine([]byte(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{}}`))
	assert.False(t, cs.dropsCancelled([]byte(`{"jsonrpc":"2.0","id":5,"result":{}}`)), "the id was used again")
	assert.True(t, cs.empty())
}

// FuzzCancelFilter: whatever a client sends, reading it never panics, and a
// response the SDK writes is recognised with the id json reads in it.
func FuzzCancelFilter(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`), []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`))
	f.Add([]byte(`[{"method":"notifications/cancelled","params":{"requestId":"x"}}]`), []byte(`{"jsonrpc":"2.0","id":"x","error":{}}`))
	f.Fuzz(func(t *testing.T, in, out []byte) {
		var cs cancelSet
		cs.noteLine(in)
		cs.dropsCancelled(out)
		if id, ok := responseID(out); ok && json.Valid(out) {
			var m struct {
				ID json.RawMessage `json:"id"`
			}
			if json.Unmarshal(out, &m) == nil {
				want, _ := canonicalID(m.ID)
				if want != id {
					t.Fatalf("responseID(%q) = %q, json reads %q", out, id, want)
				}
			}
		}
	})
}
