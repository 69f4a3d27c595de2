package aggregator

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/mcp-gateway/mcp-gateway/govern"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
)

// fixedBudget gives clients named "budgeted" a budget of 40 tools.
type fixedBudget struct{}

func (fixedBudget) Budget(c *mcp.Implementation, _ string) (int, []string) {
	if c != nil && c.Name == "budgeted" {
		return 40, nil
	}
	return 0, nil
}

func (fixedBudget) Search(tools []*mcp.Tool, q string, limit int) []*mcp.Tool {
	return govern.SearchTools(tools, q, limit)
}

func thousandTools(b *testing.B) *Aggregator {
	srv := newServer("big")
	for i := range 1000 {
		srv.AddTool(&mcp.Tool{Name: fmt.Sprintf("tool_%04d", i),
			Description: fmt.Sprintf("Tool %d: reads, lists and updates records of kind %d in the service's store.", i, i%37),
			InputSchema: map[string]any{"type": "object", "properties": map[string]any{
				"id": map[string]any{"type": "string", "description": "record id"}, "kind": map[string]any{"type": "integer"}}}}, nil)
	}
	a, err := New([]UpstreamSpec{fakeUpstream("big", srv)}, &Options{Budgets: fixedBudget{}, PageSize: 2000})
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	<-a.Started()
	return a
}

func benchClient(b *testing.B, a *Aggregator, name string) *mcp.ClientSession {
	st, ct := mcp.NewInMemoryTransports()
	ss, err := a.Server().Connect(context.Background(), st, nil)
	require.NoError(b, err)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: name, Version: "bench"}, nil).Connect(context.Background(), ct, nil)
	require.NoError(b, err)
	b.Cleanup(func() { cs.Close(); ss.Wait() })
	return cs
}

// BenchmarkBudgetFirstList reports the estimated tokens (one per four
// bytes of JSON, govern.EstimateTokens) of a client's first tools/list on a
// catalog of 1,000 tools, with a budget of 40 and without.
func BenchmarkBudgetFirstList(b *testing.B) {
	a := thousandTools(b)
	for _, c := range []struct{ name, client string }{{"none", "unbudgeted"}, {"budget40", "budgeted"}} {
		b.Run(c.name, func(b *testing.B) {
			cs := benchClient(b, a, c.client)
			var size int
			for b.Loop() {
				res, err := cs.ListTools(context.Background(), nil)
				require.NoError(b, err)
				j, _ := json.Marshal(res)
				size = len(j)
			}
			b.ReportMetric(float64(govern.EstimateTokens(size)), "tokens/list")
		})
	}
}

// BenchmarkBudgetSearch is one gateway_search_tools call over 1,000 tools.
func BenchmarkBudgetSearch(b *testing.B) {
	a := thousandTools(b)
	cs := benchClient(b, a, "budgeted")
	for b.Loop() {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: MetaSearch, Arguments: map[string]any{"query": "update records kind 12"}})
		require.NoError(b, err)
	}
}
