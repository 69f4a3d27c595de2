package aggregator

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakyServer has tools that fail in the ways a breaker must tell apart.
type flakyServer struct {
	srv   *mcp.Server
	calls atomic.Int64 // calls that reached the upstream
	hang  atomic.Bool  // "work" never answers while set
}

func newFlaky() *flakyServer {
	f := &flakyServer{srv: newServer("flaky")}
	obj := map[string]any{"type": "object"}
	f.srv.AddTool(&mcp.Tool{Name: "work", InputSchema: obj}, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		f.calls.Add(1)
		if f.hang.Load() {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
	})
	f.srv.AddTool(&mcp.Tool{Name: "invalid", InputSchema: obj}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		f.calls.Add(1)
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "bad params"}
	})
	f.srv.AddTool(&mcp.Tool{Name: "iserror", InputSchema: obj}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		f.calls.Add(1)
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no"}}}, nil
	})
	return f
}

func callErr(cs *mcp.ClientSession, name string) (*mcp.CallToolResult, *jsonrpc.Error) {
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
	var rpcErr *jsonrpc.Error
	if err != nil && !errors.As(err, &rpcErr) {
		rpcErr = &jsonrpc.Error{Message: err.Error()}
	}
	return res, rpcErr
}

func TestBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky()
		spec := fakeUpstream("flaky", f.srv)
		spec.CallTimeout = 100 * time.Millisecond
		spec.Breaker = BreakerSettings{Failures: 5, OpenTimeout: 30 * time.Second}
		other := newServer("other")
		other.AddTool(echoTool("ping"))
		agg := startAggregator(t, []UpstreamSpec{spec, fakeUpstream("other", other)}, nil)
		cs := connect(t, agg.Server(), nil)
		status := func() string { return agg.Status()[0].Breaker }

		// Client-caused errors never trip it: invalid params, isError results,
		// and the caller's own cancellations.
		for range 20 {
			_, e := callErr(cs, "flaky__invalid")
			require.NotNil(t, e)
			res, e := callErr(cs, "flaky__iserror")
			require.Nil(t, e)
			require.True(t, res.IsError)
		}
		f.hang.Store(true)
		for i := range 10 {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				cs.CallTool(ctx, &mcp.CallToolParams{Name: "flaky__work", Arguments: map[string]any{}})
				close(done)
			}()
			synctest.Wait() // the call is hanging in the upstream's handler
			require.Equal(t, int64(40+i+1), f.calls.Load(), "the call reached the upstream before it was cancelled")
			cancel()
			<-done
		}
		assert.Equal(t, "closed", status())

		// Five timeouts open it.
		for range 5 {
			_, e := callErr(cs, "flaky__work")
			require.NotNil(t, e)
			assert.Equal(t, int64(fault.CodeUpstreamTimeout), e.Code)
		}
		assert.Equal(t, "open", status())
		f.hang.Store(false)
		before := f.calls.Load()
		start := time.Now()
		_, e := callErr(cs, "flaky__work")
		require.NotNil(t, e)
		assert.Equal(t, int64(fault.CodeUpstreamUnavailable), e.Code)
		assert.Contains(t, e.Message, `upstream "flaky" is failing: circuit breaker open`)
		assert.Zero(t, time.Since(start), "fails fast (fake clock: no time passes)")
		assert.Equal(t, before, f.calls.Load(), "an open breaker sends nothing upstream")
		_, e = callErr(cs, "other__ping")
		assert.Nil(t, e, "other upstreams are unaffected")

		// After the open timeout one probe goes through; its success closes it.
		// The clock is the bubble's: sleeping moves it on at once.
		time.Sleep(spec.Breaker.OpenTimeout - time.Millisecond)
		assert.Equal(t, "open", status(), "still open just before the open timeout")
		time.Sleep(2 * time.Millisecond)
		assert.Equal(t, "half-open", status())
		_, e = callErr(cs, "flaky__work")
		assert.Nil(t, e)
		assert.Equal(t, "closed", status())

		// A failed probe reopens it.
		f.hang.Store(true)
		for range 5 {
			callErr(cs, "flaky__work")
		}
		assert.Equal(t, "open", status())
		time.Sleep(spec.Breaker.OpenTimeout + time.Millisecond)
		assert.Equal(t, "half-open", status())
		callErr(cs, "flaky__work")
		assert.Equal(t, "open", status())
		f.hang.Store(false)
	})
}

// TestConcurrencyCap: calls over max_concurrency wait for a slot, so the
// upstream never runs more than the cap at once.
func TestConcurrencyCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer("up")
		var inflight, peak atomic.Int64
		srv.AddTool(&mcp.Tool{Name: "slow", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
		})
		spec := fakeUpstream("up", srv)
		spec.MaxConcurrency = 2
		agg := startAggregator(t, []UpstreamSpec{spec}, nil)
		cs := connect(t, agg.Server(), nil)
		start := time.Now()
		errs := make(chan *jsonrpc.Error, 6)
		for range 6 {
			go func() { _, e := callErr(cs, "up__slow"); errs <- e }()
		}
		for range 6 {
			assert.Nil(t, <-errs)
		}
		assert.Equal(t, int64(2), peak.Load(), "never more than the cap in flight")
		assert.Equal(t, 3*time.Second, time.Since(start), "six 1s calls, two at a time")
	})
}

// TestConcurrencyWaitTimesOut: a call that finds no free slot within its
// timeout fails with an error naming the upstream and its limit.
func TestConcurrencyWaitTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newGuard(UpstreamSpec{Name: "up", MaxConcurrency: 1}, testLogger(t), nil)
		release, err := u.acquire(context.Background())
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err = u.acquire(ctx)
		var busy *fault.Error
		require.ErrorAs(t, err, &busy)
		assert.Equal(t, fault.KindBusy, busy.Kind)
		assert.Equal(t, `upstream "up" is at its limit of 1 concurrent calls`, busy.Error())
		assert.Equal(t, time.Second, time.Since(start))
		release()
		release2, err := u.acquire(context.Background())
		require.NoError(t, err, "the slot is free again")
		release2()
	})
}

// TestRetriesOnlyIdempotent: the first call of each tool kills the upstream
// connection. The idempotent tool is retried on the new connection; the
// other is not, and its handler ran exactly once.
func TestRetriesOnlyIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer("up")
		var live atomic.Pointer[killable]
		counts := map[string]*atomic.Int64{"idem": {}, "once": {}}
		for name, n := range counts {
			srv.AddTool(&mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}, Annotations: &mcp.ToolAnnotations{IdempotentHint: name == "idem"}},
				func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
					if n.Add(1) == 1 {
						live.Load().Close() // the connection dies mid-call
						<-ctx.Done()
						return nil, ctx.Err()
					}
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
				})
		}
		spec := fakeUpstream("up", srv)
		inner := spec.NewTransport
		spec.NewTransport = func(ctx context.Context) (mcp.Transport, error) {
			t, err := inner(ctx)
			return &killableTransport{Transport: t, live: &live}, err
		}
		agg := startAggregator(t, []UpstreamSpec{spec}, nil)
		cs := connect(t, agg.Server(), nil)
		_, e := callErr(cs, "up__idem")
		assert.Nil(t, e, "retried after reconnecting")
		assert.Equal(t, int64(2), counts["idem"].Load())

		// The retry was answered on the new connection: it is up, and the
		// next call reaches the upstream without waiting for a reconnect.
		synctest.Wait()
		st := agg.Status()[0]
		require.Equal(t, StateUp, st.State)
		require.Equal(t, 1, st.Restarts)
		_, e = callErr(cs, "up__once")
		require.NotNil(t, e)
		assert.Equal(t, int64(fault.CodeUpstreamUnavailable), e.Code)
		assert.Equal(t, int64(1), counts["once"].Load(), "a non-idempotent call is never repeated")
	})
}

func TestPolicy(t *testing.T) {
	a, b := newServer("a"), newServer("b")
	a.AddTool(&mcp.Tool{Name: "read", InputSchema: map[string]any{"type": "object"}, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, echoHandler("read"))
	a.AddTool(echoTool("write"))
	a.AddTool(echoTool("secret"))
	b.AddTool(echoTool("other"))
	b.AddPrompt(&mcp.Prompt{Name: "p"}, nil)
	principal := &policy.Identity{Name: "reader", Upstreams: []string{"a"}, Tools: []string{"a__read", "a__write"}, Scopes: []string{policy.ScopeRead}, Limit: policy.Limit{RPM: policy.Unlimited}}
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("a", a), fakeUpstream("b", b)}, &Options{Local: principal})
	cs := connect(t, agg.Server(), nil)
	assert.Equal(t, []string{"a__read"}, toolNames(t, cs), "read scope: only readOnlyHint tools of allowed upstreams and globs")
	_, e := callErr(cs, "a__read")
	assert.Nil(t, e)
	for _, name := range []string{"a__write", "a__secret", "b__other"} {
		_, e := callErr(cs, name)
		require.NotNil(t, e, name)
		assert.Equal(t, int64(fault.CodeForbidden), e.Code)
		assert.Equal(t, fmt.Sprintf(`tool %q is not allowed for identity "reader"`, name), e.Message)
	}
	lp, err := cs.ListPrompts(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, lp.Prompts, "prompts of upstream b are hidden")
	assert.Equal(t, "private", lp.CacheScope)
	_, err = cs.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "b__p"})
	assert.ErrorContains(t, err, `prompts/get on upstream "b" is not allowed for identity "reader"`)
}

// killableTransport records its latest connection so a test can drop it.
type killableTransport struct {
	mcp.Transport
	live *atomic.Pointer[killable]
}

type killable struct{ mcp.Connection }

func (k *killableTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := k.Transport.Connect(ctx)
	if err == nil {
		k.live.Store(&killable{c})
	}
	return c, err
}

func echoHandler(name string) mcp.ToolHandler {
	_, h := echoTool(name)
	return h
}

// TestNotificationFloods: a list_changed storm re-lists the upstream at most
// once a second, and a progress flood reaches the client thinned to the
// per-token rate.
func TestNotificationFloods(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer("up")
		var lists atomic.Int64
		srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
			return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				if method == "tools/list" {
					lists.Add(1)
				}
				return next(ctx, method, req)
			}
		})
		srv.AddTool(&mcp.Tool{Name: "flood", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			for i := range 1000 {
				req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i)})
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
		})
		agg := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, nil)
		var progress atomic.Int64
		cs := connect(t, agg.Server(), &mcp.ClientOptions{ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) {
			progress.Add(1)
		}})

		before := lists.Load()
		// The sleeps move the bubble's clock: they set the storm's pace.
		for i := range 300 { // a tool added every 10ms for 3s, each sending list_changed
			srv.AddTool(echoTool(fmt.Sprintf("t%03d", i)))
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // quiet, so the last debounced re-list runs
		relists := lists.Load() - before
		assert.LessOrEqual(t, relists, int64(5), "3s of list_changed re-list about once a second")
		assert.Positive(t, relists)
		assert.Len(t, toolNames(t, cs), 301, "the last list is complete")

		params := &mcp.CallToolParams{Name: "up__flood", Arguments: map[string]any{}}
		params.SetProgressToken("p")
		_, err := cs.CallTool(context.Background(), params)
		require.NoError(t, err)
		synctest.Wait()
		assert.LessOrEqual(t, progress.Load(), int64(progressBurst+1), "1000 progress notifications at once are thinned to the burst")
		assert.Positive(t, progress.Load())
	})
}
