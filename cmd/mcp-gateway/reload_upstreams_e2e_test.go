//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listChanges counts a session's tools/list_changed notifications, each
// marked with whether it came after the barrier was raised.
type listChanges struct {
	barrier atomic.Bool
	ch      chan bool
}

func newListChanges() *listChanges { return &listChanges{ch: make(chan bool, 100)} }

func (l *listChanges) opts() *mcp.ClientOptions {
	return &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { l.ch <- l.barrier.Load() }}
}

// callCounts counts calls and failures by target upstream.
type callCounts struct {
	mu       sync.Mutex
	calls    map[string]int
	failures map[string][]string
}

func (c *callCounts) note(upstream string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[upstream]++
	if err != nil {
		c.failures[upstream] = append(c.failures[upstream], err.Error())
	}
}

// TestReloadUpstreamsUnderLoad edits the config of a running `serve --http`
// while clients call tools in a loop: an upstream is added, one removed, one
// changed (restarted), a key removed and a rate limit changed. No call fails
// that was not to the removed upstream; a call in flight to the changed
// upstream finishes; the untouched upstream keeps its process; the added
// upstream's tools appear; the removed key is refused at its next request
// and the new limit applies; list_changed reaches only sessions whose list
// changed.
func TestReloadUpstreamsUnderLoad(t *testing.T) {
	needBins(t)
	keys := map[string]string{}
	for _, who := range []string{"admin", "all", "keeponly", "leaving", "limited", "narrowed"} {
		k, _, err := auth.NewKey()
		require.NoError(t, err)
		keys[who] = k
	}
	entry := func(who string, upstreams []string, rpm int) map[string]any {
		return map[string]any{"key": auth.HashKey(keys[who]), "owner": who, "allowed_upstreams": upstreams,
			"scopes": []string{"read", "write"}, "rate_limit_rpm": rpm, "burst": 1, "admin": who == "admin"}
	}
	all := []string{"*"}
	remote := startEchoHTTP(t, "http", "remote")
	remoteEntry := func(version string) map[string]any {
		return map[string]any{"url": remote + "/mcp", "headers": map[string]string{"X-Config-Version": version}}
	}
	cfg := map[string]any{
		"mcpServers": map[string]any{"keep": echoUpstream("keep"), "gone": echoUpstream("gone"), "chg": echoUpstream("chg"), "remote": remoteEntry("1")},
		"gateway": map[string]any{"auth": map[string]any{"api_keys": []any{
			entry("admin", all, -1), entry("all", all, -1), entry("keeponly", []string{"keep"}, -1),
			entry("leaving", all, -1), entry("limited", all, -1), entry("narrowed", all, -1),
		}}},
	}
	cfgPath := writeConfig(t, cfg)
	g := startHTTP(t, cfgPath)
	reloads := func() int { return strings.Count(g.stderr.String(), `"msg":"config reloaded"`) }
	waitReload := func(n int) {
		t.Helper()
		require.Eventually(t, func() bool { return reloads() >= n }, 60*time.Second, 20*time.Millisecond, "want %d reloads\n%s", n, g.stderr)
	}
	statusNames := func() []string {
		resp, body := aeDo(t, http.MethodGet, g.url+"/upstreams", aeAPIKey(keys["admin"]), "")
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		var st []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &st))
		var names []string
		for _, s := range st {
			names = append(names, s.Name+":"+s.State)
		}
		return names
	}
	require.Eventually(t, func() bool { return slices.Equal(statusNames(), []string{"chg:up", "gone:up", "keep:up", "remote:up"}) }, 30*time.Second, 20*time.Millisecond)

	// Sessions: one that sees everything (told of the changes), one whose
	// identity sees only keep and one on keep's own endpoint (neither may
	// be told).
	allNotes, keepOnlyNotes, ownNotes := newListChanges(), newListChanges(), newListChanges()
	csAll := aeConnectOpts(t, g.url+"/mcp", aeAPIKey(keys["all"]), allNotes.opts())
	csKeepOnly := aeConnectOpts(t, g.url+"/mcp", aeAPIKey(keys["keeponly"]), keepOnlyNotes.opts())
	csOwn := aeConnectOpts(t, g.url+"/mcp/keep", aeAPIKey(keys["all"]), ownNotes.opts())
	require.Contains(t, listToolNames(t, csAll), "gone__echo")
	require.NotContains(t, listToolNames(t, csKeepOnly), "chg__echo")
	require.Contains(t, listToolNames(t, csOwn), "echo")
	narrowNotes := newListChanges()
	csNarrow := aeConnectOpts(t, g.url+"/mcp", aeAPIKey(keys["narrowed"]), narrowNotes.opts())
	keepPID, chgPID := callWhoami(t, csAll, "keep__whoami").PID, callWhoami(t, csAll, "chg__whoami").PID

	// Load: loops of calls until the test is done.
	counts := &callCounts{calls: map[string]int{}, failures: map[string][]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(cs *mcp.ClientSession, tools ...string) {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tool := tools[i%len(tools)]
				_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": "x"}})
				upstream, _, _ := strings.Cut(tool, "__")
				if cs == csOwn {
					upstream = "keep"
				}
				counts.note(upstream, err)
			}
		})
	}
	csLoad := aeConnectOpts(t, g.url+"/mcp", aeAPIKey(keys["all"]), nil)
	loop(csAll, "keep__echo", "chg__echo", "gone__echo")
	loop(csLoad, "chg__echo", "remote__echo", "keep__echo")
	loop(csKeepOnly, "keep__echo")
	loop(csOwn, "echo")

	// A call to remote in flight when remote is restarted: it is under way
	// once its first progress notification arrives. (A stdio upstream's
	// shutdown lets its calls finish within a grace anyway; an HTTP
	// session closed under a call would fail it.)
	inFlight := make(chan struct{}, 1)
	csSlow := aeConnectOpts(t, g.url+"/mcp", aeAPIKey(keys["all"]), &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {
			select {
			case inFlight <- struct{}{}:
			default:
			}
		},
	})
	slow := make(chan error, 1)
	go func() {
		p := &mcp.CallToolParams{Name: "remote__sleep", Arguments: map[string]any{"ms": 1500}}
		p.SetProgressToken("slow")
		res, err := csSlow.CallTool(context.Background(), p)
		if err == nil && res.IsError {
			err = assert.AnError
		}
		slow <- err
	}()
	<-inFlight

	// Edit 1: add new, remove gone, change chg (its echo tool's
	// description) and remote (a header it is sent).
	n := reloads()
	servers := cfg["mcpServers"].(map[string]any)
	delete(servers, "gone")
	servers["chg"] = echoUpstream("chg", "--echo-description", "changed")
	servers["new"] = echoUpstream("new")
	servers["remote"] = remoteEntry("2")
	rewriteConfig(t, cfgPath, cfg)
	waitReload(n + 1)
	require.NoError(t, <-slow, "the call in flight to the restarted upstream finished")
	assert.Contains(t, g.stderr.String(), `"added":["new"],"removed":["gone"],"restarted":["chg","remote"]`)
	require.Eventually(t, func() bool { return slices.Equal(statusNames(), []string{"chg:up", "keep:up", "new:up", "remote:up"}) }, 30*time.Second, 20*time.Millisecond)
	assert.False(t, <-allNotes.ch, "the session that sees everything is told")
	tools := map[string]*mcp.Tool{}
	for tool, err := range csAll.Tools(context.Background(), nil) {
		require.NoError(t, err)
		tools[tool.Name] = tool
	}
	require.Contains(t, tools, "new__echo", "the added upstream's tools appear")
	assert.NotContains(t, tools, "gone__echo")
	assert.Equal(t, "changed", tools["chg__echo"].Description)
	assert.Equal(t, `x`, callText(t, csAll, "new__echo", map[string]any{"text": "x"}))
	assert.Equal(t, keepPID, callWhoami(t, csAll, "keep__whoami").PID, "the untouched upstream kept its process")
	assert.NotEqual(t, chgPID, callWhoami(t, csAll, "chg__whoami").PID, "the changed upstream was restarted")
	assert.Contains(t, callText(t, csAll, "remote__headers", nil), `"X-Config-Version":["2"]`, "remote was reconnected with its new headers")
	require.Eventually(t, func() bool { return !processAlive(chgPID) }, 30*time.Second, 20*time.Millisecond, "the old chg process exited")
	_, err := csAll.CallTool(context.Background(), &mcp.CallToolParams{Name: "gone__echo", Arguments: map[string]any{"text": "x"}})
	assert.ErrorContains(t, err, "gone__echo")
	resp, _ := aeDo(t, http.MethodPost, g.url+"/mcp/gone", aeAPIKey(keys["all"]), initializeBody)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the removed upstream's endpoint is gone")

	// Edit 2: a key removed, a limit lowered, a key's policy narrowed; the
	// next request sees all three, and the narrowed key's session is told
	// its list changed.
	resp, body := aeDo(t, http.MethodPost, g.url+"/mcp", aeAPIKey(keys["leaving"]), initializeBody)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, listToolNames(t, csNarrow), "new__echo")
	narrowNotes.barrier.Store(true)
	n = reloads()
	cfg["gateway"] = map[string]any{"auth": map[string]any{"api_keys": []any{
		entry("admin", all, -1), entry("all", all, -1), entry("keeponly", []string{"keep"}, -1), entry("limited", all, 1),
		entry("narrowed", []string{"keep"}, -1),
	}}}
	rewriteConfig(t, cfgPath, cfg)
	waitReload(n + 1)
	resp, _ = aeDo(t, http.MethodPost, g.url+"/mcp", aeAPIKey(keys["leaving"]), initializeBody)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the removed key is refused")
	resp, _ = aeDo(t, http.MethodPost, g.url+"/mcp", aeAPIKey(keys["limited"]), initializeBody)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = aeDo(t, http.MethodPost, g.url+"/mcp", aeAPIKey(keys["limited"]), initializeBody)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the new limit: 1 a minute")
	for !<-narrowNotes.ch { // those before the barrier are edit 1's
	}
	narrowed := listToolNames(t, csNarrow)
	assert.Contains(t, narrowed, "keep__echo")
	assert.NotContains(t, narrowed, "new__echo", "the narrowed policy applies to the next request")

	// A config with an error anywhere (here a key given twice) is refused
	// whole: the upstream it adds is not started, the running config kept.
	n = reloads()
	good := cfg["gateway"]
	servers["never"] = echoUpstream("never")
	cfg["gateway"] = map[string]any{"auth": map[string]any{"api_keys": []any{
		entry("admin", all, -1), entry("all", all, -1), entry("all", all, -1), entry("keeponly", []string{"keep"}, -1),
	}}}
	rewriteConfig(t, cfgPath, cfg)
	resp, body = aeDo(t, http.MethodPost, g.url+"/admin/reload", aeAPIKey(keys["admin"]), "")
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, body)
	assert.Contains(t, body, "api_keys[2]")
	assert.Equal(t, []string{"chg:up", "keep:up", "new:up", "remote:up"}, statusNames())
	resp, _ = aeDo(t, http.MethodPost, g.url+"/mcp", aeAPIKey(keys["keeponly"]), initializeBody)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the running keys are kept")
	delete(servers, "never")
	cfg["gateway"] = good
	rewriteConfig(t, cfgPath, cfg)
	waitReload(n + 1)

	// The barrier: a change on keep, which every session sees. The first
	// notification the keep-only and keep's own sessions get must be this
	// one: nothing before it changed what they see.
	keepOnlyNotes.barrier.Store(true)
	ownNotes.barrier.Store(true)
	callText(t, csAll, "keep__add_tool", map[string]any{"name": "extra"})
	assert.True(t, <-keepOnlyNotes.ch, "a session whose identity sees only keep was told of changes elsewhere")
	assert.True(t, <-ownNotes.ch, "a session of keep's own endpoint was told of changes elsewhere")
	assert.Contains(t, g.stderr.String(), `"msg":"list_changed not sent: the session's list is unchanged"`)

	close(stop)
	wg.Wait()
	counts.mu.Lock()
	defer counts.mu.Unlock()
	for _, up := range []string{"keep", "chg", "remote", "gone"} {
		assert.Positive(t, counts.calls[up], "calls to %s", up)
	}
	assert.Empty(t, counts.failures["keep"], "calls to the untouched upstream")
	assert.Empty(t, counts.failures["chg"], "calls to the restarted stdio upstream")
	assert.Empty(t, counts.failures["remote"], "calls to the restarted HTTP upstream")
	assert.NotEmpty(t, counts.failures["gone"], "calls to the removed upstream fail once it is gone")
	for _, msg := range counts.failures["gone"] {
		assert.Contains(t, msg, "gone__echo")
	}
	t.Logf("calls during the reloads: %v; failed (all to the removed upstream): %d", counts.calls, len(counts.failures["gone"]))
}

// TestReloadStdio reloads the config of `serve` over stdio, the desktop
// client's setup: an upstream added appears, and a narrower local identity
// hides what it may no longer use; each time the client is told.
func TestReloadStdio(t *testing.T) {
	needBins(t)
	cfg := map[string]any{"mcpServers": map[string]any{"a": echoUpstream("a")}}
	cfgPath := writeConfig(t, cfg)
	notes := newListChanges()
	cs, stderr := connectStdio(t, cfgPath, notes.opts())
	require.Contains(t, listToolNames(t, cs), "a__echo")
	reloads := func() int { return strings.Count(stderr.String(), `"msg":"config reloaded"`) }

	cfg["mcpServers"].(map[string]any)["b"] = echoUpstream("b")
	rewriteConfig(t, cfgPath, cfg)
	assert.False(t, <-notes.ch)
	require.Eventually(t, func() bool { return slices.Contains(listToolNames(t, cs), "b__echo") }, 30*time.Second, 20*time.Millisecond, "%s", stderr)
	assert.Equal(t, "x", callText(t, cs, "b__echo", map[string]any{"text": "x"}))

	n := reloads()
	cfg["gateway"] = map[string]any{"auth": map[string]any{"local": map[string]any{"allowed_upstreams": []string{"a"}}}}
	rewriteConfig(t, cfgPath, cfg)
	assert.False(t, <-notes.ch, "the local identity's list changed")
	require.Eventually(t, func() bool { return reloads() > n }, 30*time.Second, 20*time.Millisecond, "%s", stderr)
	names := listToolNames(t, cs)
	assert.Contains(t, names, "a__echo")
	assert.NotContains(t, names, "b__echo")
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "b__echo", Arguments: map[string]any{"text": "x"}})
	assert.ErrorContains(t, err, "b__echo")
}
