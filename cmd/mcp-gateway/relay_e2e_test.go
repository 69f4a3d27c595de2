package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
)

// rawEchoResult is the echo server's raw_result over stdio, byte for byte
// (testdata/upstreams/echo/raw.go).
const rawEchoResult = `{"zeta":{"b":2,"a":1},"content":[{"text":"raw","type":"text","annotations":{"priority":1.0}}],` +
	`"num":1.50e+3,"big":12345678901234567890,"isError":false,"structuredContent":{"x":-0.0,"y":[1E2,0.10]}}`

// rawSession is a streamable-HTTP session driven with hand-written
// JSON-RPC, to see the bytes and content types the gateway answers with.
type rawSession struct {
	t       *testing.T
	url     string
	key     string
	sid     string
	version string
}

// rawInitialize opens a session at url declaring caps (a JSON object).
func rawInitialize(t *testing.T, url, key, caps string) *rawSession {
	t.Helper()
	s := &rawSession{t: t, url: url, key: key}
	resp := s.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":` + caps + `,"clientInfo":{"name":"raw","version":"test"}}}`)
	s.sid = resp.Header.Get("Mcp-Session-Id")
	require.NotEmpty(t, s.sid)
	s.version = "2025-11-25"
	resp = s.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	return s
}

// rawResponse is an answer: its content type and the JSON-RPC message in it
// (an event stream's message event, a JSON body whole).
type rawResponse struct {
	*http.Response
	msg []byte
}

func (s *rawSession) post(body string) rawResponse {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url, strings.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.key != "" {
		req.Header.Set("X-Api-Key", s.key)
	}
	if s.sid != "" {
		req.Header.Set("Mcp-Session-Id", s.sid)
		req.Header.Set("Mcp-Protocol-Version", s.version)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	out := rawResponse{Response: resp, msg: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		out.msg = nil
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(data, `"id":`) {
				out.msg = []byte(data) // the response, after anything relayed before it
			}
		}
	}
	return out
}

// relayGateway starts a gateway over HTTP with an echo upstream "echo" over
// stdio, an API key, an audit log and the relay lane on or off.
func relayGateway(t *testing.T, relay bool) (*gatewayProcess, string) {
	t.Helper()
	needBins(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	keys := []map[string]any{
		{"key": auth.HashKey(obOpsKey), "owner": "ops", "allowed_upstreams": []string{"*"},
			"scopes": []string{"read", "write"}, "rate_limit_rpm": -1, "admin": true},
		{"key": auth.HashKey(obLimitedKey), "owner": "narrow", "allowed_upstreams": []string{"*"}, "allowed_tools": []string{"echo__echo"},
			"scopes": []string{"read", "write"}, "rate_limit_rpm": -1},
	}
	upstream := echoUpstream("echo")
	upstream["tools"] = map[string]any{"deny": []string{"whoami"}}
	cfg := map[string]any{
		"mcpServers": map[string]any{"echo": upstream},
		"gateway": map[string]any{"auth": map[string]any{"api_keys": keys}, "audit": map[string]any{"file": audit},
			"relay": relay},
	}
	g := startHTTP(t, writeConfig(t, cfg))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway (relay %v) stderr:\n%s", relay, g.stderr)
		}
	})
	// A call before the upstream is up waits for it on the SDK lane: wait
	// here, so that every call of a test can take the lane.
	require.Eventually(t, func() bool {
		code, body := obGet(t, g.url+"/upstreams", map[string]string{"X-Api-Key": obOpsKey})
		return code == http.StatusOK && strings.Contains(string(body), `"state": "up"`)
	}, 20*time.Second, 20*time.Millisecond)
	return g, audit
}

// TestRelayByteFidelity: on the relay lane a stdio upstream's result
// reaches the client byte for byte — members go-sdk does not know, its key
// order, its number formats — in a JSON body with only the id restored; on
// the SDK lane the same result is go-sdk's re-encoding, in an event stream.
func TestRelayByteFidelity(t *testing.T) {
	for _, relay := range []bool{true, false} {
		g, _ := relayGateway(t, relay)
		s := rawInitialize(t, g.url+"/mcp", obOpsKey, `{}`)
		for _, id := range []string{`7`, `"req-x"`} {
			resp := s.post(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"echo__raw_result","arguments":{}}}`)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			if relay {
				require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				require.Equal(t, `{"jsonrpc":"2.0","id":`+id+`,"result":`+rawEchoResult+`}`, string(resp.msg))
				continue
			}
			require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"))
			require.NotContains(t, string(resp.msg), `"zeta"`, "go-sdk drops what it does not know")
			require.Contains(t, string(resp.msg), `"id":`+id+`,`)
		}
	}
}

// TestRelayEligibility: what the lane cannot serve exactly as go-sdk would
// goes to go-sdk (seen by the event-stream answer), and what it can, it
// serves (a JSON answer).
func TestRelayEligibility(t *testing.T) {
	g, _ := relayGateway(t, true)
	call := func(s *rawSession, params string) string {
		resp := s.post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":` + params + `}`)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", resp.msg)
		return resp.Header.Get("Content-Type")
	}
	plain := rawInitialize(t, g.url+"/mcp", obOpsKey, `{}`)
	for _, tc := range []struct {
		name, params, want string
	}{
		{"plain", `{"name":"echo__echo","arguments":{"text":"hi"}}`, "application/json"},
		{"pretty arguments", "{\"name\":\"echo__echo\",\n \"arguments\": {\n  \"text\": \"hi\"\n }\n}", "application/json"},
		{"meta", `{"name":"echo__echo","arguments":{"text":"hi"},"_meta":{"k":"v"}}`, "application/json"},
		{"progress token", `{"name":"echo__echo","arguments":{"text":"hi"},"_meta":{"progressToken":"p"}}`, "text/event-stream"},
		{"unknown tool", `{"name":"echo__nope"}`, "text/event-stream"},
		{"tool hidden by the upstream's filter", `{"name":"echo__whoami"}`, "text/event-stream"},
		{"unknown params member", `{"name":"echo__echo","arguments":{"text":"hi"},"task":{}}`, "text/event-stream"},
		{"escaped name", `{"name":"echo__ech\u006f","arguments":{"text":"hi"}}`, "text/event-stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, strings.HasPrefix(call(plain, tc.params), tc.want))
		})
	}
	t.Run("client that can be asked for roots", func(t *testing.T) {
		s := rawInitialize(t, g.url+"/mcp", obOpsKey, `{"roots":{"listChanged":true}}`)
		require.True(t, strings.HasPrefix(call(s, `{"name":"echo__echo","arguments":{"text":"hi"}}`), "text/event-stream"))
	})
	t.Run("session that set a log level", func(t *testing.T) {
		s := rawInitialize(t, g.url+"/mcp", obOpsKey, `{}`)
		require.Equal(t, http.StatusOK, s.post(`{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"info"}}`).StatusCode)
		require.True(t, strings.HasPrefix(call(s, `{"name":"echo__echo","arguments":{"text":"hi"}}`), "text/event-stream"))
	})
	t.Run("tool the identity may not call", func(t *testing.T) {
		// Policy is the lane's too: it answers the refusal itself.
		s := rawInitialize(t, g.url+"/mcp", obLimitedKey, `{}`)
		resp := s.post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__add","arguments":{"a":1,"b":2}}}`)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.Contains(t, string(resp.msg), `"error":`)
	})
	t.Run("per-upstream endpoint", func(t *testing.T) {
		s := rawInitialize(t, g.url+"/mcp/echo", obOpsKey, `{}`)
		require.Equal(t, "application/json", call(s, `{"name":"echo","arguments":{"text":"hi"}}`))
	})
}

// TestRelayCancel: a client's notifications/cancelled for a relayed call
// cancels it upstream (the echo's sleep returns early, and the gateway's
// audit line says cancelled) and the POST ends without a response, as on
// the SDK lane.
func TestRelayCancel(t *testing.T) {
	for _, relay := range []bool{true, false} {
		g, audit := relayGateway(t, relay)
		s := rawInitialize(t, g.url+"/mcp", obOpsKey, `{}`)
		done := make(chan rawResponse, 1)
		go func() {
			done <- s.post(`{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"echo__sleep","arguments":{"ms":20000}}}`)
		}()
		// Cancel once the call is in flight upstream: the audit line comes
		// only when it ends, so poll by cancelling until the POST returns.
		var resp rawResponse
	wait:
		for {
			require.Equal(t, http.StatusAccepted, s.post(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow","reason":"test"}}`).StatusCode)
			select {
			case resp = <-done:
				break wait
			case <-time.After(100 * time.Millisecond):
			}
		}
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"), "relay %v", relay)
		require.Empty(t, resp.msg, "no response to a cancelled request (relay %v)", relay)
		lines := auditLines(t, audit, 1)
		require.Equal(t, "cancelled", lines[0]["outcome"], "relay %v", relay)
		// The session goes on.
		require.Contains(t, string(s.post(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"after"}}}`).msg), "after")
	}
}

// auditLines waits for at least n lines in the audit log and returns them
// decoded, without the fields that differ from run to run.
func auditLines(t *testing.T, path string, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		out = out[:0]
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var m map[string]any
			if json.Unmarshal(line, &m) == nil {
				for _, k := range []string{"time", "duration_ms", "session"} {
					delete(m, k)
				}
				out = append(out, m)
			}
		}
		return len(out) >= n
	}, 10*time.Second, 20*time.Millisecond)
	return out
}

// TestRelayDifferential sends the same mixed traffic through a gateway with
// the relay lane and one without, and compares what a client and an
// operator see: results, errors, audit lines and metrics.
func TestRelayDifferential(t *testing.T) {
	type outcome struct {
		Result json.RawMessage
		Error  string
	}
	traffic := []mcp.CallToolParams{
		{Name: "echo__echo", Arguments: map[string]any{"text": "hello"}},
		{Name: "echo__echo", Arguments: map[string]any{"text": strings.Repeat("é", 2000)}, Meta: mcp.Meta{"k": "v", "n": 1.5}},
		{Name: "echo__add", Arguments: map[string]any{"a": 2, "b": 40}},
		{Name: "echo__fail", Arguments: map[string]any{"message": "a tool error"}},
		{Name: "echo__rpc_error", Arguments: map[string]any{"code": -32001, "message": "upstream says no"}},
		{Name: "echo__add", Arguments: map[string]any{"a": "not a number"}},
		{Name: "echo__nope"},
		{Name: "echo__whoami"},
		{Name: "echo__raw_result"},
	}
	run := func(relay bool) ([]outcome, []map[string]any, map[string]float64) {
		g, audit := relayGateway(t, relay)
		tr := &mcp.StreamableClientTransport{Endpoint: g.url + "/mcp", MaxRetries: -1,
			HTTPClient: &http.Client{Transport: obHeaders{"X-Api-Key": obOpsKey}}}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "differential", Version: "test"},
			&mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}}).Connect(ctx, tr, nil)
		require.NoError(t, err)
		defer cs.Close()
		var out []outcome
		for _, p := range traffic {
			res, err := cs.CallTool(ctx, &p)
			var o outcome
			if err != nil {
				o.Error = err.Error()
			} else {
				o.Result, _ = json.Marshal(res)
			}
			out = append(out, o)
		}
		// A pretty-printed body: its arguments hash the same either way.
		s := rawInitialize(t, g.url+"/mcp", obOpsKey, `{}`)
		resp := s.post("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"echo__echo\",\n \"arguments\": {\"text\": \"pretty\"}}}")
		out = append(out, outcome{Result: resp.msg})
		// A call the identity may not make: refused the same way.
		narrow := rawInitialize(t, g.url+"/mcp", obLimitedKey, `{}`)
		resp = narrow.post(`{"jsonrpc":"2.0","id":"n","method":"tools/call","params":{"name":"echo__add","arguments":{"a":1,"b":2}}}`)
		out = append(out, outcome{Result: resp.msg})
		lines := auditLines(t, audit, len(traffic)+2)
		return out, lines, relayMetrics(t, g.url)
	}
	relayOut, relayAudit, relayMetric := run(true)
	sdkOut, sdkAudit, sdkMetric := run(false)
	require.Len(t, relayOut, len(sdkOut))
	for i := range relayOut {
		// raw_result too decodes the same for a go-sdk client; the raw POST
		// is answered the same message (the relay's bytes as they came,
		// go-sdk's re-encoded).
		require.Equal(t, sdkOut[i].Error, relayOut[i].Error, "call %d", i)
		if sdkOut[i].Error == "" {
			require.JSONEq(t, string(sdkOut[i].Result), string(relayOut[i].Result), "call %d", i)
		}
	}
	require.Equal(t, sdkAudit, relayAudit)
	require.Equal(t, sdkMetric, relayMetric)
}

// relayMetrics returns the gateway's call counters and the number of
// observations of its call histograms, by series: what must not differ
// between the lanes (durations do).
func relayMetrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for name, fam := range scrapeMetrics(t, base, map[string]string{"X-Api-Key": obOpsKey}) {
		if name != "mcp_gateway_requests_total" && name != "mcp_gateway_tool_call_duration_seconds" &&
			name != "mcp_gateway_request_duration_seconds" && name != "mcp_gateway_rate_limited_total" {
			continue
		}
		for _, m := range fam.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
