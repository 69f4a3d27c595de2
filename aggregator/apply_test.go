package aggregator

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testWait = 10 * time.Second
	tick     = 5 * time.Millisecond
)

// notes counts a session's list_changed notifications, each marked with
// whether it came after the barrier was raised.
type notes struct {
	barrier atomic.Bool
	ch      chan bool
}

func newNotes() *notes { return &notes{ch: make(chan bool, 20)} }

func (n *notes) opts() *mcp.ClientOptions {
	return &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { n.ch <- n.barrier.Load() }}
}

type budgetFor map[string]int

func (b budgetFor) Budget(c *mcp.Implementation, _ string) (int, []string) {
	return b[c.Name], []string{"a__one"}
}
func (budgetFor) Search(tools []*mcp.Tool, _ string, limit int) []*mcp.Tool {
	return tools[:min(limit, len(tools))]
}

// TestAddReplaceRemove: upstreams are added, restarted and removed while
// the aggregator runs; the others keep their connection; a call in flight
// to a restarted upstream finishes before the old connection closes; only
// sessions whose list changed are told.
func TestAddReplaceRemove(t *testing.T) {
	a, b, c := newServer("a"), newServer("b"), newServer("c")
	a.AddTool(echoTool("one"))
	a.AddTool(echoTool("x"))
	a.AddTool(echoTool("y"))
	entered, release := make(chan struct{}, 1), make(chan struct{})
	a.AddTool(&mcp.Tool{Name: "slow", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		entered <- struct{}{}
		<-release
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
	})
	b.AddTool(echoTool("two"))
	c.AddTool(echoTool("three"))
	agg := startAggregator(t, []UpstreamSpec{fakeUpstream("a", a), fakeUpstream("b", b)}, &Options{Budgets: budgetFor{"small": 4}})
	bShared := agg.byName["b"].shared

	all, small, onlyB := newNotes(), newNotes(), newNotes()
	cs := connect(t, agg.Server(), all.opts())
	smallOpts := small.opts()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := agg.Server().Connect(context.Background(), st, nil)
	require.NoError(t, err)
	smallCS, err := mcp.NewClient(&mcp.Implementation{Name: "small", Version: "test"}, smallOpts).Connect(context.Background(), ct, nil)
	require.NoError(t, err)
	t.Cleanup(func() { smallCS.Close(); ss.Wait() })
	bOwn, ok := agg.UpstreamServer("b")
	require.True(t, ok)
	csB := connect(t, bOwn, onlyB.opts())

	require.Equal(t, []string{"a__one", "a__slow", "a__x", "a__y", "b__two"}, toolNames(t, cs))
	smallList := toolNames(t, smallCS)
	require.Contains(t, smallList, "a__one")
	require.Len(t, smallList, 4, "one tool and the three meta-tools")
	require.Equal(t, []string{"two"}, toolNames(t, csB))

	// Add: the merged view's full list changes; the budgeted session's list
	// (its pinned tool and the meta-tools) does not, nor does b's own view.
	require.NoError(t, agg.Add(fakeUpstream("c", c)))
	require.False(t, <-all.ch)
	require.Eventually(t, func() bool { return len(agg.merged.cat.Load().tools) == 6 }, testWait, tick)
	assert.Equal(t, []string{"a__one", "a__slow", "a__x", "a__y", "b__two", "c__three"}, toolNames(t, cs))
	assert.Equal(t, "three:{}", textOf(t, mustCall(t, cs, "c__three")))
	_, ok = agg.UpstreamServer("c")
	assert.True(t, ok, "the added upstream has its own endpoint")

	// Replace a with the same server while a call to it is in flight: the
	// call finishes on the old connection, which then closes; no list
	// changed, so nobody is told.
	oldA := agg.byName["a"]
	slow := make(chan error, 1)
	go func() {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "a__slow"})
		if err == nil && textOf(t, res) != "done" {
			err = assert.AnError
		}
		slow <- err
	}()
	<-entered
	replaced := make(chan error, 1)
	go func() { replaced <- agg.Replace(context.Background(), fakeUpstream("a", a)) }()
	require.Eventually(t, func() bool { oldA.calls.mu.Lock(); defer oldA.calls.mu.Unlock(); return oldA.calls.closed }, testWait, tick)
	// Calls made now go to the new a.
	assert.Equal(t, "one:{}", textOf(t, mustCall(t, cs, "a__one")))
	select {
	case <-oldA.done:
		t.Fatal("the old upstream stopped with a call in flight")
	default:
	}
	close(release)
	require.NoError(t, <-slow)
	require.NoError(t, <-replaced)
	<-oldA.done
	assert.NotSame(t, oldA, agg.byName["a"])
	assert.Same(t, bShared, agg.byName["b"].shared, "b kept its connection")
	// The barrier: changes these sessions must see. The first notification
	// each gets must come after it.
	for _, n := range []*notes{all, small, onlyB} {
		n.barrier.Store(true)
	}
	b.AddTool(echoTool("two2"))
	assert.True(t, <-all.ch, "replacing a with the same tools notified the merged session")
	assert.True(t, <-onlyB.ch, "adding c or replacing a notified a session of b's own view")
	require.NoError(t, agg.Remove(context.Background(), "a"))
	assert.True(t, <-small.ch, "a change outside its budget notified the budgeted session")

	// Remove a: its tools leave the merged view, a call to it fails as
	// unknown, its endpoint is gone.
	assert.NotContains(t, toolNames(t, cs), "a__one")
	_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "a__one"})
	assert.ErrorContains(t, err, "unknown tool")
	_, ok = agg.UpstreamServer("a")
	assert.False(t, ok)
	assert.Same(t, bShared, agg.byName["b"].shared, "b kept its connection")
	_, _, err = oldA.enter()
	assert.Equal(t, fault.KindUnavailable, fault.Classify(err).Kind, "a request that reaches the removed upstream late: %v", err)
}

func mustCall(t *testing.T, cs *mcp.ClientSession, name string) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name})
	require.NoError(t, err)
	return res
}
