package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	cxInitialize  = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"cancel-test","version":"1"}}}`
	cxInitialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	cxList        = `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`
	cxSleep       = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"up__sleep","arguments":{"ms":30000},"_meta":{"progressToken":"p"}}}`
	cxCancel      = `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2,"reason":"the user changed their mind"}}`
	cxPing        = `{"jsonrpc":"2.0","id":3,"method":"ping"}`
)

// cxConfig is a gateway with the echo upstream and an audit log, whose
// "cancelled" line says the cancelled call has finished in the gateway.
func cxConfig(t *testing.T) (cfg, audit string) {
	audit = filepath.Join(t.TempDir(), "audit.jsonl")
	cfg = writeConfig(t, map[string]any{
		"gateway":    map[string]any{"audit": map[string]any{"file": audit}},
		"mcpServers": map[string]any{"up": echoUpstream("up")},
	})
	return cfg, audit
}

// cxAuditedCancelled waits until the audit log records the tools/call as
// cancelled: the call has returned in the gateway, and the SDK has its
// answer to send.
func cxAuditedCancelled(t *testing.T, audit string) {
	t.Helper()
	eventually(t, 15*time.Second, "the cancelled call is audited", func() error {
		b, _ := os.ReadFile(audit)
		if strings.Contains(string(b), `"outcome":"cancelled"`) {
			return nil
		}
		return fmt.Errorf("audit log: %q", b)
	})
}

// cxResponseIDs returns the ids of the responses among JSON-RPC messages.
func cxResponseIDs(t *testing.T, msgs []string) []string {
	t.Helper()
	var ids []string
	for _, m := range msgs {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		require.NoError(t, json.Unmarshal([]byte(m), &msg), "%q", m)
		if msg.Method == "" && len(msg.ID) > 0 {
			ids = append(ids, string(msg.ID))
		}
	}
	return ids
}

// TestCancelledRequestGetsNoResponseStdio: over stdio, a tools/call the
// client cancels gets neither a result nor an error; the requests around it
// are answered.
func TestCancelledRequestGetsNoResponseStdio(t *testing.T) {
	needBins(t)
	cfg, audit := cxConfig(t)
	cmd := exec.Command(bins.gateway, "serve", "--config", cfg)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var got []string
	readUntil := func(what string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				require.True(t, ok, "stdout ended before %s; stderr:\n%s", what, stderr)
				got = append(got, l)
				if strings.Contains(l, what) {
					return
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no %s; got %q", what, got)
			}
		}
	}
	send := func(msg string) {
		_, err := io.WriteString(stdin, msg+"\n")
		require.NoError(t, err)
	}
	send(cxInitialize)
	readUntil(`"id":1,`)
	send(cxInitialized)
	send(cxList) // waits for the upstream's first connection
	readUntil(`"id":4,`)
	send(cxSleep)
	readUntil("notifications/progress") // the upstream is running the call
	send(cxCancel)
	cxAuditedCancelled(t, audit)
	send(cxPing)
	readUntil(`"id":3,`)
	// The end of input ends the session once its answers are written.
	require.NoError(t, stdin.Close())
	for l := range lines {
		got = append(got, l)
	}
	assert.Equal(t, []string{"1", "4", "3"}, cxResponseIDs(t, got), "responses; the cancelled request 2 gets none")
}

// TestCancelledRequestGetsNoResponseHTTP: over streamable HTTP, the POST
// that carried the cancelled tools/call ends without an answer to it.
func TestCancelledRequestGetsNoResponseHTTP(t *testing.T) {
	needBins(t)
	cfg, audit := cxConfig(t)
	g := startHTTP(t, cfg)
	hc := &http.Client{Timeout: 30 * time.Second}
	// stream POSTs body and returns the response and its SSE data lines,
	// delivered as they arrive.
	stream := func(sid, body string) (*http.Response, <-chan string) {
		t.Helper()
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
		data := make(chan string, 64)
		go func() {
			defer close(data)
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.TrimSpace(d) != "" {
					data <- d
				}
			}
		}()
		return resp, data
	}
	post := func(sid, body string) (*http.Response, []string) {
		t.Helper()
		resp, data := stream(sid, body)
		var msgs []string
		for d := range data {
			msgs = append(msgs, d)
		}
		return resp, msgs
	}
	resp, msgs := post("", cxInitialize)
	sid := resp.Header.Get("Mcp-Session-Id")
	require.NotEmpty(t, sid)
	require.Equal(t, []string{"1"}, cxResponseIDs(t, msgs))
	post(sid, cxInitialized)
	_, msgs = post(sid, cxList) // waits for the upstream's first connection
	require.Equal(t, []string{"4"}, cxResponseIDs(t, msgs))

	resp, data := stream(sid, cxSleep)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Cancel once the upstream is running the call: its first progress.
	var got []string
	select {
	case d, ok := <-data:
		require.True(t, ok, "the call's stream ended at once")
		require.Contains(t, d, "notifications/progress")
		got = append(got, d)
	case <-time.After(20 * time.Second):
		t.Fatal("no progress from the upstream")
	}
	resp, _ = post(sid, cxCancel)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	cxAuditedCancelled(t, audit)
	ended := time.After(20 * time.Second)
	for open := true; open; {
		select {
		case d, ok := <-data:
			if ok {
				got = append(got, d)
			}
			open = ok
		case <-ended:
			t.Fatal("the POST of the cancelled call did not end")
		}
	}
	assert.Empty(t, cxResponseIDs(t, got), "the cancelled request gets no response: %q", got)
	_, msgs = post(sid, cxPing)
	assert.Equal(t, []string{"3"}, cxResponseIDs(t, msgs), "the session serves on")
}
