package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSessionsRecordedWhereBorn: mcp_gateway_sessions_active and
// /agents/sessions follow the SDK's sessions at every moment — right after a
// DELETE, right after the SDK expires an idle session, and after a client
// that vanished (dropped its connections without a DELETE) is expired —
// through the real binary. Each check reads the gauge first, then the list.
func TestSessionsRecordedWhereBorn(t *testing.T) {
	needBins(t)
	cfg := writeConfig(t, map[string]any{
		"gateway":    map[string]any{"session_idle_timeout": "1s"},
		"mcpServers": map[string]any{"up": echoUpstream("up")},
	})
	g := startHTTP(t, cfg)

	// state is the gauge by endpoint and the listed session ids.
	state := func(t *testing.T) (map[string]float64, []string) {
		t.Helper()
		fams := scrapeMetrics(t, g.url, nil)
		gauge := map[string]float64{}
		for _, ep := range []string{"/mcp", "/mcp/up"} {
			v, _ := metricValue(fams, "mcp_gateway_sessions_active", map[string]string{"endpoint": ep})
			gauge[ep] = v
		}
		code, body := obGet(t, g.url+"/agents/sessions", nil)
		require.Equal(t, http.StatusOK, code, "%s", body)
		var list []struct {
			ID       string `json:"id"`
			Endpoint string `json:"endpoint"`
		}
		require.NoError(t, json.Unmarshal(body, &list), "%s", body)
		var ids []string
		for _, s := range list {
			ids = append(ids, s.Endpoint+" "+s.ID)
		}
		return gauge, ids
	}
	none := map[string]float64{"/mcp": 0, "/mcp/up": 0}
	// disconnected waits for the SDK's own record that it ended sid.
	disconnected := func(t *testing.T, sid string) {
		t.Helper()
		eventually(t, 15*time.Second, "the SDK ends session "+sid, func() error {
			for _, line := range strings.Split(g.stderr.String(), "\n") {
				if strings.Contains(line, `"msg":"server session disconnected"`) && strings.Contains(line, sid) {
					return nil
				}
			}
			return fmt.Errorf("no disconnect logged")
		})
	}

	t.Run("DELETE", func(t *testing.T) {
		cs := connectHTTP(t, g.url+"/mcp", nil)
		gauge, ids := state(t)
		assert.Equal(t, map[string]float64{"/mcp": 1, "/mcp/up": 0}, gauge)
		assert.Equal(t, []string{"/mcp " + cs.ID()}, ids)
		require.NoError(t, cs.Close()) // DELETE
		gauge, ids = state(t)
		assert.Equal(t, none, gauge, "right after DELETE")
		assert.Empty(t, ids, "right after DELETE")
	})

	t.Run("idle expiry", func(t *testing.T) {
		cs := connectHTTP(t, g.url+"/mcp/up", nil)
		gauge, ids := state(t)
		assert.Equal(t, map[string]float64{"/mcp": 0, "/mcp/up": 1}, gauge)
		assert.Equal(t, []string{"/mcp/up " + cs.ID()}, ids)
		disconnected(t, cs.ID())
		gauge, ids = state(t)
		assert.Equal(t, none, gauge, "right after idle expiry")
		assert.Empty(t, ids, "right after idle expiry")
	})

	t.Run("client vanishes", func(t *testing.T) {
		// A raw client: initialize, open the event stream, then drop every
		// connection without a DELETE.
		tr := &http.Transport{}
		hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		post := func(sid, body string) *http.Response {
			req, err := http.NewRequest(http.MethodPost, g.url+"/mcp", strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if sid != "" {
				req.Header.Set("Mcp-Session-Id", sid)
				req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
			}
			resp, err := hc.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		resp := post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"vanishing","version":"1"}}}`)
		sid := resp.Header.Get("Mcp-Session-Id")
		require.NotEmpty(t, sid)
		post(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url+"/mcp", nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		stream, err := (&http.Client{Transport: tr}).Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, stream.StatusCode)
		gauge, ids := state(t)
		assert.Equal(t, map[string]float64{"/mcp": 1, "/mcp/up": 0}, gauge)
		assert.Equal(t, []string{"/mcp " + sid}, ids)

		cancel() // the stream's connection drops
		stream.Body.Close()
		tr.CloseIdleConnections()
		disconnected(t, sid)
		gauge, ids = state(t)
		assert.Equal(t, none, gauge, "after the vanished client's session expired")
		assert.Empty(t, ids)
	})
}
