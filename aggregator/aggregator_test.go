package aggregator

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMergedCatalogRoutesByTable(t *testing.T) {
	a1, a2 := newServer("alpha"), newServer("beta")
	a1.AddTool(echoTool("search"))
	a1.AddTool(echoTool("b__c")) // would be mistaken for beta's "c" if names were split
	a2.AddTool(echoTool("search"))
	a2.AddTool(echoTool("c"))
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("alpha", a1), fakeUpstream("beta", a2)}, nil)
	cs := connect(t, agg.Server(), nil)

	assert.Equal(t, []string{"alpha__b__c", "alpha__search", "beta__c", "beta__search"}, toolNames(t, cs))
	for _, tc := range []struct{ name, want string }{
		{"alpha__search", `search:{"q":1}`},
		{"beta__search", `search:{"q":1}`},
		{"alpha__b__c", `b__c:{"q":1}`},
		{"beta__c", `c:{"q":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tc.name, Arguments: map[string]any{"q": 1}})
			require.NoError(t, err)
			assert.Equal(t, tc.want, textOf(t, res))
		})
	}

	// The single-upstream view serves original names.
	srv, ok := agg.UpstreamServer("beta")
	require.True(t, ok)
	single := connect(t, srv, nil)
	assert.Equal(t, []string{"c", "search"}, toolNames(t, single))
	res, err := single.CallTool(context.Background(), &mcp.CallToolParams{Name: "c"})
	require.NoError(t, err)
	assert.Equal(t, "c:{}", textOf(t, res))
}

func TestErrorsPassThrough(t *testing.T) {
	srv := newServer("up")
	srv.AddTool(&mcp.Tool{Name: "rpc", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, &jsonrpc.Error{Code: -32042, Message: "custom failure", Data: []byte(`{"k":"v"}`)}
		})
	srv.AddTool(&mcp.Tool{Name: "iserr", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "tool failed"}}}, nil
		})
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, nil)
	cs := connect(t, agg.Server(), nil)
	ctx := context.Background()

	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__rpc"})
	var rpcErr *jsonrpc.Error
	require.True(t, errors.As(err, &rpcErr), "%v", err)
	assert.Equal(t, int64(-32042), rpcErr.Code)
	assert.Equal(t, "custom failure", rpcErr.Message)
	assert.JSONEq(t, `{"k":"v"}`, string(rpcErr.Data))

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__iserr"})
	require.NoError(t, err)
	assert.True(t, res.IsError)
	assert.Equal(t, "tool failed", textOf(t, res))

	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__nope"})
	require.True(t, errors.As(err, &rpcErr), "%v", err)
	assert.Equal(t, int64(jsonrpc.CodeInvalidParams), rpcErr.Code)
	assert.Contains(t, rpcErr.Message, `"up__nope"`)
}

func TestBadToolDefinitionsAreSkipped(t *testing.T) {
	srv := newServer("up")
	srv.AddTool(echoTool("good"))
	// An upstream may send what the SDK would refuse to serve: add raw tools
	// to its list.
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if lt, ok := res.(*mcp.ListToolsResult); ok {
				lt.Tools = append(lt.Tools,
					&mcp.Tool{Name: "string_schema", InputSchema: map[string]any{"type": "string"}},
					&mcp.Tool{Name: "no_type", InputSchema: map[string]any{"properties": map[string]any{}}},
				)
			}
			return res, err
		}
	})
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, nil)
	cs := connect(t, agg.Server(), nil)
	assert.Equal(t, []string{"up__good"}, toolNames(t, cs))
	problems := agg.merged.cat.Load().problems
	require.Len(t, problems, 2)
	assert.Contains(t, problems[0], `upstream "up": tool "string_schema" skipped`)
}

func TestAllowDeny(t *testing.T) {
	srv := newServer("up")
	for _, n := range []string{"read_a", "read_b", "write_a", "delete"} {
		srv.AddTool(echoTool(n))
	}
	spec := fakeUpstream("up", srv)
	spec.Allow = []string{"read_*", "write_*"}
	spec.Deny = []string{"*_b"}
	agg := startAggregator(t, []UpstreamSpec{spec}, nil)
	cs := connect(t, agg.Server(), nil)
	assert.Equal(t, []string{"up__read_a", "up__write_a"}, toolNames(t, cs))
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "up__delete"})
	assert.ErrorContains(t, err, "unknown tool")
}

func TestPagination(t *testing.T) {
	srv := newServer("up")
	for i := range 2500 {
		srv.AddTool(echoTool(fmt.Sprintf("t%04d", i)))
	}
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, &Options{PageSize: 700})
	cs := connect(t, agg.Server(), nil)
	ctx := context.Background()
	first, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	assert.Len(t, first.Tools, 700)
	assert.NotEmpty(t, first.NextCursor)
	names := toolNames(t, cs)
	require.Len(t, names, 2500)
	assert.Equal(t, "up__t0000", names[0])
	assert.Equal(t, "up__t2499", names[2499])

	_, err = cs.ListTools(ctx, &mcp.ListToolsParams{Cursor: "!!not-a-cursor"})
	var rpcErr *jsonrpc.Error
	require.True(t, errors.As(err, &rpcErr), "%v", err)
	assert.Equal(t, int64(jsonrpc.CodeInvalidParams), rpcErr.Code)
}

func TestResourcesPromptsAndCompletion(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, &mcp.ServerOptions{
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{req.Params.Ref.Name + ":" + req.Params.Argument.Value}}}, nil
		},
	})
	srv.AddResource(&mcp.Resource{URI: "up://static", Name: "static"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "static"}}}, nil
	})
	srv.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "up://item/{id}", Name: "item"}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "item " + req.Params.URI}}}, nil
	})
	srv.AddPrompt(&mcp.Prompt{Name: "greet", Arguments: []*mcp.PromptArgument{{Name: "who", Required: true}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi " + req.Params.Arguments["who"]}}}}, nil
		})
	other := newServer("other")
	other.AddResource(&mcp.Resource{URI: "up://static", Name: "clash"}, nil) // loses: "other" sorts after... no, before "up"
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv), fakeUpstream("zz", other)}, nil)
	cs := connect(t, agg.Server(), nil)
	ctx := context.Background()

	lr, err := cs.ListResources(ctx, nil)
	require.NoError(t, err)
	require.Len(t, lr.Resources, 1)
	assert.Equal(t, "static", lr.Resources[0].Name, "the first upstream by name wins a URI clash")
	assert.Contains(t, agg.merged.cat.Load().problems[0], `resource "up://static" skipped: also served by upstream "up"`)

	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "up://static"})
	require.NoError(t, err)
	assert.Equal(t, "static", rr.Contents[0].Text)
	rr, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "up://item/42"})
	require.NoError(t, err)
	assert.Equal(t, "item up://item/42", rr.Contents[0].Text)
	_, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "nowhere://x"})
	var rpcErr *jsonrpc.Error
	require.True(t, errors.As(err, &rpcErr), "%v", err)
	assert.Equal(t, int64(mcp.CodeResourceNotFound), rpcErr.Code)

	pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "up__greet", Arguments: map[string]string{"who": "ann"}})
	require.NoError(t, err)
	assert.Equal(t, "hi ann", pr.Messages[0].Content.(*mcp.TextContent).Text)

	cr, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "up__greet"}, Argument: mcp.CompleteParamsArgument{Name: "who", Value: "a"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"greet:a"}, cr.Completion.Values, "the prompt name is mapped back to the upstream's")
}

func TestListChangedPropagates(t *testing.T) {
	srv := newServer("up")
	srv.AddTool(echoTool("one"))
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, nil)
	changed := make(chan struct{}, 10)
	cs := connect(t, agg.Server(), &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	assert.Equal(t, []string{"up__one"}, toolNames(t, cs))
	srv.AddTool(echoTool("two"))
	<-changed
	assert.Equal(t, []string{"up__one", "up__two"}, toolNames(t, cs))
}

// TestChangeRebuildsOnlyItsViews: an upstream's list_changed rebuilds the
// merged catalog and its own, and leaves the other upstreams' untouched.
func TestChangeRebuildsOnlyItsViews(t *testing.T) {
	a, b := newServer("a"), newServer("b")
	a.AddTool(echoTool("one"))
	b.AddTool(echoTool("one"))
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("a", a), fakeUpstream("b", b)}, nil)
	changed := make(chan struct{}, 10)
	cs := connect(t, agg.Server(), &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	require.Equal(t, []string{"a__one", "b__one"}, toolNames(t, cs))
	merged, ofA, ofB := agg.merged.cat.Load(), agg.single["a"].cat.Load(), agg.single["b"].cat.Load()
	b.AddTool(echoTool("two"))
	<-changed
	assert.Equal(t, []string{"a__one", "b__one", "b__two"}, toolNames(t, cs))
	assert.NotSame(t, merged, agg.merged.cat.Load(), "the merged catalog was rebuilt")
	assert.NotSame(t, ofB, agg.single["b"].cat.Load(), "b's own catalog was rebuilt")
	assert.Same(t, ofA, agg.single["a"].cat.Load(), "a's own catalog was left alone")
}

func TestRequiredUpstreamFailureStopsRun(t *testing.T) {
	bad := UpstreamSpec{Name: "bad", Prefix: "bad", Required: true, NewTransport: func(context.Context) (mcp.Transport, error) {
		return nil, errors.New("cannot start")
	}}
	a, err := New([]UpstreamSpec{bad}, &Options{Logger: testLogger(t)})
	require.NoError(t, err)
	err = a.Run(context.Background())
	assert.ErrorContains(t, err, `required upstream "bad" failed to start: cannot start`)
}

func TestOptionalUpstreamFailureDelaysNoOne(t *testing.T) {
	good := newServer("good")
	good.AddTool(echoTool("ok"))
	bad := UpstreamSpec{Name: "bad", Prefix: "bad", NewTransport: func(context.Context) (mcp.Transport, error) {
		return nil, errors.New("cannot start")
	}}
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("good", good), bad}, nil)
	cs := connect(t, agg.Server(), nil)
	assert.Equal(t, []string{"good__ok"}, toolNames(t, cs))
	st := agg.Status()
	assert.Equal(t, StateDown, st[0].State)
	assert.Equal(t, "cannot start", st[0].LastError)
	assert.True(t, agg.Ready(), "no required upstream is down")
}

func TestNewRejectsBadSpecs(t *testing.T) {
	tr := func(context.Context) (mcp.Transport, error) { return nil, nil }
	_, err := New([]UpstreamSpec{
		{Name: "a", Prefix: "x", NewTransport: tr},
		{Name: "b", Prefix: "x", NewTransport: tr},
		{Name: "a", Prefix: "y", NewTransport: tr},
		{Name: "c", Prefix: "p__q", NewTransport: tr},
		{Name: "d", Prefix: "d"},
	}, nil)
	require.Error(t, err)
	for _, want := range []string{`upstreams "a" and "b" have the same prefix "x"`, `upstream "a": duplicate name`, `prefix "p__q" contains "__"`, `upstream "d": no transport`} {
		assert.ErrorContains(t, err, want)
	}
}
