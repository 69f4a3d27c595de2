package main

// Protocol features through the gateway, end to end: the TypeScript SDK
// client (testdata/interop/client.mjs, which declares sampling, elicitation
// and roots) downstream, @modelcontextprotocol/server-everything upstream,
// over stdio and streamable HTTP (/mcp). Progress, cancellation, sampling,
// elicitation, roots, logging, resource subscriptions, completion and prompt
// arguments must all survive the hop.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// featuresOutput is client.mjs's output with the fields interopOutput leaves
// out (progress, cancellation, completions, subscriptions, logging).
type featuresOutput struct {
	ProtocolVersion string   `json:"protocolVersion"`
	Tools           []string `json:"tools"`
	Calls           []struct {
		Name          string              `json:"name"`
		Result        *mcp.CallToolResult `json:"result"`
		Error         *interopError       `json:"error"`
		ProgressCount *int                `json:"progressCount"`
		Cancelled     bool                `json:"cancelled"`
	} `json:"calls"`
	PromptsGot []struct {
		Name   string               `json:"name"`
		Result *mcp.GetPromptResult `json:"result"`
		Error  *interopError        `json:"error"`
	} `json:"prompts_got"`
	Completions []struct {
		Ref    map[string]any      `json:"ref"`
		Result *mcp.CompleteResult `json:"result"`
		Error  *interopError       `json:"error"`
	} `json:"completions"`
	Subscriptions []struct {
		URI   string        `json:"uri"`
		OK    bool          `json:"ok"`
		Error *interopError `json:"error"`
	} `json:"subscriptions"`
	SetLogLevel *struct {
		Level string        `json:"level"`
		OK    bool          `json:"ok"`
		Error *interopError `json:"error"`
	} `json:"setLogLevel"`
	ListErrors     map[string]interopError `json:"listErrors"`
	ServerRequests []string                `json:"serverRequests"`
	Notifications  []string                `json:"notifications"`
	LogMessages    []struct {
		Level  string `json:"level"`
		Logger string `json:"logger"`
		Data   any    `json:"data"`
	} `json:"logMessages"`
	ResourceUpdates []string `json:"resourceUpdates"`
}

// featuresSpec is the client.mjs --spec of TestInteropFeatures; see
// testdata/interop/README.md.
type featuresSpec struct {
	SetLogLevel string                `json:"setLogLevel,omitempty"`
	Subscribe   []string              `json:"subscribe,omitempty"`
	Call        []featuresCall        `json:"call,omitempty"`
	Prompt      []interopSpecPrompt   `json:"prompt,omitempty"`
	Complete    []featuresCompleteReq `json:"complete,omitempty"`
	Roots       []map[string]string   `json:"roots,omitempty"`
	WaitMs      int                   `json:"waitMs,omitempty"`
}

type featuresCall struct {
	Name          string         `json:"name"`
	Arguments     map[string]any `json:"arguments"`
	Progress      bool           `json:"progress,omitempty"`
	CancelAfterMs int            `json:"cancelAfterMs,omitempty"`
}

type featuresCompleteReq struct {
	Ref      map[string]string `json:"ref"`
	Argument map[string]string `json:"argument"`
	Context  map[string]any    `json:"context,omitempty"`
}

// runFeaturesClient is runInteropClient for a featuresSpec: it returns the
// richer output and client.mjs's stderr (which, in stdio mode, holds the
// gateway's log too), and leaves judging the stderr to the caller.
func runFeaturesClient(t *testing.T, e *interopEnv, args []string, spec featuresSpec) (*featuresOutput, string) {
	t.Helper()
	stdout, stderr := runClientMJS(t, e, args, spec)
	var out featuresOutput
	require.NoError(t, json.Unmarshal(stdout, &out), "client.mjs stdout is not its JSON object: %q", stdout)
	return &out, stderr
}

// Feature fixtures. The root is one no other test uses, so finding it in a
// result proves it came from this client.
const (
	featuresRootURI   = "file:///tmp/mcp-gateway-features-root"
	featuresSubscribe = "demo://resource/dynamic/text/1"
	featuresTemplate  = "demo://resource/dynamic/text/{resourceId}"
	// progressSteps: each short long-running operation sends exactly this
	// many notifications/progress, all before its result.
	progressSteps = 2
	progressCalls = 10
)

// featuresConfig runs server-everything twice over stdio: "everything" with
// the default shared isolation, and "isolated" with isolation "session", so
// that it is initialized per downstream session with that client's
// capabilities and registers its sampling, elicitation and roots tools.
func featuresConfig(t *testing.T, e *interopEnv) string {
	return writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"everything": map[string]any{"command": e.node, "args": []string{e.everything}},
		"isolated":   map[string]any{"command": e.node, "args": []string{e.everything}, "isolation": "session"},
	}})
}

// Indexes of the calls in featuresSpecFor's spec.
const (
	fcProgress = iota
	fcCancel
	fcAfterCancel
	fcSampling
	fcElicitation
	fcRoots
	fcSharedSampling
	fcLogging
	fcSubscriber
	fcShortProgress // the first of progressCalls
)

func featuresSpecFor() featuresSpec {
	s := featuresSpec{
		SetLogLevel: "debug",
		Subscribe:   []string{featuresSubscribe},
		Roots:       []map[string]string{{"uri": featuresRootURI, "name": "features"}},
		Call: []featuresCall{
			fcProgress:       {Name: "everything__trigger-long-running-operation", Arguments: map[string]any{"duration": 0.6, "steps": 3}, Progress: true},
			fcCancel:         {Name: "everything__trigger-long-running-operation", Arguments: map[string]any{"duration": 20, "steps": 20}, Progress: true, CancelAfterMs: 400},
			fcAfterCancel:    {Name: "everything__echo", Arguments: map[string]any{"message": "after the cancel"}},
			fcSampling:       {Name: "isolated__trigger-sampling-request", Arguments: map[string]any{"prompt": "isolated prompt"}},
			fcElicitation:    {Name: "isolated__trigger-elicitation-request", Arguments: map[string]any{}},
			fcRoots:          {Name: "isolated__get-roots-list", Arguments: map[string]any{}},
			fcSharedSampling: {Name: "everything__trigger-sampling-request", Arguments: map[string]any{"prompt": "shared prompt"}},
			fcLogging:        {Name: "everything__toggle-simulated-logging", Arguments: map[string]any{}},
			fcSubscriber:     {Name: "everything__toggle-subscriber-updates", Arguments: map[string]any{}},
		},
		Prompt: []interopSpecPrompt{{Name: "everything__args-prompt", Arguments: map[string]string{"city": "Paris", "state": "Texas"}}},
		Complete: []featuresCompleteReq{
			{Ref: map[string]string{"type": "ref/prompt", "name": "everything__completable-prompt"},
				Argument: map[string]string{"name": "department", "value": "E"}, Context: map[string]any{"arguments": map[string]any{}}},
			{Ref: map[string]string{"type": "ref/resource", "uri": featuresTemplate},
				Argument: map[string]string{"name": "resourceId", "value": "3"}},
		},
		// Both toggles send their first message at once; this is slack for
		// the relay.
		WaitMs: 500,
	}
	for range progressCalls {
		s.Call = append(s.Call, featuresCall{Name: "everything__trigger-long-running-operation",
			Arguments: map[string]any{"duration": 0.1, "steps": progressSteps}, Progress: true})
	}
	return s
}

// TestInteropFeatures drives every protocol feature server-everything has
// through the gateway with the TypeScript client, over stdio and HTTP.
func TestInteropFeatures(t *testing.T) {
	e := needInterop(t)

	t.Run("stdio", func(t *testing.T) {
		t.Parallel()
		cfg := featuresConfig(t, e)
		out, stderr := runFeaturesClient(t, e,
			[]string{"--stdio", bins.gateway, "serve", "--config", cfg, "--log-format", "json", "--log-level", "debug"}, featuresSpecFor())
		checkFeatures(t, out, stderr)
	})

	t.Run("http", func(t *testing.T) {
		t.Parallel()
		g := startHTTP(t, featuresConfig(t, e))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("gateway stderr:\n%s", g.stderr)
			}
		})
		out, stderr := runFeaturesClient(t, e, []string{"--http", g.url + "/mcp"}, featuresSpecFor())
		checkFeatures(t, out, stderr)
	})
}

// featuresCallText joins the text contents of call i's result, failing if
// the call got a JSON-RPC error or a tool error.
func featuresCallText(t *testing.T, out *featuresOutput, i int) string {
	t.Helper()
	require.Greater(t, len(out.Calls), i, "calls")
	c := out.Calls[i]
	require.Nil(t, c.Error, "tools/call %s: want a result, got a JSON-RPC error", c.Name)
	require.NotNil(t, c.Result, "tools/call %s", c.Name)
	var texts []string
	for _, content := range c.Result.Content {
		if tc, ok := content.(*mcp.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	text := strings.Join(texts, "\n")
	require.False(t, c.Result.IsError, "tools/call %s: isError: %s", c.Name, text)
	return text
}

func checkFeatures(t *testing.T, out *featuresOutput, stderr string) {
	t.Helper()
	require.Empty(t, out.ListErrors, "list errors")
	assert.Equal(t, "2025-11-25", out.ProtocolVersion)
	for _, tool := range []string{"everything__trigger-long-running-operation", "isolated__trigger-sampling-request",
		"isolated__trigger-elicitation-request", "isolated__get-roots-list", "everything__toggle-simulated-logging"} {
		assert.Contains(t, out.Tools, tool, "tools/list")
	}

	t.Run("progress", func(t *testing.T) {
		text := featuresCallText(t, out, fcProgress)
		assert.Contains(t, text, "Long running operation completed")
		require.NotNil(t, out.Calls[fcProgress].ProgressCount)
		assert.GreaterOrEqual(t, *out.Calls[fcProgress].ProgressCount, 1, "notifications/progress with the call's token before its result")
	})

	// server-everything sends every one of its progress notifications
	// before the result; connected directly, client.mjs counts all of them
	// every time. The gateway must not lose one that preceded the result.
	t.Run("progress before the result is never dropped", func(t *testing.T) {
		var counts []int
		for i := fcShortProgress; i < fcShortProgress+progressCalls; i++ {
			featuresCallText(t, out, i)
			require.NotNil(t, out.Calls[i].ProgressCount)
			counts = append(counts, *out.Calls[i].ProgressCount)
		}
		want := slices.Repeat([]int{progressSteps}, progressCalls)
		assert.Equal(t, want, counts, "progress notifications counted before each result (upstream sent %d before each)", progressSteps)
	})

	t.Run("cancel", func(t *testing.T) {
		require.Greater(t, len(out.Calls), fcAfterCancel)
		c := out.Calls[fcCancel]
		assert.True(t, c.Cancelled, "the call was aborted by the client")
		assert.NotNil(t, c.Error, "a cancelled call is recorded with an error")
		assert.Nil(t, c.Result)
		// The upstream connection still works after the cancel.
		assert.Equal(t, "Echo: after the cancel", featuresCallText(t, out, fcAfterCancel))
	})

	// The client must see no protocol error that a direct connection would
	// not show too. In particular the cancelled call gets no response (go-sdk
	// writes one; the gateway's front door drops it), so the client reports
	// no "response for an unknown message ID". One error it reports either
	// way is allowed: a progress notification "for an unknown token": the TS
	// SDK handles a response before a progress notification read just before
	// it. The wire shows the gateway relays progress in the upstream's order,
	// and the client reports the same against server-everything directly.
	t.Run("no protocol errors beyond the SDKs' own", func(t *testing.T) {
		var bad []string
		for _, line := range strings.Split(stderr, "\n") {
			switch {
			case !strings.Contains(line, "client.mjs: transport/protocol error"):
			case strings.Contains(line, "Received a progress notification for an unknown token"):
			default:
				bad = append(bad, line)
			}
		}
		assert.Empty(t, bad, "the client saw protocol errors")
	})

	t.Run("sampling isolated", func(t *testing.T) {
		text := featuresCallText(t, out, fcSampling)
		assert.Contains(t, text, "sampled: ")
		assert.Contains(t, text, "isolated prompt")
		assert.Contains(t, text, "interop-model")
		assert.Contains(t, out.ServerRequests, "sampling/createMessage")
	})

	t.Run("elicitation isolated", func(t *testing.T) {
		text := featuresCallText(t, out, fcElicitation)
		assert.Contains(t, text, "User provided the requested information")
		assert.Contains(t, text, `"action": "accept"`)
		assert.Contains(t, text, "- Name: interop", "the client's answer reached the upstream")
		assert.Contains(t, out.ServerRequests, "elicitation/create")
	})

	t.Run("roots isolated", func(t *testing.T) {
		text := featuresCallText(t, out, fcRoots)
		assert.Contains(t, text, featuresRootURI)
		assert.Contains(t, text, "1 total")
		assert.Contains(t, out.ServerRequests, "roots/list")
	})

	// The same sampling tool on the default shared connection: with one
	// downstream client, the request is attributed to the call in flight.
	t.Run("sampling shared", func(t *testing.T) {
		text := featuresCallText(t, out, fcSharedSampling)
		assert.Contains(t, text, "sampled: ")
		assert.Contains(t, text, "shared prompt")
		n := 0
		for _, m := range out.ServerRequests {
			if m == "sampling/createMessage" {
				n++
			}
		}
		assert.Equal(t, 2, n, "sampling/createMessage requests: one isolated, one shared")
	})

	t.Run("logging", func(t *testing.T) {
		require.NotNil(t, out.SetLogLevel)
		assert.True(t, out.SetLogLevel.OK, "logging/setLevel: %+v", out.SetLogLevel.Error)
		featuresCallText(t, out, fcLogging)
		require.NotEmpty(t, out.LogMessages, "notifications/message")
		simulated := false
		for _, m := range out.LogMessages {
			ok := false
			for _, up := range []string{"everything", "isolated"} {
				ok = ok || m.Logger == up || strings.HasPrefix(m.Logger, up+"/")
			}
			assert.True(t, ok, "logger %q is not prefixed with the upstream's name (%v)", m.Logger, m.Data)
			// "Debug-level message", …, "Alert level-message"
			if d, _ := m.Data.(string); m.Logger == "everything" && strings.Contains(d, "level") && strings.Contains(d, "message") {
				simulated = true
			}
		}
		assert.True(t, simulated, "a simulated log message from everything: %+v", out.LogMessages)
	})

	t.Run("subscribe", func(t *testing.T) {
		require.Len(t, out.Subscriptions, 1)
		assert.True(t, out.Subscriptions[0].OK, "resources/subscribe: %+v", out.Subscriptions[0].Error)
		featuresCallText(t, out, fcSubscriber)
		assert.Contains(t, out.ResourceUpdates, featuresSubscribe, "notifications/resources/updated")
		for _, uri := range out.ResourceUpdates {
			assert.Equal(t, featuresSubscribe, uri, "an update for a resource this client did not subscribe to")
		}
	})

	t.Run("completion", func(t *testing.T) {
		require.Len(t, out.Completions, 2)
		for i, want := range []string{"Engineering", "3"} {
			c := out.Completions[i]
			if assert.Nil(t, c.Error, "completion/complete %v", c.Ref) && assert.NotNil(t, c.Result) {
				assert.Contains(t, c.Result.Completion.Values, want, "completion/complete %v", c.Ref)
			}
		}
	})

	t.Run("prompt arguments", func(t *testing.T) {
		require.Len(t, out.PromptsGot, 1)
		p := out.PromptsGot[0]
		require.Nil(t, p.Error, "prompts/get %s", p.Name)
		require.NotNil(t, p.Result)
		require.Len(t, p.Result.Messages, 1)
		text := interopText(t, []mcp.Content{p.Result.Messages[0].Content})
		assert.Contains(t, text, "Paris")
		assert.Contains(t, text, "Texas")
	})

	if t.Failed() {
		t.Log(featuresSummary(out))
	}
}

// featuresSummary is a compact account of out for failure logs.
func featuresSummary(out *featuresOutput) string {
	var b strings.Builder
	for i, c := range out.Calls {
		fmt.Fprintf(&b, "call %d %s: ", i, c.Name)
		if c.Error != nil {
			code := "null"
			if c.Error.Code != nil {
				code = fmt.Sprint(*c.Error.Code)
			}
			fmt.Fprintf(&b, "error code=%s message=%q cancelled=%v", code, c.Error.Message, c.Cancelled)
		} else {
			res, _ := json.Marshal(c.Result)
			fmt.Fprintf(&b, "%.200s", res)
		}
		if c.ProgressCount != nil {
			fmt.Fprintf(&b, " progress=%d", *c.ProgressCount)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "serverRequests: %v\nnotifications: %v\nresourceUpdates: %v\n", out.ServerRequests, out.Notifications, out.ResourceUpdates)
	logs, _ := json.Marshal(out.LogMessages)
	fmt.Fprintf(&b, "logMessages: %s\n", logs)
	return b.String()
}
