package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// askServer is an upstream whose tool "ask" samples the client with its
// argument and returns what the client's model said.
func askServer() *mcp.Server {
	srv := newServer("asker")
	srv.AddTool(&mcp.Tool{Name: "ask", InputSchema: map[string]any{"type": "object"}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
				Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: string(req.Params.Arguments)}}},
				MaxTokens: 10,
			})
			if err != nil {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "sampling failed: " + err.Error()}}}, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil
		})
	return srv
}

// samplingClient answers sampling with its name and the prompt.
func samplingClient(name string) *mcp.ClientOptions {
	return &mcp.ClientOptions{CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: name + ":" + req.Params.Messages[0].Content.(*mcp.TextContent).Text}}, nil
	}}
}

// TestSamplingNeverReachesAnotherSession drives two downstream sessions that
// interleave thousands of sampling-triggering calls: every answer a caller
// gets was produced by its own client. With a shared upstream connection,
// calls that cannot be attributed are refused; with isolation "session"
// every call succeeds.
func TestSamplingNeverReachesAnotherSession(t *testing.T) {
	for _, tc := range []struct {
		isolation  Isolation
		allSucceed bool
	}{{IsolationShared, false}, {IsolationSession, true}} {
		t.Run(string(tc.isolation), func(t *testing.T) {
			spec := fakeUpstream("up", askServer())
			spec.Isolation = tc.isolation
			agg := startAggregator(t, []UpstreamSpec{spec}, nil)
			clients := map[string]*mcp.ClientSession{
				"A": connect(t, agg.Server(), samplingClient("A")),
				"B": connect(t, agg.Server(), samplingClient("B")),
			}
			const perClient, workers = 1000, 8
			var ok, refused atomic.Int64
			var wg sync.WaitGroup
			for name, cs := range clients {
				for w := range workers {
					wg.Go(func() {
						for i := range perClient / workers {
							nonce := fmt.Sprintf(`{"n":"%s-%d-%d"}`, name, w, i)
							res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "up__ask", Arguments: jsonRaw(nonce)})
							if !assert.NoError(t, err) {
								return
							}
							text := res.Content[0].(*mcp.TextContent).Text
							if res.IsError {
								assert.Contains(t, text, "cannot deliver sampling/createMessage")
								refused.Add(1)
								continue
							}
							assert.Equal(t, name+":"+nonce, text, "an answer from another client's model")
							ok.Add(1)
						}
					})
				}
			}
			wg.Wait()
			assert.Equal(t, int64(2*perClient), ok.Load()+refused.Load())
			if tc.allSucceed {
				assert.Zero(t, refused.Load())
			}
			t.Logf("%s: %d delivered, %d refused as ambiguous", tc.isolation, ok.Load(), refused.Load())
		})
	}
}

func jsonRaw(s string) json.RawMessage { return json.RawMessage(s) }

// bridgeServer has tools that make server-to-client requests of each kind.
func bridgeServer() *mcp.Server {
	srv := askServer()
	srv.AddTool(&mcp.Tool{Name: "elicit", InputSchema: map[string]any{"type": "object"}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "name?", RequestedSchema: map[string]any{
				"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}})
			if err != nil {
				return nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: res.Action + ":" + fmt.Sprint(res.Content["name"])}}}, nil
		})
	srv.AddTool(&mcp.Tool{Name: "roots", InputSchema: map[string]any{"type": "object"}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := req.Session.ListRoots(ctx, nil)
			if err != nil {
				return nil, err
			}
			var uris []string
			for _, r := range res.Roots {
				uris = append(uris, r.URI)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(uris, ",")}}}, nil
		})
	srv.AddTool(&mcp.Tool{Name: "log", InputSchema: map[string]any{"type": "object"}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "tool", Data: "hello from upstream"})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "logged"}}}, err
		})
	srv.AddTool(&mcp.Tool{Name: "slow", InputSchema: map[string]any{"type": "object"}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			token := req.Params.GetProgressToken()
			for i := range 3 {
				if token != nil {
					req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(i + 1), Total: 3})
				}
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(len(req.Params.Arguments)) * time.Millisecond):
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
		})
	return srv
}

func TestServerToClientRequests(t *testing.T) {
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", bridgeServer())}, nil)
	opts := samplingClient("me")
	opts.ElicitationHandler = func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ann"}}, nil
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "c"}, opts)
	client.AddRoots(&mcp.Root{URI: "file:///work", Name: "work"})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := agg.Server().Connect(context.Background(), st, nil)
	require.NoError(t, err)
	cs, err := client.Connect(context.Background(), ct, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close(); ss.Wait() })

	assert.Equal(t, `me:{"q":"x"}`, callText(t, cs, "up__ask", `{"q":"x"}`))
	assert.Equal(t, "accept:Ann", callText(t, cs, "up__elicit", `{}`))
	assert.Equal(t, "file:///work", callText(t, cs, "up__roots", `{}`))
}

func TestServerToClientRequiresCapability(t *testing.T) {
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", bridgeServer())}, nil)
	cs := connect(t, agg.Server(), nil) // declares no sampling
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "up__ask", Arguments: map[string]any{}})
	require.NoError(t, err)
	assert.True(t, res.IsError)
	assert.Contains(t, textOf(t, res), "did not declare the capability for sampling/createMessage")
}

func callText(t *testing.T, cs *mcp.ClientSession, name, args string) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: jsonRaw(args)})
	require.NoError(t, err)
	require.False(t, res.IsError, "%s", textOf(t, res))
	return textOf(t, res)
}

// TestProgressIsMappedPerCallAndLateProgressDropped reads the gateway's
// messages in wire order (an SDK client hands notifications and responses to
// different goroutines, so only the wire shows order): each call's progress
// carries the caller's own token and none follows its response, even though
// the upstream sends its last progress right before answering.
func TestProgressIsMappedPerCallAndLateProgressDropped(t *testing.T) {
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", bridgeServer())}, nil)
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := agg.Server().Connect(ctx, st, nil)
	require.NoError(t, err)
	conn, err := ct.Connect(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(); ss.Wait() })
	send := func(raw string) {
		msg, err := jsonrpc.DecodeMessage([]byte(raw))
		require.NoError(t, err)
		require.NoError(t, conn.Write(ctx, msg))
	}
	read := func() jsonrpc.Message {
		msg, err := conn.Read(ctx)
		require.NoError(t, err)
		return msg
	}
	send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	read()
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	progress := 0
	answered := map[string]bool{}
	const calls = 50
	for i := 1; i <= calls; i++ {
		send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"up__slow","arguments":{},"_meta":{"progressToken":"tok-%d"}}}`, i, i))
	}
	for len(answered) < calls {
		switch m := read().(type) {
		case *jsonrpc.Response:
			answered[fmt.Sprint(m.ID.Raw())] = true
		case *jsonrpc.Request:
			require.Equal(t, "notifications/progress", m.Method)
			var p struct {
				ProgressToken any `json:"progressToken"`
			}
			require.NoError(t, json.Unmarshal(m.Params, &p))
			token, _ := p.ProgressToken.(string)
			require.True(t, strings.HasPrefix(token, "tok-"), "the upstream-side token %v reached the client", p.ProgressToken)
			assert.False(t, answered[strings.TrimPrefix(token, "tok-")], "progress for %s after its response", token)
			progress++
		}
	}
	// Nothing may follow the last response: wait for a ping's answer, which
	// is queued after anything the gateway would still send.
	send(`{"jsonrpc":"2.0","id":"ping","method":"ping"}`)
	for {
		m := read()
		if r, ok := m.(*jsonrpc.Response); ok && fmt.Sprint(r.ID.Raw()) == "ping" {
			break
		}
		t.Errorf("message after every call answered: %#v", m)
	}
	assert.Positive(t, progress)
	t.Logf("%d progress notifications for %d calls", progress, calls)
}

func TestCancellationReachesUpstream(t *testing.T) {
	srv := newServer("up")
	cancelled := make(chan struct{})
	started := make(chan struct{})
	srv.AddTool(&mcp.Tool{Name: "block", InputSchema: map[string]any{"type": "object"}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			close(started)
			<-ctx.Done()
			close(cancelled)
			return nil, ctx.Err()
		})
	obs := &callObserver{calls: make(chan ToolCall, 1)}
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, &Options{Observer: obs})
	cs := connect(t, agg.Server(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__block", Arguments: map[string]any{}})
		errc <- err
	}()
	<-started
	cancel() // the client sends notifications/cancelled
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream's handler was not cancelled")
	}
	assert.Error(t, <-errc)
	rec := <-obs.calls
	assert.Equal(t, fault.OutcomeCancelled, rec.Outcome, "a call the client cancelled is audited as cancelled, not as the upstream being down")
	assert.Equal(t, "closed", agg.Status()[0].Breaker)
}

// callObserver hands each audit record to the test.
type callObserver struct {
	NopObserver
	calls chan ToolCall
}

func (o *callObserver) ToolCall(c ToolCall) { o.calls <- c }

func TestCallTimeoutNamesUpstream(t *testing.T) {
	srv := newServer("up")
	srv.AddTool(&mcp.Tool{Name: "block", InputSchema: map[string]any{"type": "object"}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			<-ctx.Done() // cancelled by the gateway's notifications/cancelled
			return nil, ctx.Err()
		})
	spec := fakeUpstream("up", srv)
	spec.CallTimeout = 200 * time.Millisecond
	agg := startAggregator(t, []UpstreamSpec{spec}, nil)
	cs := connect(t, agg.Server(), nil)
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "up__block", Arguments: map[string]any{}})
	var rpcErr *jsonrpc.Error
	require.True(t, errors.As(err, &rpcErr), "%v", err)
	assert.Equal(t, int64(fault.CodeUpstreamTimeout), rpcErr.Code)
	assert.Equal(t, `upstream "up" did not answer tools/call within 200ms`, rpcErr.Message)
}

func TestLoggingRelayed(t *testing.T) {
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", bridgeServer())}, nil)
	msgs := make(chan *mcp.LoggingMessageParams, 10)
	cs := connect(t, agg.Server(), &mcp.ClientOptions{LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
		msgs <- req.Params
	}})
	require.NoError(t, cs.SetLoggingLevel(context.Background(), &mcp.SetLoggingLevelParams{Level: "info"}))
	assert.Equal(t, "logged", callText(t, cs, "up__log", `{}`))
	select {
	case m := <-msgs:
		assert.Equal(t, "up/tool", m.Logger)
		assert.Equal(t, "hello from upstream", m.Data)
	case <-time.After(5 * time.Second):
		t.Fatal("no log message relayed")
	}
}

func TestResourceSubscription(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	srv.AddResource(&mcp.Resource{URI: "up://r", Name: "r"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "r"}}}, nil
	})
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, nil)
	updates := make(chan string, 10)
	cs := connect(t, agg.Server(), &mcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
		updates <- req.Params.URI
	}})
	other := connect(t, agg.Server(), &mcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
		t.Errorf("an unsubscribed session got an update for %s", req.Params.URI)
	}})
	_ = other
	ctx := context.Background()
	require.NoError(t, cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "up://r"}))
	require.NoError(t, srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "up://r"}))
	select {
	case uri := <-updates:
		assert.Equal(t, "up://r", uri)
	case <-time.After(5 * time.Second):
		t.Fatal("no resource update relayed")
	}
	require.NoError(t, cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "up://r"}))
	err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "nowhere://x"})
	assert.Error(t, err)
}

// TestRootsListChangedForwarded: a client that changes its roots makes the
// upstream ask again, and the new roots are the client's.
func TestRootsListChangedForwarded(t *testing.T) {
	changed := make(chan []string, 4)
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, &mcp.ServerOptions{
		RootsListChangedHandler: func(ctx context.Context, req *mcp.RootsListChangedRequest) {
			res, err := req.Session.ListRoots(ctx, nil)
			if err != nil {
				changed <- []string{"error: " + err.Error()}
				return
			}
			var uris []string
			for _, r := range res.Roots {
				uris = append(uris, r.URI)
			}
			changed <- uris
		},
	})
	srv.AddTool(echoTool("e"))
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, nil)
	client := mcp.NewClient(&mcp.Implementation{Name: "c"}, nil)
	st, ct := mcp.NewInMemoryTransports()
	ss, err := agg.Server().Connect(context.Background(), st, nil)
	require.NoError(t, err)
	cs, err := client.Connect(context.Background(), ct, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close(); ss.Wait() })

	client.AddRoots(&mcp.Root{URI: "file:///project", Name: "project"})
	select {
	case uris := <-changed:
		assert.Equal(t, []string{"file:///project"}, uris, "the upstream sees the client's roots, not the gateway's sentinel")
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream was not told the roots changed")
	}
}

// TestRefusalsTellTheTruth has the upstream ask for roots on its shared
// connection with no call in flight, while zero, one and two clients are
// connected: it is answered only when exactly one client can be responsible,
// and otherwise refused with the real reason.
func TestRefusalsTellTheTruth(t *testing.T) {
	srv := newServer("asker")
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, nil)
	upstreamSide := func() *mcp.ServerSession {
		for ss := range srv.Sessions() {
			return ss
		}
		t.Fatal("the gateway is not connected to the upstream")
		return nil
	}
	ask := func() (*mcp.ListRootsResult, error) {
		return upstreamSide().ListRoots(context.Background(), nil)
	}

	_, err := ask()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cannot deliver roots/list from upstream "up": no client is connected`)

	rootsClient := func() *mcp.ClientSession {
		c := mcp.NewClient(&mcp.Implementation{Name: "c"}, nil)
		c.AddRoots(&mcp.Root{URI: "file:///work", Name: "work"})
		st, ct := mcp.NewInMemoryTransports()
		ss, err := agg.Server().Connect(context.Background(), st, nil)
		require.NoError(t, err)
		cs, err := c.Connect(context.Background(), ct, nil)
		require.NoError(t, err)
		t.Cleanup(func() { cs.Close(); ss.Wait() })
		return cs
	}
	rootsClient()
	res, err := ask()
	require.NoError(t, err, "the only client answers")
	require.Len(t, res.Roots, 1)
	assert.Equal(t, "file:///work", res.Roots[0].URI)

	rootsClient()
	_, err = ask()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cannot deliver roots/list from upstream "up": 2 clients are connected and none has a request in flight`)
}

// TestNoClientCapabilities is the CLI's set-up: upstreams are told of no
// client capability, so they do not ask for what no client could answer.
func TestNoClientCapabilities(t *testing.T) {
	declared := func(opts *Options) *mcp.ClientCapabilities {
		srv := newServer("asker")
		startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, opts)
		var sessions []*mcp.ServerSession
		for ss := range srv.Sessions() {
			sessions = append(sessions, ss)
		}
		require.Len(t, sessions, 1)
		return sessions[0].InitializeParams().Capabilities
	}
	caps := declared(&Options{ClientCapabilities: &mcp.ClientCapabilities{}})
	assert.Nil(t, caps.RootsV2, "roots")
	assert.Nil(t, caps.Sampling, "sampling")
	assert.Nil(t, caps.Elicitation, "elicitation")

	caps = declared(nil)
	assert.NotNil(t, caps.RootsV2, "by default the shared session declares roots")
	assert.NotNil(t, caps.Sampling, "sampling")
	assert.NotNil(t, caps.Elicitation, "elicitation")
}
