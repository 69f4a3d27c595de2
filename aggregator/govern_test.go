package aggregator

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// renamer renames tool "a" to "b" and withholds "c" while on is set.
type renamer struct{ on atomic.Bool }

func (r *renamer) Govern(_ string, l Listing) Listing {
	if !r.on.Load() {
		return l
	}
	out := Listing{Prompts: l.Prompts, Resources: l.Resources, Templates: l.Templates,
		ToolOrigins: map[string]string{}, WithheldTools: map[string]string{}}
	for _, t := range l.Tools {
		switch t.Name {
		case "a":
			c := *t
			c.Name = "b"
			out.Tools = append(out.Tools, &c)
			out.ToolOrigins["b"] = "a"
		case "c":
			out.WithheldTools["c"] = "tool c is quarantined: approve it"
		default:
			out.Tools = append(out.Tools, t)
		}
	}
	return out
}

func TestGovernorRenamesWithholdsAndRegoverns(t *testing.T) {
	srv := newServer("up")
	for _, n := range []string{"a", "c", "d"} {
		srv.AddTool(echoTool(n))
	}
	g := &renamer{}
	g.on.Store(true)
	a := startAggregator(t, []UpstreamSpec{fakeUpstream("up", srv)}, &Options{Governor: g})
	ctx := context.Background()
	changed := make(chan struct{}, 10)
	cs := connect(t, a.Server(), &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
		changed <- struct{}{}
	}})

	assert.Equal(t, []string{"up__b", "up__d"}, toolNames(t, cs))
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__b"})
	require.NoError(t, err)
	assert.Equal(t, "a:{}", textOf(t, res), "a renamed tool is routed to the upstream's own name")

	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__c"})
	require.ErrorContains(t, err, "tool c is quarantined: approve it")
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__a"})
	require.ErrorContains(t, err, "unknown tool", "the original name is not exposed")

	own := connect(t, mustServer(t, a, "up"), nil)
	assert.Equal(t, []string{"b", "d"}, toolNames(t, own), "the upstream's own view is governed too")

	g.on.Store(false)
	a.Regovern()
	<-changed
	assert.Equal(t, []string{"up__a", "up__c", "up__d"}, toolNames(t, cs))
}

func mustServer(t *testing.T, a *Aggregator, name string) *mcp.Server {
	t.Helper()
	s, ok := a.UpstreamServer(name)
	require.True(t, ok)
	return s
}
