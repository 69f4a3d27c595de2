package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestProgressBeforeResultIsNeverLost calls, 1,000 times for each upstream
// transport (stdio, streamable HTTP, legacy SSE), a tool that sends its last
// progress notification immediately before its result, and reads the
// gateway's answer in wire order (the POST's event stream): every call's
// progress arrives, all of it before the result. go-sdk's client hands a
// response over before the notifications it read ahead of it, so the gateway
// must see its upstreams' messages in wire order itself.
func TestProgressBeforeResultIsNeverLost(t *testing.T) {
	needBins(t)
	if testing.Short() {
		t.Skip("3,000 calls through the real binary")
	}
	const calls, count = 1000, 3
	cfg := writeConfig(t, map[string]any{
		"mcpServers": map[string]any{
			"s": echoUpstream("s"),
			"h": map[string]any{"url": startEchoHTTP(t, "http", "h") + "/mcp"},
			"e": map[string]any{"url": startEchoHTTP(t, "sse", "e") + "/sse", "transport": "sse"},
		},
		"gateway": map[string]any{"limits": map[string]any{"rate_limit_rpm": -1}},
	})
	g := startHTTP(t, cfg)
	url := g.url + "/mcp"
	_, sid := initializeRaw(t, url)
	require.NotEmpty(t, sid)
	session := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}
	_, code := httpPost(t, url, session, initializedBody)
	require.Equal(t, http.StatusAccepted, code)

	client := &http.Client{}
	for _, up := range []string{"s", "h", "e"} {
		t.Run(up, func(t *testing.T) {
			lost := 0
			for i := range calls {
				token := fmt.Sprintf("%s-%d", up, i)
				body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"%s__progress","arguments":{"count":%d},"_meta":{"progressToken":%q}}}`,
					i+10, up, count, token)
				req, err := http.NewRequest("POST", url, strings.NewReader(body))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				for k, v := range session {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				require.NoError(t, err)
				progress, result := readProgressThenResult(t, resp, token)
				resp.Body.Close()
				require.Equal(t, fmt.Sprintf("sent %d", count), result, "call %d", i)
				if progress != count {
					lost++
					t.Logf("call %d: %d of %d progress notifications before the result", i, progress, count)
				}
				if lost > 5 {
					t.Fatalf("progress lost on more than 5 of %d calls so far", i+1)
				}
			}
			require.Zero(t, lost, "calls that lost progress")
		})
	}
}

// readProgressThenResult reads a POST's event stream in order: the progress
// notifications for token that come before the response, and the response's
// text. Progress after the response would be a bug of its own: it fails.
func readProgressThenResult(t *testing.T, resp *http.Response, token string) (int, string) {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	progress, result := 0, ""
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok {
			continue
		}
		var msg struct {
			Method string `json:"method"`
			Params struct {
				ProgressToken any `json:"progressToken"`
			} `json:"params"`
			Result *struct {
				Content []struct {
					Text string `json:"text"`
				} `json:"content"`
			} `json:"result"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(data, &msg), "%s", data)
		switch {
		case msg.Method == "notifications/progress":
			require.Empty(t, result, "progress after the result")
			require.Equal(t, token, msg.Params.ProgressToken, "progress of another call")
			progress++
		case msg.Error != nil:
			t.Fatalf("error: %s", msg.Error.Message)
		case msg.Result != nil:
			require.NotEmpty(t, msg.Result.Content)
			result = msg.Result.Content[0].Text
		}
	}
	require.NoError(t, sc.Err())
	return progress, result
}
